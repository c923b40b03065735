"""The fused LM head across processes: ``jax.distributed`` on CPU, two processes, one global mesh.

Every process runs this same program (JAX's multi-controller model). Each one
starts with ``--local-devices`` host CPU devices (2 by default, made by
``XLA_FLAGS=--xla_force_host_platform_device_count``), joins the others
through ``jax.distributed.initialize`` (process 0 runs the coordinator at
``--host:--port``) with CPU collectives over gloo, and sees the global set of
devices (4 for two processes). On that global mesh, with axes
``("data", "model")``, it builds global arrays with
``jax.make_array_from_callback`` (each process fills only the shards its own
devices hold) and computes, under ``jax.jit``,

    jaxloss.sharded_fused_linear_cross_entropy(hidden, weight, labels, bias=bias, mesh=mesh,
        vocab_axis="model", token_axis="data", ignore_index=-100, reduction="mean")

and its gradients with respect to ``hidden``, ``weight`` and ``bias``, for two
placements of the mesh: the tokens split across the processes (the usual
data parallelism, the vocabulary split over each process's own devices), and
the vocabulary split across the processes (its all-reduces of the row
maximum, the sum of exponentials and the target logit then cross processes).

Each process prints the loss, checksums of the gradients (gathered with
``jax.experimental.multihost_utils.process_allgather``), and their largest
difference from the same computation done by one process alone (float64
NumPy, materialised logits, from the same seed); it exits with status 1 if a
difference exceeds 1e-5 relative. The last line of each process is
``RESULT {...}`` (JSON) for scripts.

Run in two shells (on two hosts, give both the address of process 0's host
with ``--host``):

    python examples/multihost_head.py --process-id 0 --num-processes 2 --port 12355
    python examples/multihost_head.py --process-id 1 --num-processes 2 --port 12355

or let one command start both processes on this machine and check that they
agree:

    python examples/multihost_head.py --launch [--port 12355]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

IGNORE = -100
TOLERANCE = 1e-5  # relative to max(1, |reference|)
DIM = 16


def shapes(num_devices: int) -> tuple[int, int, int]:
    """(tokens, hidden size, vocabulary): both divisible by the number of devices on either mesh axis."""
    return 12 * num_devices, DIM, 32 * num_devices


def make_inputs(seed: int, num_devices: int) -> dict[str, np.ndarray]:
    """The global batch and head, the same in every process (NumPy only, from ``seed``)."""
    n, d, v = shapes(num_devices)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, v, size=n).astype(np.int32)
    labels[rng.choice(n, size=max(1, n // 8), replace=False)] = IGNORE
    return {
        "hidden": rng.standard_normal((n, d)).astype(np.float32),
        "weight": (rng.standard_normal((d, v)) / 2.0).astype(np.float32),
        "bias": (0.5 * rng.standard_normal(v)).astype(np.float32),
        "labels": labels,
    }


def reference(inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """Loss (mean over the tokens not ignored) and gradients, materialised, in float64."""
    h, w, b = (inputs[k].astype(np.float64) for k in ("hidden", "weight", "bias"))
    y = inputs["labels"]
    keep = y != IGNORE
    z = h @ w + b
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    rows = np.arange(len(y))
    count = keep.sum()
    loss = -np.sum(np.where(keep, log_p[rows, np.where(keep, y, 0)], 0.0)) / count
    dz = np.exp(log_p)
    dz[rows[keep], y[keep]] -= 1.0
    dz = np.where(keep[:, None], dz, 0.0) / count
    return float(loss), {"hidden": dz @ w.T, "weight": h.T @ dz, "bias": dz.sum(axis=0)}


def checksums(grads: dict[str, np.ndarray]) -> dict[str, float]:
    """One number per gradient: its sum against a fixed probe (a plain sum of ``bias``'s is 0)."""
    return {
        k: float(np.sum(np.asarray(g, np.float64) * np.cos(np.arange(g.size)).reshape(g.shape)))
        for k, g in grads.items()
    }


def rel_diff(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


# --------------------------------------------------------------------------
# one process
# --------------------------------------------------------------------------


def worker(args) -> int:
    # The device count is fixed when jax starts: set it first, replacing any other.
    flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.local_devices}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import jax
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxloss

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"{args.host}:{args.port}",
        num_processes=args.num_processes,
        process_id=args.process_id,
        initialization_timeout=args.timeout,
    )
    me = f"process {jax.process_index()} of {jax.process_count()}:"
    # Devices in process order: row p of this grid is process p's devices.
    grid = np.array(sorted(jax.devices(), key=lambda dev: (dev.process_index, dev.id)))
    grid = grid.reshape(jax.process_count(), -1)
    print(f"{me} {grid.size} devices ({len(jax.local_devices())} local), backend {jax.default_backend()}", flush=True)

    inputs = make_inputs(args.seed, grid.size)
    want_loss, want_grads = reference(inputs)
    ok, result = True, {"process_id": jax.process_index(), "layouts": {}}
    layouts = {"tokens_across_processes": grid, "vocabulary_across_processes": grid.T}
    for name, devices in layouts.items():
        mesh = Mesh(devices, ("data", "model"))
        specs = {"hidden": P("data", None), "weight": P(None, "model"), "bias": P("model"), "labels": P("data")}
        # Each process builds only the shards of its own devices from its copy of the batch.
        arrays = {
            k: jax.make_array_from_callback(x.shape, NamedSharding(mesh, specs[k]), lambda i, x=x: x[i])
            for k, x in inputs.items()
        }

        def loss_fn(hidden, weight, bias, labels, mesh=mesh):
            return jaxloss.sharded_fused_linear_cross_entropy(
                hidden,
                weight,
                labels,
                bias=bias,
                mesh=mesh,
                vocab_axis="model",
                token_axis="data",
                ignore_index=IGNORE,
                reduction="mean",
                chunk_size=8,
            )

        step = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2)))
        loss, grads = step(arrays["hidden"], arrays["weight"], arrays["bias"], arrays["labels"])
        loss = float(loss.addressable_data(0))  # replicated: every device holds the value
        grads = dict(
            zip(("hidden", "weight", "bias"), multihost_utils.process_allgather(grads, tiled=True), strict=True)
        )
        loss_diff = abs(loss - want_loss) / max(1.0, abs(want_loss))
        grad_diff = max(rel_diff(grads[k], want_grads[k]) for k in grads)
        sums = checksums(grads)
        good = loss_diff <= TOLERANCE and grad_diff <= TOLERANCE
        ok &= good
        shape = " x ".join(f"{a}={s}" for a, s in mesh.shape.items())
        print(
            f"{me} [{name}, mesh {shape}] loss {loss:.9f} (one process: {want_loss:.9f}, "
            f"relative difference {loss_diff:.1e})",
            flush=True,
        )
        print(
            f"{me} [{name}] gradient checksums "
            + ", ".join(f"{k} {s:.9f}" for k, s in sums.items())
            + f"; largest relative difference from one process {grad_diff:.1e}: {'ok' if good else 'MISMATCH'}",
            flush=True,
        )
        result["layouts"][name] = {"loss": loss, "checksums": sums, "loss_diff": loss_diff, "grad_diff": grad_diff}
    result["ok"] = bool(ok)
    print(
        f"{me} {'OK' if ok else 'FAILED'}: values and gradients {'equal' if ok else 'differ from'} "
        f"one process's (tolerance {TOLERANCE:g})",
        flush=True,
    )
    print("RESULT " + json.dumps(result), flush=True)
    jax.distributed.shutdown()
    return 0 if ok else 1


