"""The language model of ``language_model_head.py`` with its vocabulary split over 8 devices.

Runs on 8 host (CPU) devices made by
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (set below, before jax is
imported, unless already there) on a ``jax.sharding.Mesh`` with axes
``("data", "model")`` of sizes ``(2, 4)`` by default: the sentences are split
over ``"data"``, and the ``[D, V]`` output head and its bias over ``"model"``,
so each device holds a quarter of the vocabulary. The loss is

    jaxloss.sharded_fused_linear_cross_entropy(hidden, head, labels, bias=bias, mesh=mesh,
                                               vocab_axis="model", token_axis="data", ...)

which computes, under ``jax.shard_map``, each device's logits for its own
tokens and classes a chunk at a time and all-reduces only per-token numbers
(the row maximum, the sum of exponentials, the target logit) over
``"model"``: no device ever holds the logits of another device's classes.

The script checks that the loss and every gradient equal the single-device,
unsharded ones (fused and materialised), then trains the sharded model and a
single-device copy on the same batches for a few Adam steps and prints both
loss curves and their largest difference. It exits with status 1 if any
difference exceeds the tolerance; ``--json`` prints the results as a last
line ``RESULT {...}``.

Run:  python examples/sharded_training.py [--mesh 2x4] [--steps 10] [--small]
"""

from __future__ import annotations

import os

# The device count is fixed when jax starts: ask for 8 host devices first.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # host devices; set JAX_PLATFORMS to use accelerators instead

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxloss  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import language_model_head as lm  # noqa: E402

TOLERANCE = 1e-4  # relative to max(1, |reference|)


def sharded_head(mesh: Mesh):
    """``lm.fused_head`` with the classes split over ``"model"`` and the tokens over ``"data"``."""

    def head(hidden, weight, bias, labels):
        return jaxloss.sharded_fused_linear_cross_entropy(
            hidden,
            weight,
            labels,
            bias=bias,
            mesh=mesh,
            vocab_axis="model",
            token_axis="data",
            ignore_index=lm.PAD,
            z_loss=lm.Z_LOSS,
            reduction="weighted_mean",
        )

    return head


def param_shardings(mesh: Mesh, params: dict) -> dict:
    """The head's ``[D, V]`` kernel and ``[V]`` bias split over the vocabulary; the rest replicated."""
    specs = {"head": P(None, "model"), "bias": P("model")}
    return {name: NamedSharding(mesh, specs.get(name, P())) for name in params}


