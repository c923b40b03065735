"""The fused LM head under every parallel layout, on 8 host CPU devices.

A table of *heads* (``HEADS``): each is a scalar objective computed from the
output of a fused head function (the cross-entropy with ``reduction="mean"``,
``"none"`` with a random per-token cotangent, per-token ``weights`` with
``class_weights``; the per-token log-probabilities, with the entropy) and the
same objective from materialised logits (``hidden @ weight + bias`` and
``jax.nn.log_softmax``). Every layout below runs every head and asserts that
the value and the gradients with respect to ``hidden``, ``weight`` and
``bias`` equal the unsharded materialised ones (float32, ``rtol=2e-5``), with
``ignore_index`` on some tokens:

* ``jit_named_sharding``: the plain functions under ``jit`` with
  ``NamedSharding`` inputs, data parallel (tokens split, weight replicated),
  vocabulary parallel (the weight split over ``V``) and both (a 2-D mesh),
  for a ``[D, V]`` kernel and a ``[V, D]`` table;
* ``sharded``: the ``sharded_*`` functions with ``vocab_axis`` only, with
  ``vocab_axis`` and ``token_axis``, and with a tuple of token axes, both
  weight layouts;
* ``user_shard_map``: a user's own ``jax.shard_map`` (``check_vma=True``),
  data parallel, the per-shard objective ``lax.psum``-ed by the user, with the
  gradient taken outside and inside the ``shard_map``;
* ``checkpoint``: ``jax.checkpoint`` around the loss (two policies, and
  around the sharded function);
* ``scan``: gradient accumulation over micro-batches in ``lax.scan`` equals
  the full-batch gradient (plain and sharded functions);
* ``vmap``: over a leading batch axis, and over a stack of heads.

A head whose objective is a normalised sum (``"mean"``, ``"weighted_mean"``)
gives its ``numerator`` (the same head with ``reduction="sum"``) and
``denominator``, which is how a user accumulates it over micro-batches or
shards: sum of numerators over the sum of denominators.

Add a head by appending to ``HEADS``. Run one layout by hand:
``python -m tests.test_head_parallel scan`` (set
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` first).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import jaxloss
from tests.test_sharding import IGNORE, N, V, _assert_close, _inputs, run_case

CHUNK = 5  # tokens per chunk: several chunks and a tail in every layout
TEMPERATURE, CAP = 0.7, 4.0


class Api(NamedTuple):
    """The head functions a layout calls, with its mesh, axes and weight layout bound."""

    cross_entropy: Callable
    log_probs: Callable
    weight_layout: str


class Head(NamedTuple):
    name: str
    # (api, hidden, weight, labels, bias, t) -> scalar, from the fused head's output;
    # ``t`` holds the per-token arrays ("ct", "ct2", "weights").
    objective: Callable
    # (hidden, weight, labels, bias, t, weight_layout) -> the same scalar, from materialised logits.
    reference: Callable
    # For a normalised objective: objective == numerator / denominator, both sums over tokens.
    numerator: Callable | None = None  # (api, hidden, weight, labels, bias, t) -> scalar
    denominator: Callable | None = None  # (labels, t) -> scalar


def plain_api(weight_layout: str = "DV") -> Api:
    return Api(
        functools.partial(jaxloss.fused_linear_cross_entropy, weight_layout=weight_layout),
        functools.partial(jaxloss.fused_linear_log_probs, weight_layout=weight_layout),
        weight_layout,
    )


def sharded_api(mesh, token_axis, weight_layout: str = "DV") -> Api:
    kw = dict(mesh=mesh, vocab_axis="model", token_axis=token_axis, weight_layout=weight_layout)
    return Api(
        functools.partial(jaxloss.sharded_fused_linear_cross_entropy, **kw),
        functools.partial(jaxloss.sharded_fused_linear_log_probs, **kw),
        weight_layout,
    )


@functools.cache
def class_weights():
    with jax.ensure_compile_time_eval():  # a concrete array, also when first asked for under a trace
        return jax.random.uniform(jax.random.key(7), (V,), minval=0.5, maxval=1.5)


# --------------------------------------------------------------------------
# the materialised head
# --------------------------------------------------------------------------


def _log_softmax(h, w, b, weight_layout, cap=None, temperature=1.0):
    z = jnp.dot(h, w if weight_layout == "DV" else w.T, preferred_element_type=jnp.float32)
    z = z + b.astype(jnp.float32)[(None,) * (z.ndim - 1)]
    if cap is not None:
        z = cap * jnp.tanh(z / cap)
    return jax.nn.log_softmax(z / temperature, axis=-1)


def _picked(log_p, y):
    """The label's log-probability per token, and the mask of the tokens kept (0 where ignored)."""
    keep = y != IGNORE
    picked = jnp.take_along_axis(log_p, jnp.where(keep, y, 0)[..., None], axis=-1)[..., 0]
    return jnp.where(keep, picked, 0.0), keep


