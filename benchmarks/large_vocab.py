"""Benchmarks of the fused LM head: time and XLA temp memory against the materialised head.

Two modes, one script:

* the head table (the default): at N=2048 tokens, D=512, V=32768, for each of
  three configurations -- a float32 ``[D, V]`` kernel (``float32-DV``), a
  float32 tied ``[V, D]`` table (``float32-VD``) and a bfloat16 ``[D, V]``
  kernel (``bfloat16-DV``) -- the programs below, then a log-probs section and
  a summary that states each target as PASS or FAIL;
* the sweep (``--sweep``): N in (1024, 2048, 4096, 8192) at V=32768 and V in
  (32768, 65536, 131072, 262144) at N=2048 (D=512, float32, ``[D, V]``), the
  materialised and the fused head at each point; written to
  ``head_sweep.csv`` and plotted (temp memory and time against V) to
  ``head_sweep.png`` in ``--out`` (default: this folder).

Each program of the head table returns the mean loss and its gradients with
respect to ``hidden`` and ``weight`` (forward + backward, one jitted call):

* materialised: ``logits = hidden @ weight`` (``hidden @ table.T`` for a
  ``[V, D]`` table), cast to float32, then
  ``optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()``;
* floor: the head's three matmuls alone (the logits, then the hidden and
  weight gradients from an ``[N, V]`` cotangent): what any head must compute;
* jax-cce: the peer ``jax_cce.linear_cross_entropy`` (``pip install jax-cce``,
  skipped with a note when absent), which takes a ``[V, D]`` table (a
  ``[D, V]`` kernel is passed transposed);
* fused: ``jaxloss.fused_linear_cross_entropy(hidden, weight, labels,
  reduction="mean", weight_layout=...)``.

The log-probs section differentiates ``sum(log_probs) + sum(entropy)`` (so
both outputs carry a cotangent) with respect to ``hidden`` and ``weight``, at
N=2048, D=256, V=32768, float32: the materialised ``log_softmax`` of the
logits with the labels' entries gathered, against
``jaxloss.fused_linear_log_probs(..., return_entropy=True)`` (run only where
jaxloss has that function).

Every program of one configuration is compiled first; "temp MiB" is XLA's
own ``jit(f).lower(...).compile().memory_analysis().temp_size_in_bytes``.
Each program then runs once (its outputs give the largest differences
against the materialised one), and the timed runs alternate between the
programs of the configuration, so that a change of load hits all alike; the
minimum and the median of ``--repeats`` runs are printed, the ratios use the
medians. The machine, the versions and the load average are printed before
and after: a run that starts with a load average of 0.5 or more is flagged
as not a figure. On a GPU the achieved rate (``6 N D V`` flops) is printed.

Run (the head table, then the sweep):

    python benchmarks/large_vocab.py
    python benchmarks/large_vocab.py --sweep

A smoke test with tiny shapes (N=256, D=64, V=2048; the sweep's outputs go to
a temporary folder unless ``--out`` is given):

    python benchmarks/large_vocab.py --quick
    python benchmarks/large_vocab.py --quick --sweep --out /tmp/head_sweep

The Gemma-2 2B head on a GPU:

    python benchmarks/large_vocab.py --tokens 8192 --dim 2304 --vocab 256000 --configs bfloat16-DV --peak-tflops 989
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxloss  # noqa: E402

MiB = 2.0**20
HERE = os.path.dirname(os.path.abspath(__file__))
QUIET_LOAD = 0.5  # a run starting at this 1-minute load average or more is not a figure

# name -> (dtype, weight layout, description)
CONFIGS = {
    "float32-DV": ("float32", "DV", "float32, [D, V] kernel"),
    "float32-VD": ("float32", "VD", "float32, tied [V, D] table"),
    "bfloat16-DV": ("bfloat16", "DV", "bfloat16, [D, V] kernel"),
}

# Targets, stated in the summary.
TIME_TARGET = 1.00  # fused median time / materialised median time
TEMP_TARGET = 0.05  # fused temp / materialised temp, the head table
LOGPROBS_TEMP_TARGET = 0.10  # fused temp / materialised temp, the log-probs section
SWEEP_TEMP_GROWTH_TARGET = 1.1  # fused temp at the largest N / at the table's N
# Agreement with the materialised head: max |diff| / max |materialised| of the
# value and of each gradient (16-bit gradients are rounded to 8 bits).
AGREEMENT = {"float32": 1e-4, "bfloat16": 2e-2, "float16": 1e-2}


@dataclasses.dataclass(frozen=True)
class Shapes:
    tokens: int
    dim: int
    vocab: int
    lp_dim: int
    sweep_tokens: tuple[int, ...]
    sweep_vocab: tuple[int, ...]
    repeats: int
    sweep_repeats: int


FULL = Shapes(2048, 512, 32768, 256, (1024, 2048, 4096, 8192), (32768, 65536, 131072, 262144), 7, 5)
QUICK = Shapes(256, 64, 2048, 32, (128, 256, 512, 1024), (2048, 4096, 8192, 16384), 3, 2)

TABLE_HEADER = (
    f"{'program':14s} {'min s':>9s} {'median s':>9s} {'x materialised':>15s} {'x floor':>8s} "
    f"{'temp MiB':>10s} {'temp x materialised':>20s}"
)
SWEEP_HEADER = (
    f"{'N':>6s} {'V':>7s} {'mat. temp MiB':>14s} {'fused temp MiB':>15s} {'temp ratio':>11s} "
    f"{'mat. min s':>11s} {'mat. median s':>14s} {'fused min s':>12s} {'fused median s':>15s} "
    f"{'time ratio':>11s}"
)
CSV_FIELDS = [
    "tokens",
    "dim",
    "vocab",
    "dtype",
    "weight_layout",
    "repeats",
    "materialised_temp_bytes",
    "fused_temp_bytes",
    "materialised_min_s",
    "materialised_median_s",
    "fused_min_s",
    "fused_median_s",
]


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _configs(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    for name in names:
        if name not in CONFIGS:
            raise argparse.ArgumentTypeError(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Defaults in brackets are the full shapes; --quick replaces them.",
    )
    p.add_argument(
        "--sweep", action="store_true", help="run the N and V sweep (CSV and PNG in --out) instead of the head table"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny shapes (N=256 D=64 V=2048, log-probs D=32; sweep N 128-1024, V 2048-16384), "
        "a smoke test, not a figure",
    )
    p.add_argument("--tokens", type=int, default=None, help="N, tokens [2048]; the sweep's N for its V series")
    p.add_argument("--dim", type=int, default=None, help="D, hidden size [512]")
    p.add_argument("--vocab", type=int, default=None, help="V, classes [32768]; the sweep's V for its N series")
    p.add_argument("--lp-dim", type=int, default=None, help="D of the log-probs section [256]")
    p.add_argument(
        "--configs",
        type=_configs,
        default=tuple(CONFIGS),
        help=f"comma-separated configurations of the head table [{','.join(CONFIGS)}]",
    )
    p.add_argument("--no-logprobs", action="store_true", help="leave out the log-probs section")
    p.add_argument("--chunk-size", type=int, default=None, help="fused chunk_size (default: the function's own choice)")
    p.add_argument(
        "--repeats", type=int, default=None, help="timed runs of each program [7; the sweep 5; --quick 3 and 2]"
    )
    p.add_argument("--sweep-tokens", type=_ints, default=None, help="the sweep's N values [1024,2048,4096,8192]")
    p.add_argument("--sweep-vocab", type=_ints, default=None, help="the sweep's V values [32768,65536,131072,262144]")
    p.add_argument(
        "--sweep-config", default="float32-DV", choices=list(CONFIGS), help="the sweep's configuration [float32-DV]"
    )
    p.add_argument(
        "--out",
        default=None,
        help="folder for head_sweep.csv and head_sweep.png [this script's folder; with --quick a temporary folder]",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the chip's dense peak in TFLOP/s for this dtype, to print the fraction (GPU)",
    )
    return p.parse_args(argv)


# --------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------


def load_average():
    try:
        return os.getloadavg()
    except OSError:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load_text(load) -> str:
    return "unknown" if load is None else " ".join(f"{x:.2f}" for x in load)


def is_quiet(load) -> bool:
    return load is not None and load[0] < QUIET_LOAD


def print_machine(load_start, quick: bool) -> None:
    device = jax.devices()[0]
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(
        f"machine: {cpu_name()}, {cores} CPU cores ({usable} usable), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"jax {jax.__version__}, jaxlib {_version('jaxlib')}, device: {device.device_kind} ({device.platform}), "
        f"{jax.device_count()} device(s); optax {_version('optax')}, jax-cce {_version('jax-cce')}, "
        f"jaxloss {getattr(jaxloss, '__version__', '?')}"
    )
    warning = f"  ** NOT A FIGURE: the machine is not quiet (load >= {QUIET_LOAD}); re-run with nothing else running **"
    print(f"load average at the start: {_load_text(load_start)}" + ("" if is_quiet(load_start) else warning))
    if quick:
        print("--quick: tiny shapes, a smoke test of the script; these times are not figures")


def print_load_end(load_start) -> None:
    load_end = load_average()
    print(f"load average at the end: {_load_text(load_end)} (start: {_load_text(load_start)})")
    if not is_quiet(load_start):
        print(
            f"** NOT A FIGURE: the run started at load {load_start[0] if load_start else float('nan'):.2f} "
            f">= {QUIET_LOAD} **"
        )


# --------------------------------------------------------------------------
# the programs
# --------------------------------------------------------------------------


def make_inputs(n, d, v, dtype, layout="DV", seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    hidden = jax.random.normal(k1, (n, d), jnp.float32).astype(dtype)
    shape = (d, v) if layout == "DV" else (v, d)
    weight = (jax.random.normal(k2, shape, jnp.float32) / np.sqrt(d)).astype(dtype)
    labels = jax.random.randint(k3, (n,), 0, v)
    return hidden, weight, labels


def _logits(hidden, weight, layout):
    return hidden @ (weight if layout == "DV" else weight.T)


def materialised_loss(layout):
    def loss(hidden, weight, labels):
        logits = _logits(hidden, weight, layout).astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    return jax.value_and_grad(loss, argnums=(0, 1))


def fused_loss(layout, chunk_size):
    def loss(hidden, weight, labels):
        return jaxloss.fused_linear_cross_entropy(
            hidden, weight, labels, reduction="mean", weight_layout=layout, chunk_size=chunk_size
        )

    return jax.value_and_grad(loss, argnums=(0, 1))


def cce_loss(layout):
    """jax-cce's loss and gradients, or None when it is not installed."""
    try:
        import jax_cce
    except ImportError:
        return None

    def loss(hidden, weight, labels):
        table = weight.T if layout == "DV" else weight
        return jax_cce.linear_cross_entropy(hidden, table, labels)

    return jax.value_and_grad(loss, argnums=(0, 1))


