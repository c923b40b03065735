"""Fused linear cross-entropy against the materialised-logits baseline, a peer and the matmul floor.

Each program returns the mean loss and its gradients with respect to
``hidden`` and ``weight`` (forward + backward, one jitted call):

* baseline: ``logits = hidden @ weight``, then
  ``optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()``;
* fused: ``jaxloss.fused_linear_cross_entropy(hidden, weight, labels,
  reduction="mean")``;
* jax-cce (a JAX peer, ``pip install jax-cce``; skipped with a note when it
  is not installed): ``jax_cce.linear_cross_entropy`` on the ``[V, D]`` table;
* floor: the three matmuls of the head alone (logits, then the hidden and
  weight gradients from a ``[N, V]`` cotangent), what any head must compute.

Printed: the machine's load average (a figure measured on a machine with a
load of 0.5 or more is flagged: re-run it on a quiet one), XLA's temp-buffer
size of each compiled program
(``jit(f).lower(...).compile().memory_analysis().temp_size_in_bytes``), the
minimum and median of alternating timed runs, each program's time as a
multiple of the baseline's and of the floor's, the largest absolute
difference of the value and of each gradient and, on a GPU, the achieved
rate (``6 N D V`` flops per call).

Run (CPU target shape, the default):

    python benchmarks/large_vocab.py

The Gemma-2 2B head on a GPU:

    python benchmarks/large_vocab.py --tokens 8192 --dim 2304 --vocab 256000 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxloss  # noqa: E402

MiB = 2.0**20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=2048, help="N, tokens (default 2048)")
    p.add_argument("--dim", type=int, default=512, help="D, hidden size (default 512)")
    p.add_argument("--vocab", type=int, default=32768, help="V, classes (default 32768)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--weight-layout", default="DV", choices=["DV", "VD"],
                   help="DV: a [D, V] kernel (default); VD: a tied [V, D] table (baseline: hidden @ table.T)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="fused chunk_size (default: the function's own choice)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs of each (default 7)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the chip's dense peak in TFLOP/s for this dtype, to print the fraction")
    return p.parse_args(argv)


def make_inputs(n, d, v, dtype, layout="DV", seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    hidden = jax.random.normal(k1, (n, d), jnp.float32).astype(dtype)
    shape = (d, v) if layout == "DV" else (v, d)
    weight = (jax.random.normal(k2, shape, jnp.float32) / np.sqrt(d)).astype(dtype)
    labels = jax.random.randint(k3, (n,), 0, v)
    return hidden, weight, labels


def make_baseline_loss(layout):
    def baseline_loss(hidden, weight, labels):
        logits = hidden @ (weight if layout == "DV" else weight.T)
        return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()

    return baseline_loss


def make_fused_loss(chunk_size, layout):
    def fused_loss(hidden, weight, labels):
        return jaxloss.fused_linear_cross_entropy(hidden, weight, labels, chunk_size=chunk_size,
                                                  reduction="mean", weight_layout=layout)

    return fused_loss


def make_floor(layout):
    # The head's three matmuls and nothing else: logits, d hidden, d weight.
    # The logits stand in for the [N, V] cotangent (same shape, same cost).
    def floor(hidden, weight, labels):
        del labels
        if layout == "DV":
            logits = hidden @ weight
            return jnp.sum(logits[:, 0]), (logits @ weight.T, hidden.T @ logits)
        logits = hidden @ weight.T
        return jnp.sum(logits[:, 0]), (logits @ weight, logits.T @ hidden)

    return floor


def make_cce_loss(layout):
    try:
        import jax_cce
    except ImportError:
        return None

    def cce_loss(hidden, weight, labels):
        table = weight.T if layout == "DV" else weight
        return jax_cce.linear_cross_entropy(hidden, table, labels)

    return cce_loss


def load_average():
    try:
        return os.getloadavg()
    except OSError:
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    args = parse_args(argv)
    n, d, v = args.tokens, args.dim, args.vocab
    dtype = jnp.dtype(args.dtype)
    hidden, weight, labels = make_inputs(n, d, v, dtype, args.weight_layout)
    device = jax.devices()[0]
    load = load_average()
    fns = {
        "baseline": jax.jit(jax.value_and_grad(make_baseline_loss(args.weight_layout), argnums=(0, 1))),
        "fused": jax.jit(jax.value_and_grad(make_fused_loss(args.chunk_size, args.weight_layout), argnums=(0, 1))),
    }
    cce = make_cce_loss(args.weight_layout)
    if cce is not None:
        fns["jax-cce"] = jax.jit(jax.value_and_grad(cce, argnums=(0, 1)))
    fns["floor"] = jax.jit(make_floor(args.weight_layout))
    compiled, temp = {}, {}
    for name, fn in fns.items():
        compiled[name] = fn.lower(hidden, weight, labels).compile()
        mem = compiled[name].memory_analysis()
        temp[name] = None if mem is None else mem.temp_size_in_bytes

    outs = {name: jax.block_until_ready(c(hidden, weight, labels)) for name, c in compiled.items()}
    times = {name: [] for name in compiled}
    for _ in range(args.repeats):  # alternate, so that load changes hit all alike
        for name, c in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(hidden, weight, labels))
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) for name, t in times.items()}
    low = {name: float(np.min(t)) for name, t in times.items()}

    (vb, (ghb, gwb)), (vf, (ghf, gwf)) = outs["baseline"], outs["fused"]

    def maxdiff(a, b):
        return float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))

    grad_floor = hidden.size * hidden.dtype.itemsize + weight.size * weight.dtype.itemsize
    print(f"jax {jax.__version__}, device: {device.device_kind} ({device.platform}), "
          f"{os.cpu_count()} CPU cores, {cpu_name()}")
    print(f"shape: N={n} D={d} V={v} dtype={dtype.name} weight_layout={args.weight_layout}; fused chunk_size="
          f"{args.chunk_size if args.chunk_size else 'auto'}; {args.repeats} alternating runs each")
    quiet = load is not None and load[0] < 0.5
    load_text = "unknown" if load is None else " ".join(f"{x:.2f}" for x in load)
    print(f"load average before the runs: {load_text}"
          + ("" if quiet else "  ** NOT A QUIET MACHINE: these times are not figures; re-run with load < 0.5 **"))
    if cce is None:
        print("jax-cce: not installed (pip install jax-cce), peer skipped")
    print(f"{'':10s} {'temp MiB':>10s} {'min s':>9s} {'median s':>9s} {'x baseline':>11s} {'x floor':>8s}")
    for name in compiled:
        t = "n/a" if temp[name] is None else f"{temp[name] / MiB:10.2f}"
        print(f"{name:10s} {t:>10s} {low[name]:9.4f} {med[name]:9.4f} {med[name] / med['baseline']:11.3f} "
              f"{med[name] / med['floor']:8.3f}")
    if temp["baseline"] and temp["fused"] is not None:
        print(f"temp memory ratio fused/baseline: {temp['fused'] / temp['baseline']:.4f}")
    print(f"time ratio fused/baseline (median): {med['fused'] / med['baseline']:.4f}; "
          f"(min): {low['fused'] / low['baseline']:.4f}")
    print(f"gradient floor |d hidden| + |d weight|: {grad_floor / MiB:.2f} MiB; fused temp / floor: "
          f"{(temp['fused'] or 0) / grad_floor:.4f}")
    print(f"max |diff| fused vs baseline: value {maxdiff(vf, vb):.3e}, d hidden {maxdiff(ghf, ghb):.3e}, "
          f"d weight {maxdiff(gwf, gwb):.3e}")
    if "jax-cce" in outs:
        vc, (ghc, gwc) = outs["jax-cce"]
        if args.weight_layout == "DV":
            gwc = gwc.T if gwc.shape != gwb.shape else gwc
        print(f"max |diff| jax-cce vs baseline: value {maxdiff(vc, vb):.3e}, d hidden {maxdiff(ghc, ghb):.3e}, "
              f"d weight {maxdiff(gwc, gwb):.3e}")
    if device.platform != "cpu":
        flops = 6.0 * n * d * v
        for name in compiled:
            if name == "floor":
                continue
            rate = flops / med[name] / 1e12
            frac = f" ({rate / args.peak_tflops:.1%} of peak)" if args.peak_tflops else ""
            print(f"{name}: {rate:.1f} TFLOP/s{frac}")


if __name__ == "__main__":
    main()