def _count(y, t):
    del t
    return jnp.sum((y != IGNORE).astype(jnp.float32))


def _weighted_count(y, t):
    keep = y != IGNORE
    return jnp.sum(jnp.where(keep, t["weights"] * class_weights()[jnp.where(keep, y, 0)], 0.0))


# --------------------------------------------------------------------------
# the heads
# --------------------------------------------------------------------------


def _ce(api, h, w, y, b, reduction, **kw):
    return api.cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, chunk_size=CHUNK, reduction=reduction, **kw)


def _ce_mean_ref(h, w, y, b, t, layout):
    lp, keep = _picked(_log_softmax(h, w, b, layout), y)
    return 1.7 * -jnp.sum(lp) / _count(y, t)


def _ce_none_ref(h, w, y, b, t, layout):
    lp, _ = _picked(_log_softmax(h, w, b, layout), y)
    return jnp.sum(-lp * t["ct"])


def _ce_weighted_ref(h, w, y, b, t, layout):
    lp, keep = _picked(_log_softmax(h, w, b, layout), y)
    cw = class_weights()[jnp.where(keep, y, 0)]
    return jnp.sum(t["weights"] * cw * -lp) / _weighted_count(y, t)


def _ce_weighted(api, h, w, y, b, t, reduction):
    return _ce(api, h, w, y, b, reduction, weights=t["weights"], class_weights=class_weights())


def _logp(api, h, w, y, b, t):
    return jnp.sum(api.log_probs(h, w, y, bias=b, ignore_index=IGNORE, chunk_size=CHUNK) * t["ct"])


def _logp_ref(h, w, y, b, t, layout):
    lp, _ = _picked(_log_softmax(h, w, b, layout), y)
    return jnp.sum(lp * t["ct"])


def _logp_entropy(api, h, w, y, b, t):
    lp, ent = api.log_probs(
        h,
        w,
        y,
        bias=b,
        ignore_index=IGNORE,
        chunk_size=CHUNK,
        temperature=TEMPERATURE,
        logit_soft_cap=CAP,
        return_entropy=True,
    )
    return jnp.sum(lp * t["ct"]) + jnp.sum(ent * t["ct2"])


def _logp_entropy_ref(h, w, y, b, t, layout):
    log_p = _log_softmax(h, w, b, layout, cap=CAP, temperature=TEMPERATURE)
    lp, keep = _picked(log_p, y)
    ent = jnp.where(keep, -jnp.sum(jnp.exp(log_p) * log_p, axis=-1), 0.0)  # ignored tokens: 0
    return jnp.sum(lp * t["ct"]) + jnp.sum(ent * t["ct2"])