def floor(layout):
    # The head's three matmuls and nothing else: the logits, d hidden, d weight.
    # The logits stand in for the [N, V] cotangent (same shape, same cost).
    def run(hidden, weight, labels):
        del labels
        if layout == "DV":
            logits = hidden @ weight
            return jnp.sum(logits[:, 0]), (logits @ weight.T, hidden.T @ logits)
        logits = hidden @ weight.T
        return jnp.sum(logits[:, 0]), (logits @ weight, logits.T @ hidden)

    return run


def materialised_log_probs(layout):
    def total(hidden, weight, labels):
        logp = jax.nn.log_softmax(_logits(hidden, weight, layout).astype(jnp.float32), axis=-1)
        log_probs = jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]
        entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        return jnp.sum(log_probs) + jnp.sum(entropy)

    return jax.value_and_grad(total, argnums=(0, 1))


def fused_log_probs(layout, chunk_size):
    def total(hidden, weight, labels):
        log_probs, entropy = jaxloss.fused_linear_log_probs(
            hidden, weight, labels, return_entropy=True, weight_layout=layout, chunk_size=chunk_size
        )
        return jnp.sum(log_probs) + jnp.sum(entropy)

    return jax.value_and_grad(total, argnums=(0, 1))


# --------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Measured:
    temp: int | None  # XLA temp bytes
    times: list[float]
    out: Any = None

    @property
    def min(self) -> float:
        return float(np.min(self.times))

    @property
    def median(self) -> float:
        return float(np.median(self.times))


