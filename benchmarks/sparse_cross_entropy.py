"""Forward + backward time of jaxloss.sparse_softmax_cross_entropy against optax.

Both losses run on the same inputs in one process, alternating, and the
median of each is reported with the ratio jaxloss / optax. For bfloat16 the
cost of computing in float32 (jaxloss) instead of bfloat16 (optax) shows in
the ratio, and the accuracy gained shows in the relative error against a
float32 computation of the same bfloat16 inputs.

Run:  python benchmarks/sparse_cross_entropy.py [--batch 4096 --classes 32768 --repeats 15]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss


def _fwd_bwd(loss_fn):
    def total(logits, labels):
        return jnp.mean(loss_fn(logits, labels))

    return jax.jit(jax.value_and_grad(total))


def _time(fn, args, repeats):
    out = fn(*args)
    jax.block_until_ready(out)
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def run(batch: int, classes: int, dtype: str, repeats: int) -> dict:
    key = jax.random.PRNGKey(0)
    k1, k2 = jax.random.split(key)
    logits = (3.0 * jax.random.normal(k1, (batch, classes), jnp.float32)).astype(dtype)
    labels = jax.random.randint(k2, (batch,), 0, classes)
    ours = _fwd_bwd(jaxloss.sparse_softmax_cross_entropy)
    theirs = _fwd_bwd(optax.softmax_cross_entropy_with_integer_labels)
    args = (logits, labels)
    jax.block_until_ready(ours(*args))
    jax.block_until_ready(theirs(*args))
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # alternate so that drift hits both alike
        t_ours.append(_time(ours, args, 1))
        t_theirs.append(_time(theirs, args, 1))
    exact = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels))
    v_ours = ours(*args)[0]
    v_theirs = theirs(*args)[0]
    m_ours, m_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    return {
        "dtype": dtype,
        "jaxloss_ms": 1e3 * m_ours,
        "optax_ms": 1e3 * m_theirs,
        "ratio": m_ours / m_theirs,
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
    print(f"# {args.batch} x {args.classes}, forward+backward (value_and_grad of the mean), "
          f"median of {args.repeats} alternating runs")
    print(f"# jax {jax.__version__}, optax {optax.__version__}, device {dev.platform}:{dev.device_kind}, "
          f"{platform.processor() or platform.machine()}, {jax.local_device_count()} device(s)")
    print(f"{'dtype':>9} {'jaxloss ms':>11} {'optax ms':>9} {'ratio':>6} {'rel.err jaxloss':>16} {'rel.err optax':>14}")
    for dtype in args.dtypes.split(","):
        r = run(args.batch, args.classes, dtype, args.repeats)
        print(f"{r['dtype']:>9} {r['jaxloss_ms']:11.1f} {r['optax_ms']:9.1f} {r['ratio']:6.2f} "
              f"{r['rel_err_jaxloss']:16.2e} {r['rel_err_optax']:14.2e}")
    np.set_printoptions()


if __name__ == "__main__":
    main()