HEADS = [
    Head(
        "ce_mean",
        lambda api, h, w, y, b, t: 1.7 * _ce(api, h, w, y, b, "mean"),
        _ce_mean_ref,
        numerator=lambda api, h, w, y, b, t: 1.7 * _ce(api, h, w, y, b, "sum"),
        denominator=_count,
    ),
    Head("ce_none", lambda api, h, w, y, b, t: jnp.sum(_ce(api, h, w, y, b, "none") * t["ct"]), _ce_none_ref),
    Head(
        "ce_weighted",
        lambda api, h, w, y, b, t: _ce_weighted(api, h, w, y, b, t, "weighted_mean"),
        _ce_weighted_ref,
        numerator=lambda api, h, w, y, b, t: _ce_weighted(api, h, w, y, b, t, "sum"),
        denominator=_weighted_count,
    ),
    Head("log_probs", _logp, _logp_ref),
    Head("log_probs_entropy", _logp_entropy, _logp_entropy_ref),
]
CASES = ["jit_named_sharding", "sharded", "user_shard_map", "checkpoint", "scan", "vmap"]


@pytest.mark.parametrize("case", CASES)
def test_head_parallel(case):
    out = run_case("tests.test_head_parallel", case)
    for head in HEADS:  # every head of the table ran
        assert f"checked {case} {head.name}" in out, out


# --------------------------------------------------------------------------
# what runs in the subprocess
# --------------------------------------------------------------------------


def _data():
    hidden, weight, bias, labels, ct = _inputs()
    k = jax.random.split(jax.random.key(5), 2)
    t = {
        "ct": ct,
        "ct2": jax.random.uniform(k[0], (N,), minval=-1.0, maxval=1.0),
        # per-token weights, some 0
        "weights": jax.random.uniform(k[1], (N,), minval=-0.5, maxval=2.0).clip(0.0),
    }
    return hidden, weight, bias, labels, t


def _numerator(head):
    return head.numerator or head.objective


def _den(head, y, t):
    return jnp.float32(1.0) if head.denominator is None else head.denominator(y, t)


def _value_and_grads(fn, *args):
    """jit(value_and_grad) of ``fn(hidden, weight, bias, *rest)`` in its first three arguments."""
    return jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2)))(*args)


@functools.cache
def _want(name: str, weight_layout: str):
    """The unsharded materialised value and gradients of head ``name`` on the whole batch."""
    head = next(h for h in HEADS if h.name == name)
    hidden, weight, bias, labels, t = _data()
    if weight_layout == "VD":
        weight = weight.T
    return _value_and_grads(lambda h, w, b: head.reference(h, w, labels, b, t, weight_layout), hidden, weight, bias)


def _put(mesh, x, *spec):
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    return jax.device_put(x, NamedSharding(mesh, P(*spec)))


def _placed(mesh, token_axis, vocab_axis, weight_layout):
    """The inputs laid out on ``mesh``: tokens over ``token_axis``, classes over ``vocab_axis``."""
    hidden, weight, bias, labels, t = _data()
    if weight_layout == "VD":
        weight = weight.T
    w_spec = (None, vocab_axis) if weight_layout == "DV" else (vocab_axis, None)
    return (
        _put(mesh, hidden, token_axis, None),
        _put(mesh, weight, *w_spec),
        _put(mesh, bias, vocab_axis),
        _put(mesh, labels, token_axis),
        {k: _put(mesh, x, token_axis) for k, x in t.items()},
    )


def _check_layout(case, what, api, h, w, b, y, t, *, sharded_weight=False):
    for head in HEADS:
        got = _value_and_grads(lambda h, w, b, y, t, head=head: head.objective(api, h, w, y, b, t), h, w, b, y, t)
        _assert_close(got, _want(head.name, api.weight_layout), f"{case} {what} {head.name}")
        if sharded_weight:  # the weight gradient keeps the weight's layout
            assert got[1][1].sharding.is_equivalent_to(w.sharding, 2), (head.name, got[1][1].sharding, w.sharding)
        print(f"checked {case} {head.name} ({what})", flush=True)