def measure(programs: dict[str, Callable], args: tuple, repeats: int, keep: bool = True) -> dict[str, Measured]:
    """Compiles every program, runs each once, then times ``repeats`` alternating runs of all."""
    compiled, results = {}, {}
    for name, fn in programs.items():
        compiled[name] = jax.jit(fn).lower(*args).compile()
        mem = compiled[name].memory_analysis()
        temp = None if mem is None else int(mem.temp_size_in_bytes)
        results[name] = Measured(temp, [])
    for name, c in compiled.items():
        out = jax.block_until_ready(c(*args))
        results[name].out = out if keep else None
        del out
    for _ in range(repeats):  # alternate, so that a change of load hits all alike
        for name, c in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(*args))
            results[name].times.append(time.perf_counter() - t0)
    return results


def _max_abs(x) -> float:
    return float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32))))


def differences(out, ref) -> tuple[list[float], float]:
    """The largest absolute difference of the value and of each gradient, and the largest relative one."""
    (v, (gh, gw)), (vr, (ghr, gwr)) = out, ref
    absolute, relative = [], 0.0
    for a, b in ((v, vr), (gh, ghr), (gw, gwr)):
        diff = _max_abs(jnp.asarray(a, jnp.float32) - jnp.asarray(b, jnp.float32))
        absolute.append(diff)
        relative = max(relative, diff / max(_max_abs(b), 1e-30))
    return absolute, relative