# --------------------------------------------------------------------------
# --launch: start every process here, wait, compare
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args) -> int:
    port = args.port or free_port()
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    procs, logs = [], []
    with tempfile.TemporaryDirectory(prefix="multihost_head-") as tmp:
        for i in range(args.num_processes):
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--process-id",
                str(i),
                "--num-processes",
                str(args.num_processes),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--local-devices",
                str(args.local_devices),
                "--seed",
                str(args.seed),
                "--timeout",
                str(args.timeout),
            ]
            # Files, not pipes: a process blocked on a full pipe would stall the others in a collective.
            out, err = open(os.path.join(tmp, f"{i}.out"), "w+"), open(os.path.join(tmp, f"{i}.err"), "w+")
            logs.append((out, err))
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=err, env=env))
        print(f"launched {args.num_processes} processes, coordinator 127.0.0.1:{port}", flush=True)
        deadline = time.monotonic() + args.timeout
        codes = []
        for p in procs:
            try:
                codes.append(p.wait(timeout=max(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        results = []
        for i, ((out, err), code) in enumerate(zip(logs, codes, strict=True)):
            out.seek(0)
            err.seek(0)
            text, errors = out.read(), err.read()
            out.close()
            err.close()
            sys.stdout.write(text)
            status = "timed out" if code is None else f"exit status {code}"
            if code != 0:
                print(f"process {i}: {status}; its stderr (last 4000 characters):\n{errors[-4000:]}", flush=True)
            found = [line[len("RESULT ") :] for line in text.splitlines() if line.startswith("RESULT ")]
            results.append(json.loads(found[-1]) if found else None)
    if any(c != 0 for c in codes) or any(r is None for r in results):
        print("FAILED: a process failed (see above)", flush=True)
        return 1
    # Every process computed the same global numbers: they must agree with each other too.
    first = results[0]["layouts"]
    spread = max(
        abs(r["layouts"][name][key] - first[name][key]) / max(1.0, abs(first[name][key]))
        for r in results
        for name in first
        for key in ("loss",)
    )
    spread = max(
        [spread]
        + [
            abs(r["layouts"][name]["checksums"][k] - first[name]["checksums"][k])
            / max(1.0, abs(first[name]["checksums"][k]))
            for r in results
            for name in first
            for k in first[name]["checksums"]
        ]
    )
    if spread > TOLERANCE:
        print(f"FAILED: the processes disagree (relative spread {spread:.1e})", flush=True)
        return 1
    print(f"OK: {len(procs)} processes agree (relative spread {spread:.1e}) and equal one process's values", flush=True)
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--process-id", type=int, default=0, help="this process's index, 0 .. num_processes-1")
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--host", default="127.0.0.1", help="address of process 0 (the coordinator)")
    p.add_argument(
        "--port", type=int, default=None, help="coordinator port (12355 by default; --launch picks a free one)"
    )
    p.add_argument("--local-devices", type=int, default=2, help="host CPU devices per process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=int, default=240, help="seconds to wait for the other processes")
    p.add_argument("--launch", action="store_true", help="start all --num-processes processes here and compare them")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.launch:
        return launch(args)
    if args.port is None:
        args.port = 12355
    return worker(args)


if __name__ == "__main__":
    sys.exit(main())