def _jit_named_sharding(devices):
    from jax.sharding import Mesh

    meshes = [
        ("data parallel", Mesh(devices, ("data",)), "data", None),
        ("vocabulary parallel", Mesh(devices, ("model",)), None, "model"),
        ("2-D", Mesh(devices.reshape(2, 4), ("data", "model")), "data", "model"),
    ]
    for what, mesh, token_axis, vocab_axis in meshes:
        for layout in ("DV", "VD"):
            h, w, b, y, t = _placed(mesh, token_axis, vocab_axis, layout)
            _check_layout("jit_named_sharding", f"{what} {layout}", plain_api(layout), h, w, b, y, t)


def _sharded(devices):
    from jax.sharding import Mesh

    meshes = [
        ("vocab_axis only", Mesh(devices, ("model",)), None, ("DV", "VD")),
        ("vocab_axis and token_axis", Mesh(devices.reshape(2, 4), ("data", "model")), "data", ("DV", "VD")),
        ("two token axes", Mesh(devices.reshape(2, 2, 2), ("data", "fsdp", "model")), ("data", "fsdp"), ("DV",)),
    ]
    for what, mesh, token_axis, layouts in meshes:
        for layout in layouts:
            h, w, b, y, t = _placed(mesh, token_axis, "model", layout)
            _check_layout(
                "sharded", f"{what} {layout}", sharded_api(mesh, token_axis, layout), h, w, b, y, t, sharded_weight=True
            )


def _user_shard_map(devices):
    """Data parallel in the user's shard_map: per-shard numerator over the psum-ed denominator, psum-ed."""
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(devices, ("data",))
    api = plain_api()
    hidden, weight, bias, labels, t = _data()
    specs = (P("data"), P(), P(), P("data"), P("data"))  # hidden, weight, bias, labels, t
    for head in HEADS:

        def local(h, w, b, y, t, head=head):
            value = _numerator(head)(api, h, w, y, b, t)
            if head.denominator is not None:  # the whole batch's
                value = value / lax.psum(head.denominator(y, t), "data")
            return lax.psum(value, "data")

        outer = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())  # check_vma=True
        got = _value_and_grads(outer, hidden, weight, bias, labels, t)
        _assert_close(got, _want(head.name, "DV"), f"user_shard_map grad outside {head.name}")

        # The gradient taken inside: the weight and bias gradients come out invariant (summed over shards).
        inner = jax.shard_map(
            lambda h, w, b, y, t, local=local: jax.value_and_grad(local, argnums=(0, 1, 2))(h, w, b, y, t),
            mesh=mesh,
            in_specs=specs,
            out_specs=(P(), (P("data"), P(), P())),
        )
        got = jax.jit(inner)(hidden, weight, bias, labels, t)
        _assert_close(got, _want(head.name, "DV"), f"user_shard_map grad inside {head.name}")
        print(f"checked user_shard_map {head.name}", flush=True)


def _checkpoint(devices):
    from jax.sharding import Mesh

    hidden, weight, bias, labels, t = _data()
    mesh = Mesh(devices.reshape(2, 4), ("data", "model"))
    runs = [
        ("default policy", plain_api(), None, (hidden, weight, bias, labels, t)),
        ("nothing saveable", plain_api(), jax.checkpoint_policies.nothing_saveable, (hidden, weight, bias, labels, t)),
        ("sharded function", sharded_api(mesh, "data"), None, _placed(mesh, "data", "model", "DV")),
    ]
    for head in HEADS:
        # The head's input comes out of the checkpointed block (recomputed in the backward pass).
        want = _value_and_grads(
            lambda h, w, b, head=head: head.reference(jnp.sin(h) * 2.0, w, labels, b, t, "DV"), hidden, weight, bias
        )
        for what, api, policy, (h, w, b, y, tt) in runs:
            block = jax.checkpoint(
                lambda h, w, b, y, t, api=api, head=head: head.objective(api, jnp.sin(h) * 2.0, w, y, b, t),
                policy=policy,
            )
            _assert_close(_value_and_grads(block, h, w, b, y, tt), want, f"checkpoint {what} {head.name}")
        print(f"checked checkpoint {head.name}", flush=True)