def _ratio(a, b) -> float | None:
    return None if a is None or not b else a / b


def _fmt(x, spec) -> str:
    return "n/a" if x is None else format(x, spec)


def print_table(results: dict[str, Measured]) -> None:
    mat = results["materialised"]
    fl = results.get("floor")
    print(TABLE_HEADER)
    for name, r in results.items():
        print(
            f"{name:14s} {r.min:9.4f} {r.median:9.4f} {r.median / mat.median:15.3f} "
            f"{_fmt(_ratio(r.median, fl.median if fl else None), '8.3f'):>8s} "
            f"{_fmt(None if r.temp is None else r.temp / MiB, '10.2f'):>10s} "
            f"{_fmt(_ratio(r.temp, mat.temp), '20.4f'):>20s}"
        )


def print_rates(results: dict[str, Measured], n, d, v, peak) -> None:
    if jax.devices()[0].platform == "cpu":
        return
    flops = 6.0 * n * d * v
    for name, r in results.items():
        rate = flops / r.median / 1e12
        frac = f" ({rate / peak:.1%} of peak)" if peak else ""
        print(f"  {name}: {rate:.1f} TFLOP/s{frac} (6 N D V flops per call)")


# --------------------------------------------------------------------------
# the head table
# --------------------------------------------------------------------------


def head_config(name, shapes: Shapes, args, repeats) -> dict:
    dtype, layout, description = CONFIGS[name]
    n, d, v = shapes.tokens, shapes.dim, shapes.vocab
    inputs = make_inputs(n, d, v, jnp.dtype(dtype), layout)
    programs = {"materialised": materialised_loss(layout), "floor": floor(layout)}
    cce = cce_loss(layout)
    if cce is not None:
        programs["jax-cce"] = cce
    programs["fused"] = fused_loss(layout, args.chunk_size)
    print(
        f"\n== {name} ({description}): N={n} D={d} V={v}, fused chunk_size="
        f"{args.chunk_size or 'auto'}, {repeats} alternating runs each"
    )
    if cce is None:
        print("jax-cce: not installed (pip install jax-cce), peer skipped")
    results = measure(programs, inputs, repeats)
    print_table(results)
    ref = results["materialised"].out
    rel = {}
    for peer in ("fused", "jax-cce"):
        if peer in results:
            (dv, dh, dw), rel[peer] = differences(results[peer].out, ref)
            print(
                f"max |diff| {peer} vs materialised: value {dv:.3e}, d hidden {dh:.3e}, d weight {dw:.3e} "
                f"(relative to the largest entry: {rel[peer]:.2e})"
            )
    print_rates(results, n, d, v, args.peak_tflops)
    mat, fused, cce_r = results["materialised"], results["fused"], results.get("jax-cce")
    return {
        "name": name,
        "dtype": dtype,
        "time": fused.median / mat.median,
        "time_min": fused.min / mat.min,
        "fused_s": fused.median,
        "cce_s": None if cce_r is None else cce_r.median,
        "temp": _ratio(fused.temp, mat.temp),
        "agreement": rel["fused"],
    }