def max_abs(a) -> float:
    return max(float(np.max(np.abs(np.asarray(x)))) for x in jax.tree_util.tree_leaves(a))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh", default="2x4", help="sizes of the ('data', 'model') mesh axes, e.g. 2x4 or 1x8")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--batch", type=int, default=64, help="sentences per step (a multiple of the 'data' size)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small", action="store_true", help="small sizes, for the test suite")
    p.add_argument("--json", action="store_true", help="print the results as a last line 'RESULT {...}'")
    args = p.parse_args(argv)
    if args.small:
        args.vocab, args.dim, args.seq_len, args.batch, args.steps = 512, 32, 16, 16, 4
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    n_data, n_model = (int(s) for s in args.mesh.lower().split("x"))
    devices = jax.devices()
    if len(devices) < n_data * n_model:
        raise SystemExit(
            f"need {n_data * n_model} devices, have {len(devices)}: XLA_FLAGS was set before "
            f"this script ran ({os.environ.get('XLA_FLAGS')!r}) without enough host devices"
        )
    mesh = Mesh(np.array(devices[: n_data * n_model]).reshape(n_data, n_model), ("data", "model"))
    print(
        f"mesh {dict(mesh.shape)} on {n_data * n_model} {devices[0].platform} devices; vocabulary {args.vocab} "
        f"split into {n_model} shards of {args.vocab // n_model} classes"
    )

    train, _, _ = lm.make_dataset(args.vocab, args.seq_len, seed=args.seed)
    stream = lm.batches(train, args.batch, args.seed)
    data = [next(stream) for _ in range(args.steps)]

    params = lm.init_params(args.seed, args.vocab, args.dim)  # on one device
    shardings = param_shardings(mesh, params)
    batch_sharding = NamedSharding(mesh, P("data", None))
    s_params = jax.device_put(params, shardings)
    put_batch = functools.partial(jax.device_put, device=batch_sharding)
    head = sharded_head(mesh)

    # 1. One loss and its gradients: sharded against single-device (fused and materialised).
    x, y = data[0]
    sharded_vg = jax.jit(jax.value_and_grad(functools.partial(lm.lm_loss, head=head)))
    loss_s, grads_s = sharded_vg(s_params, put_batch(x), put_batch(y))
    loss_f, grads_f = jax.jit(jax.value_and_grad(lm.lm_loss))(params, x, y)
    loss_m, grads_m = jax.jit(jax.value_and_grad(functools.partial(lm.lm_loss, head=lm.materialised_head)))(
        params, x, y
    )
    shard = grads_s["head"].addressable_shards[0].data.shape
    print(
        f"head gradient: global {tuple(grads_s['head'].shape)}, {grads_s['head'].sharding.spec}, "
        f"per device {tuple(shard)}"
    )
    check = {
        "loss_sharded": float(loss_s),
        "loss_single_fused": float(loss_f),
        "loss_single_materialised": float(loss_m),
        "loss_diff_fused": abs(float(loss_s) - float(loss_f)),
        "loss_diff_materialised": abs(float(loss_s) - float(loss_m)),
        "grad_diff_fused": lm.max_abs_diff(grads_s, grads_f),
        "grad_diff_materialised": lm.max_abs_diff(grads_s, grads_m),
        "grad_scale": max_abs(grads_m),
    }
    print(
        f"loss: sharded {check['loss_sharded']:.7f}, single-device fused {check['loss_single_fused']:.7f}, "
        f"materialised {check['loss_single_materialised']:.7f}"
    )
    print(
        f"max |sharded - single-device|: loss {check['loss_diff_fused']:.2e} (fused), "
        f"{check['loss_diff_materialised']:.2e} (materialised); gradients {check['grad_diff_fused']:.2e} "
        f"(fused), {check['grad_diff_materialised']:.2e} (materialised; largest gradient {check['grad_scale']:.2e})"
    )

    # 2. Training: the sharded model and a single-device copy, on the same batches.
    optimizer = optax.adam(args.lr)
    step_single = lm.make_train_step(optimizer)
    step_sharded = lm.make_train_step(optimizer, head=head)
    p1, o1 = params, jax.jit(optimizer.init)(params)
    # Eagerly, Adam's moments take the parameters' shardings (under jit they would land on one device).
    p8, o8 = s_params, optimizer.init(s_params)
    losses_single, losses_sharded = [], []
    for step, (x, y) in enumerate(data, start=1):
        p1, o1, l1 = step_single(p1, o1, x, y)
        p8, o8, l8 = step_sharded(p8, o8, put_batch(x), put_batch(y))
        losses_single.append(float(l1))
        losses_sharded.append(float(l8))
        print(f"step {step:3d}  loss sharded {losses_sharded[-1]:.6f}  single-device {losses_single[-1]:.6f}")
    curve_diff = max(abs(a - b) for a, b in zip(losses_sharded, losses_single, strict=True))
    param_diff = lm.max_abs_diff(p8, p1)
    mu_head = o8[0].mu["head"]
    print(
        f"after {args.steps} steps: max |loss difference| {curve_diff:.2e}, max |parameter difference| "
        f"{param_diff:.2e} (Adam divides by sqrt(nu): gradients near 0 turn rounding into visible steps)"
    )
    print(f"still sharded: head {p8['head'].sharding.spec}, its Adam moment {mu_head.sharding.spec}")

    ref = max(1.0, abs(check["loss_single_materialised"]))
    ok = (
        check["loss_diff_fused"] <= TOLERANCE * ref
        and check["loss_diff_materialised"] <= TOLERANCE * ref
        and check["grad_diff_fused"] <= TOLERANCE * max(1.0, check["grad_scale"])
        and check["grad_diff_materialised"] <= TOLERANCE * max(1.0, check["grad_scale"])
        and curve_diff <= 10 * TOLERANCE * ref
        and losses_sharded[-1] < losses_sharded[0]
        and p8["head"].sharding.is_equivalent_to(shardings["head"], 2)
        and mu_head.sharding.is_equivalent_to(shardings["head"], 2)
    )
    print(
        f"sharded == single-device: {'OK' if ok else 'FAILED'} (tolerance {TOLERANCE:g}); "
        f"done in {time.perf_counter() - t0:.1f} s"
    )
    result = {
        "mesh": dict(mesh.shape),
        "head_grad_shard_shape": list(shard),
        **check,
        "losses_sharded": losses_sharded,
        "losses_single": losses_single,
        "curve_diff": curve_diff,
        "param_diff": param_diff,
        "ok": bool(ok),
    }
    if args.json:
        print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