def _scan(devices):
    """Gradient accumulation: a scan over 4 micro-batches, each gradient added to a carry."""
    from jax.sharding import Mesh

    micro = 4
    mesh = Mesh(devices.reshape(2, 4), ("data", "model"))
    runs = [
        ("plain", plain_api(), _data()),
        ("sharded", sharded_api(mesh, "data"), _placed(mesh, "data", "model", "DV")),
    ]
    for head in HEADS:
        for what, api, (h, w, b, y, t) in runs:

            def accumulate(h, w, b, y, t, api=api, head=head):
                split = lambda x: x.reshape(micro, -1, *x.shape[1:])  # noqa: E731
                den = _den(head, y, t)  # the full batch's, known before the first step

                def step(carry, batch):
                    value, dw, db = carry
                    hm, ym, tm = batch
                    v, (dh, dwm, dbm) = jax.value_and_grad(
                        lambda h, w, b: _numerator(head)(api, h, w, ym, b, tm) / den, argnums=(0, 1, 2)
                    )(hm, w, b)
                    return (value + v, dw + dwm, db + dbm), dh

                zero = (jnp.float32(0.0), jnp.zeros_like(w), jnp.zeros_like(b))
                (value, dw, db), dh = lax.scan(step, zero, (split(h), split(y), jax.tree.map(split, t)))
                return value, (dh.reshape(h.shape), dw, db)

            got = jax.jit(accumulate)(h, w, b, y, t)
            _assert_close(got, _want(head.name, "DV"), f"scan {what} {head.name}")
        print(f"checked scan {head.name}", flush=True)


def _vmap(devices):
    del devices
    hidden, weight, bias, labels, t = _data()
    api = plain_api()
    rows = lambda x, n: x.reshape(n, -1, *x.shape[1:])  # noqa: E731
    for head in HEADS:
        # Over a leading batch axis of 4 sequences of 12 tokens; the head shared.
        def batched(h, w, b, y, t, f):
            return jnp.sum(
                jax.vmap(f, in_axes=(0, None, None, 0, 0))(
                    rows(h, 4), w, b, rows(y, 4), jax.tree.map(lambda x: rows(x, 4), t)
                )
            )

        fused = lambda h, w, b, y, t, head=head: head.objective(api, h, w, y, b, t)  # noqa: E731
        ref = lambda h, w, b, y, t, head=head: head.reference(h, w, y, b, t, "DV")  # noqa: E731
        got = _value_and_grads(functools.partial(batched, f=fused), hidden, weight, bias, labels, t)
        want = _value_and_grads(functools.partial(batched, f=ref), hidden, weight, bias, labels, t)
        _assert_close(got, want, f"vmap over sequences {head.name}")

        # Over a stack of 2 heads (an ensemble), each with its own 24 tokens.
        def stacked(h, w, b, y, t, f):
            w2 = jnp.stack([w, 0.5 * w[:, ::-1]])
            b2 = jnp.stack([b, -b])
            return jnp.sum(jax.vmap(f)(rows(h, 2), w2, b2, rows(y, 2), jax.tree.map(lambda x: rows(x, 2), t)))

        got = _value_and_grads(functools.partial(stacked, f=fused), hidden, weight, bias, labels, t)
        want = _value_and_grads(functools.partial(stacked, f=ref), hidden, weight, bias, labels, t)
        _assert_close(got, want, f"vmap over heads {head.name}")
        print(f"checked vmap {head.name}", flush=True)


def _main(case: str) -> None:
    import numpy as np

    # The suite's strict NumPy semantics (the root conftest's), here too.
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    devices = np.array(jax.devices())
    assert len(devices) == 8, f"expected 8 host devices, got {len(devices)} (XLA_FLAGS not set before import?)"
    layouts = {
        "jit_named_sharding": _jit_named_sharding,
        "sharded": _sharded,
        "user_shard_map": _user_shard_map,
        "checkpoint": _checkpoint,
        "scan": _scan,
        "vmap": _vmap,
    }
    if case not in layouts:
        raise SystemExit(f"unknown case {case!r}; one of {CASES}")
    layouts[case](devices)
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