def logprobs_section(shapes: Shapes, args, repeats) -> dict | None:
    """The per-token log-probs head; the fused side runs only where jaxloss has ``fused_linear_log_probs``."""
    n, d, v = shapes.tokens, shapes.lp_dim, shapes.vocab
    layout = "DV"
    inputs = make_inputs(n, d, v, jnp.float32, layout, seed=1)
    programs = {"materialised": materialised_log_probs(layout), "floor": floor(layout)}
    # The guard: the fused log-probs head is measured once jaxloss exports it.
    has_fused = hasattr(jaxloss, "fused_linear_log_probs")
    if has_fused:
        programs["fused"] = fused_log_probs(layout, args.chunk_size)
    print(
        f"\n== log-probs (float32, [D, V] kernel): value_and_grad of sum(log_probs) + sum(entropy), "
        f"N={n} D={d} V={v}, {repeats} alternating runs each"
    )
    if not has_fused:
        print("fused: jaxloss has no fused_linear_log_probs yet; only the materialised side and the floor run")
    results = measure(programs, inputs, repeats)
    print_table(results)
    if not has_fused:
        return None
    (dv, dh, dw), rel = differences(results["fused"].out, results["materialised"].out)
    print(
        f"max |diff| fused vs materialised: value {dv:.3e}, d hidden {dh:.3e}, d weight {dw:.3e} "
        f"(relative to the largest entry: {rel:.2e})"
    )
    print_rates(results, n, d, v, args.peak_tflops)
    mat, fused = results["materialised"], results["fused"]
    return {
        "time": fused.median / mat.median,
        "time_min": fused.min / mat.min,
        "temp": _ratio(fused.temp, mat.temp),
        "agreement": rel,
    }


def _verdict(ok: bool | None) -> str:
    return "[n/a ]" if ok is None else ("[PASS]" if ok else "[FAIL]")


def print_summary(rows: list[dict], logprobs: dict | None, logprobs_run: bool, load_start) -> None:
    print("\n== Summary: targets")
    if not is_quiet(load_start):
        print(f"** NOT A FIGURE: the run started at load {_load_text(load_start)}; the time verdicts do not count **")
    for r in rows:
        name = f"{r['name']:12s}"
        print(
            f"{_verdict(r['time'] <= TIME_TARGET)} {name} time fused / materialised = {r['time']:.3f} "
            f"(median; {r['time_min']:.3f} by the minimum), target <= {TIME_TARGET:.2f}"
        )
        if r["cce_s"] is None:
            print(f"{_verdict(None)} {name} fused faster than jax-cce: jax-cce not installed")
        else:
            print(
                f"{_verdict(r['fused_s'] < r['cce_s'])} {name} fused faster than jax-cce: "
                f"{r['fused_s']:.4f} s vs {r['cce_s']:.4f} s (median; ratio {r['fused_s'] / r['cce_s']:.3f})"
            )
        if r["temp"] is None:
            print(f"{_verdict(None)} {name} temp fused / materialised: XLA reports no memory analysis")
        else:
            print(
                f"{_verdict(r['temp'] <= TEMP_TARGET)} {name} temp fused / materialised = {r['temp']:.2%}, "
                f"target <= {TEMP_TARGET:.0%}"
            )
        tol = AGREEMENT[r["dtype"]]
        print(
            f"{_verdict(r['agreement'] <= tol)} {name} agreement with materialised: largest relative "
            f"difference {r['agreement']:.2e}, target <= {tol:.0e}"
        )
    name = f"{'log-probs':12s}"
    if not logprobs_run:
        print(f"{_verdict(None)} {name} left out (--no-logprobs)")
    elif logprobs is None:
        print(f"{_verdict(None)} {name} not run: jaxloss has no fused_linear_log_probs")
    else:
        if logprobs["temp"] is None:
            print(f"{_verdict(None)} {name} temp fused / materialised: XLA reports no memory analysis")
        else:
            print(
                f"{_verdict(logprobs['temp'] <= LOGPROBS_TEMP_TARGET)} {name} temp fused / materialised = "
                f"{logprobs['temp']:.2%}, target <= {LOGPROBS_TEMP_TARGET:.0%}"
            )
        print(
            f"[info] {name} time fused / materialised = {logprobs['time']:.3f} (median; "
            f"{logprobs['time_min']:.3f} by the minimum)"
        )
        tol = AGREEMENT["float32"]
        print(
            f"{_verdict(logprobs['agreement'] <= tol)} {name} agreement with materialised: largest relative "
            f"difference {logprobs['agreement']:.2e}, target <= {tol:.0e}"
        )


