"""The fused head across two processes started with ``jax.distributed.initialize``.

Runs ``examples/multihost_head.py --launch`` (the command the README gives):
two local processes, each with 2 host CPU devices, joined over 127.0.0.1 with
gloo CPU collectives into one 4-device mesh ``("data", "model")``; each
computes ``sharded_fused_linear_cross_entropy`` (``reduction="mean"``, some
tokens ``ignore_index``) and its gradients under ``jit``, with the tokens
split across the processes and then with the vocabulary split across them,
and prints the loss and gradient checksums. This test regenerates the same
inputs from the same seed and computes them here, in one process on one
device, with ``fused_linear_cross_entropy`` and with materialised logits:
every process's numbers must equal those.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "multihost_head.py"
NUM_PROCESSES, LOCAL_DEVICES, SEED = 2, 2, 3
TIMEOUT = 240  # seconds, for the processes to meet and finish


def _example():
    spec = importlib.util.spec_from_file_location("examples_multihost_head", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports numpy only; jax is set up inside the worker
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_process(example):
    """Loss and gradient checksums in this process, on one device: fused, and materialised."""
    import jaxloss

    x = {k: jnp.asarray(v) for k, v in example.make_inputs(SEED, NUM_PROCESSES * LOCAL_DEVICES).items()}

    def fused(h, w, b):
        return jaxloss.fused_linear_cross_entropy(
            h, w, x["labels"], bias=b, ignore_index=example.IGNORE, reduction="mean", chunk_size=8
        )

    def materialised(h, w, b):
        keep = x["labels"] != example.IGNORE
        log_p = jax.nn.log_softmax(h @ w + b[None, :], axis=-1)
        picked = jnp.take_along_axis(log_p, jnp.where(keep, x["labels"], 0)[:, None], axis=-1)[:, 0]
        return -jnp.sum(jnp.where(keep, picked, 0.0)) / jnp.sum(keep.astype(jnp.float32))

    out = {}
    for name, fn in (("fused", fused), ("materialised", materialised)):
        loss, grads = jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2)))(x["hidden"], x["weight"], x["bias"])
        out[name] = (float(loss), example.checksums(dict(zip(("hidden", "weight", "bias"), grads, strict=True))))
    return out


def test_two_processes_equal_one():
    example = _example()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--launch",
        "--num-processes",
        str(NUM_PROCESSES),
        "--local-devices",
        str(LOCAL_DEVICES),
        "--port",
        str(_free_port()),
        "--seed",
        str(SEED),
        "--timeout",
        str(TIMEOUT),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT + 60)
    report = f"{' '.join(cmd)}\nstdout:\n{proc.stdout[-8000:]}\nstderr:\n{proc.stderr[-8000:]}"
    assert proc.returncode == 0, report
    results = [json.loads(line[len("RESULT ") :]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert sorted(r["process_id"] for r in results) == list(range(NUM_PROCESSES)), report
    assert "OK: 2 processes agree" in proc.stdout, report

    here = _one_process(example)
    want_loss, want_sums = here["materialised"]
    # The single-device fused head agrees with the materialised one (so a shared error cannot hide).
    np.testing.assert_allclose(here["fused"][0], want_loss, rtol=1e-5)
    for k in want_sums:
        np.testing.assert_allclose(here["fused"][1][k], want_sums[k], rtol=1e-5, atol=1e-6)
    for r in results:
        assert set(r["layouts"]) == {"tokens_across_processes", "vocabulary_across_processes"}, r
        for layout, got in r["layouts"].items():
            what = f"process {r['process_id']} {layout}"
            np.testing.assert_allclose(got["loss"], want_loss, rtol=1e-5, err_msg=what)
            assert set(got["checksums"]) == set(want_sums), what
            for k, s in got["checksums"].items():
                np.testing.assert_allclose(s, want_sums[k], rtol=1e-5, atol=1e-6, err_msg=f"{what} d{k}")
