"""Forward + backward time of jaxloss.sparse_softmax_cross_entropy against optax and the bandwidth floor.

Both losses run on the same inputs in one process, alternating, and the
minimum and median of each are reported with the ratio jaxloss / optax. The
floor is one read and one write of the logits (a jitted ``2 * logits``: the
gradient of any cross-entropy is a ``[N, C]`` array computed from the
``[N, C]`` logits, so no implementation can beat it), printed with each
loss's time as a fraction "of the floor" (floor time / loss time: 1.0 means
at the memory-bandwidth limit). For bfloat16 the cost of computing in float32
(jaxloss) instead of bfloat16 (optax) shows in the ratio, and the accuracy
gained shows in the relative error against a float32 computation of the same
bfloat16 inputs. The load average is printed first: a figure measured with a
load of 0.5 or more is flagged.

Run:  python benchmarks/sparse_cross_entropy.py [--batch 4096 --classes 32768 --repeats 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import jaxloss


def _fwd_bwd(loss_fn):
    def total(logits, labels):
        return jnp.mean(loss_fn(logits, labels))

    return jax.jit(jax.value_and_grad(total))


def _floor():
    # One read and one write of the logits, in their dtype.
    return jax.jit(lambda logits, labels: logits * jnp.asarray(2, logits.dtype))


def _time(fn, args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def run(batch: int, classes: int, dtype: str, repeats: int) -> dict:
    key = jax.random.PRNGKey(0)
    k1, k2 = jax.random.split(key)
    logits = (3.0 * jax.random.normal(k1, (batch, classes), jnp.float32)).astype(dtype)
    labels = jax.random.randint(k2, (batch,), 0, classes)
    fns = {
        "jaxloss": _fwd_bwd(jaxloss.sparse_softmax_cross_entropy),
        "optax": _fwd_bwd(optax.softmax_cross_entropy_with_integer_labels),
        "floor": _floor(),
    }
    args = (logits, labels)
    for fn in fns.values():
        jax.block_until_ready(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):  # alternate so that drift hits all alike
        for name, fn in fns.items():
            times[name].append(_time(fn, args))
    exact = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels))
    v_ours = fns["jaxloss"](*args)[0]
    v_theirs = fns["optax"](*args)[0]
    med = {name: statistics.median(t) for name, t in times.items()}
    low = {name: min(t) for name, t in times.items()}
    nbytes = 2 * logits.size * logits.dtype.itemsize
    return {
        "dtype": dtype,
        "med": med,
        "min": low,
        "ratio": med["jaxloss"] / med["optax"],
        "ratio_min": low["jaxloss"] / low["optax"],
        "floor_gbs": nbytes / med["floor"] / 1e9,
        "rel_err_jaxloss": float(abs(v_ours.astype(jnp.float32) - exact) / abs(exact)),
        "rel_err_optax": float(abs(v_theirs.astype(jnp.float32) - exact) / abs(exact)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=32768)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()
    dev = jax.devices()[0]
    load = os.getloadavg()
    print(
        f"# load average before the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        + ("" if load[0] < 0.5 else "  ** NOT A QUIET MACHINE: these times are not figures **")
    )
    print(
        f"# {args.batch} x {args.classes}, forward+backward (value_and_grad of the mean), "
        f"min and median of {args.repeats} alternating runs"
    )
    print(
        f"# jax {jax.__version__}, optax {optax.__version__}, device {dev.platform}:{dev.device_kind}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"
    )
    print(
        f"{'dtype':>9} {'jaxloss ms':>16} {'optax ms':>16} {'floor ms':>16} {'ratio':>6} "
        f"{'of floor':>13} {'rel.err jaxloss':>16} {'rel.err optax':>14}"
    )
    print(f"{'':>9} {'min / median':>16} {'min / median':>16} {'min / median':>16} {'med':>6} {'ours / optax':>13}")
    for dtype in args.dtypes.split(","):
        r = run(args.batch, args.classes, dtype, args.repeats)
        cells = [f"{1e3 * r['min'][k]:7.1f} / {1e3 * r['med'][k]:6.1f}" for k in ("jaxloss", "optax", "floor")]
        of_floor = f"{r['med']['floor'] / r['med']['jaxloss']:.2f} / {r['med']['floor'] / r['med']['optax']:.2f}"
        print(
            f"{r['dtype']:>9} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16} {r['ratio']:6.2f} "
            f"{of_floor:>13} {r['rel_err_jaxloss']:16.2e} {r['rel_err_optax']:14.2e}"
        )
    print(
        f"# ratio = jaxloss / optax (median); 'of floor' = floor time / loss time (1.00 = the bandwidth floor); "
        f"floor = one read + one write of the logits ({r['floor_gbs']:.1f} GB/s in the last row)"
    )


if __name__ == "__main__":
    main()