def run_table(shapes: Shapes, args) -> dict:
    repeats = args.repeats if args.repeats is not None else shapes.repeats
    rows = [head_config(name, shapes, args, repeats) for name in args.configs]
    logprobs = None if args.no_logprobs else logprobs_section(shapes, args, repeats)
    return {"rows": rows, "logprobs": logprobs}


# --------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------


def sweep_points(shapes: Shapes) -> list[tuple[int, int]]:
    points = {(n, shapes.vocab) for n in shapes.sweep_tokens}
    points |= {(shapes.tokens, v) for v in shapes.sweep_vocab}
    points.add((shapes.tokens, shapes.vocab))
    return sorted(points, key=lambda p: (p[1], p[0]))


def run_sweep(shapes: Shapes, args, out_dir: str, load_start) -> dict:
    repeats = args.repeats if args.repeats is not None else shapes.sweep_repeats
    dtype, layout, description = CONFIGS[args.sweep_config]
    d = shapes.dim
    print(
        f"\n== sweep: {args.sweep_config} ({description}), D={d}, N in {shapes.sweep_tokens} at V={shapes.vocab}, "
        f"V in {shapes.sweep_vocab} at N={shapes.tokens}; materialised and fused (chunk_size="
        f"{args.chunk_size or 'auto'}), {repeats} alternating runs per point"
    )
    print(SWEEP_HEADER)
    rows = []
    for n, v in sweep_points(shapes):
        inputs = make_inputs(n, d, v, jnp.dtype(dtype), layout)
        programs = {"materialised": materialised_loss(layout), "fused": fused_loss(layout, args.chunk_size)}
        res = measure(programs, inputs, repeats, keep=False)
        del inputs
        mat, fused = res["materialised"], res["fused"]
        row = {
            "tokens": n,
            "dim": d,
            "vocab": v,
            "dtype": dtype,
            "weight_layout": layout,
            "repeats": repeats,
            "materialised_temp_bytes": mat.temp,
            "fused_temp_bytes": fused.temp,
            "materialised_min_s": mat.min,
            "materialised_median_s": mat.median,
            "fused_min_s": fused.min,
            "fused_median_s": fused.median,
        }
        rows.append(row)
        print(
            f"{n:6d} {v:7d} {_fmt(None if mat.temp is None else mat.temp / MiB, '14.2f'):>14s} "
            f"{_fmt(None if fused.temp is None else fused.temp / MiB, '15.2f'):>15s} "
            f"{_fmt(_ratio(fused.temp, mat.temp), '11.4f'):>11s} {mat.min:11.4f} {mat.median:14.4f} "
            f"{fused.min:12.4f} {fused.median:15.4f} {fused.median / mat.median:11.3f}",
            flush=True,
        )

    by_point = {(r["tokens"], r["vocab"]): r for r in rows}
    n_max = max(shapes.sweep_tokens)
    big, base = by_point[(n_max, shapes.vocab)], by_point[(shapes.tokens, shapes.vocab)]
    growth = _ratio(big["fused_temp_bytes"], base["fused_temp_bytes"])
    print("\n== Summary: targets")
    if not is_quiet(load_start):
        print(f"** NOT A FIGURE: the run started at load {_load_text(load_start)}; the times do not count **")
    if growth is None:
        print(f"{_verdict(None)} fused temp at N={n_max} / at N={shapes.tokens}: XLA reports no memory analysis")
    else:
        print(
            f"{_verdict(growth <= SWEEP_TEMP_GROWTH_TARGET)} fused temp at N={n_max} / at N={shapes.tokens} "
            f"(V={shapes.vocab}) = {growth:.3f}, target <= {SWEEP_TEMP_GROWTH_TARGET}"
        )

    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "head_sweep.csv")
    png_path = os.path.join(out_dir, "head_sweep.png")
    write_csv(csv_path, rows, load_start)
    plot(png_path, [r for r in rows if r["tokens"] == shapes.tokens], args.sweep_config, shapes.tokens, d, load_start)
    print(f"wrote {csv_path}\nwrote {png_path}")
    return {"rows": rows, "growth": growth, "csv": csv_path, "png": png_path}


def write_csv(path: str, rows: list[dict], load_start) -> None:
    device = jax.devices()[0]
    with open(path, "w", newline="") as f:
        # Provenance first, as '#' lines (pandas: read_csv(path, comment="#")).
        f.write(
            f"# benchmarks/large_vocab.py --sweep; {cpu_name()}, {os.cpu_count()} CPU cores; "
            f"jax {jax.__version__}, device {device.device_kind} ({device.platform})\n"
        )
        f.write(
            f"# load average at the start: {_load_text(load_start)}"
            + ("" if is_quiet(load_start) else " (NOT A FIGURE: not a quiet machine)")
            + "\n"
        )
        f.write(
            "# temp: XLA's compile().memory_analysis().temp_size_in_bytes; times: seconds per forward + backward call\n"
        )
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def plot(path: str, rows: list[dict], config: str, n: int, d: int, load_start) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = sorted(rows, key=lambda r: r["vocab"])
    vocab = [r["vocab"] for r in rows]
    fig, (ax_mem, ax_time) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for program, style in (("materialised", "o-"), ("fused", "s-")):
        temp = [np.nan if r[f"{program}_temp_bytes"] is None else r[f"{program}_temp_bytes"] / MiB for r in rows]
        ax_mem.plot(vocab, temp, style, label=program)
        ax_time.plot(vocab, [r[f"{program}_median_s"] for r in rows], style, label=program)
    for ax, ylabel in ((ax_mem, "XLA temp memory (MiB)"), (ax_time, "median time per call (s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(vocab, [f"{v / 1024:g}k" for v in vocab])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("vocabulary size V")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    ax_mem.set_title("temporary memory")
    ax_time.set_title("forward + backward time")
    note = "" if is_quiet(load_start) else f"; NOT A FIGURE (load {_load_text(load_start)})"
    fig.suptitle(
        f"LM head, {config}, N={n}, D={d}: materialised vs jaxloss fused ({cpu_name()}, jax {jax.__version__}){note}",
        fontsize=9,
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------


def resolve_shapes(args) -> Shapes:
    base = QUICK if args.quick else FULL
    return dataclasses.replace(
        base,
        tokens=args.tokens or base.tokens,
        dim=args.dim or base.dim,
        vocab=args.vocab or base.vocab,
        lp_dim=args.lp_dim or base.lp_dim,
        sweep_tokens=args.sweep_tokens or base.sweep_tokens,
        sweep_vocab=args.sweep_vocab or base.sweep_vocab,
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    shapes = resolve_shapes(args)
    load_start = load_average()
    print_machine(load_start, args.quick)
    if args.sweep:
        out_dir = args.out or (os.path.join(tempfile.gettempdir(), "jaxloss-head-sweep-quick") if args.quick else HERE)
        result = run_sweep(shapes, args, out_dir, load_start)
    else:
        result = run_table(shapes, args)
        print_summary(result["rows"], result["logprobs"], not args.no_logprobs, load_start)
    print_load_end(load_start)
    return result


if __name__ == "__main__":
    main()
