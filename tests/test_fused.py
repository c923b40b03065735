"""Tests of ``jaxloss.fused_linear_cross_entropy`` (jax + numpy only).

Every value and gradient (to ``hidden``, ``weight`` and ``bias``) is compared
with the unfused computation ``reduce(sparse_softmax_cross_entropy(hidden @
weight + bias, ...))`` over both internal schemes (one pass over token
chunks; two passes, the second over vocabulary blocks, used for 16-bit
weights), both weight layouts, chunk sizes that do and do not divide the
number of tokens and of classes, every option and reduction, float32,
bfloat16 and float64; plus ``jit``/``vmap``, the cost structure (no
``[N, V]`` buffer, no recomputation for scalar reductions) and the argument
errors. Sharded runs are in ``tests/test_sharding.py``.
"""

from __future__ import annotations

import re

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss._head import _loop, _spec

# Shapes chosen so that chunk sizes 4 and 5 divide neither the tokens (13)
# nor the classes (19), nor the hidden size (20, in blocks of 8).
N, D, V = 13, 20, 19
IGNORE = -100
REDUCTIONS = ("none", "sum", "mean", "weighted_mean", "sum_by_nonzero_weights")
ALL_OPTIONS = dict(ignore_index=IGNORE, label_smoothing=0.1, z_loss=1e-2, logit_soft_cap=2.5)


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    # Compilation dominates this file's time: XLA's optimisations off halves it
    # (the values do not depend on them). The memory test turns them back on.
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture
def optimized():
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


@pytest.fixture(params=["tokens", "vocab"])
def scheme(request, monkeypatch):
    """Forces one of the two internal schemes, with small vocabulary blocks."""
    monkeypatch.setattr(_spec, "choose_scheme", lambda *_: {"vocab": "classes"}.get(request.param, request.param))
    monkeypatch.setattr(_loop, "_MIN_CLASS_BLOCK", 4)
    return request.param


def make_inputs(n=N, d=D, v=V, *, seed=0, dtype=jnp.float32, ignored=(2, 7), scale=1.0):
    k = jax.random.split(jax.random.key(seed), 5)
    hidden = (scale * jax.random.normal(k[0], (n, d))).astype(dtype)
    weight = (jax.random.normal(k[1], (d, v)) / np.sqrt(d) * 2.0).astype(dtype)
    bias = (0.5 * jax.random.normal(k[2], (v,))).astype(dtype)
    labels = jax.random.randint(k[3], (n,), 0, v)
    for i in ignored:
        labels = labels.at[i].set(IGNORE)
    cotangent = jax.random.uniform(k[4], (n,), minval=0.5, maxval=1.5)
    return hidden, weight, bias, labels, cotangent


def reference(
    hidden,
    weight,
    labels,
    *,
    bias=None,
    weights=None,
    class_weights=None,
    ignore_index=None,
    label_smoothing=0.0,
    z_loss=0.0,
    logit_soft_cap=None,
    reduction="none",
    weight_layout="DV",
    chunk_size=None,
    where=None,
):
    """The unfused computation the fused loss must equal.

    ``reduce(losses, weights, where=labels != ignore_index)``, where the
    losses carry the class weights and ``"weighted_mean"`` and
    ``"sum_by_nonzero_weights"`` count ``weights * class_weights[labels]``.
    """
    del chunk_size
    w = weight if weight_layout == "DV" else weight.T
    # Standard promotion, with explicit casts and broadcasts, so the reference
    # also runs under jax_numpy_dtype_promotion="strict" / rank_promotion="raise".
    with jax.numpy_dtype_promotion("standard"):
        op = jnp.result_type(hidden, w)
        acc = jnp.promote_types(op, jnp.float32)
    logits = jnp.einsum("...d,dv->...v", hidden.astype(op), w.astype(op), preferred_element_type=acc)
    if bias is not None:
        logits = logits + bias.astype(acc).reshape((1,) * (logits.ndim - 1) + bias.shape)
    if logit_soft_cap is not None:
        logits = logit_soft_cap * jnp.tanh(logits / logit_soft_cap)
    losses = jaxloss.sparse_softmax_cross_entropy(
        logits,
        labels,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        z_loss=z_loss,
        where=where,
        class_weights=class_weights,
    )
    keep = jnp.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    if reduction in ("none", "sum", "mean"):
        return jaxloss.reduce(losses, weights, reduction=reduction, where=keep)
    total = jaxloss.reduce(losses, weights, reduction="sum", where=keep)
    tw = jnp.ones(labels.shape) if weights is None else jnp.broadcast_to(weights, labels.shape).astype(jnp.float32)
    if class_weights is not None:
        tw = tw * jnp.asarray(class_weights, jnp.float32)[jnp.clip(labels, 0, logits.shape[-1] - 1)]
    tw = jnp.where(keep, tw, 0.0)
    den = jnp.sum(tw) if reduction == "weighted_mean" else jnp.count_nonzero(tw).astype(jnp.float32)
    return jnp.where(den == 0, 0.0, total / jnp.where(den == 0, 1.0, den))


def value_and_grads(fn, hidden, weight, bias, labels, cotangent, reduction, **options):
    """The loss and the gradients of a cotangent-weighted scalar of it."""

    def scalar(h, w, b):
        out = fn(h, w, labels, bias=b, reduction=reduction, **options)
        # A per-token cotangent (none) or a scalar one != 1 (the scalar reductions).
        return jnp.sum(out * cotangent) if reduction == "none" else 1.7 * out, out

    # Under jit: one compilation per call instead of one per eager operation.
    (_, out), grads = jax.jit(jax.value_and_grad(scalar, argnums=(0, 1, 2), has_aux=True))(hidden, weight, bias)
    return out, grads


def assert_matches(hidden, weight, bias, labels, cotangent, reduction, *, rtol=2e-5, atol=2e-5, **options):
    got, got_g = value_and_grads(
        jaxloss.fused_linear_cross_entropy, hidden, weight, bias, labels, cotangent, reduction, **options
    )
    want, want_g = value_and_grads(reference, hidden, weight, bias, labels, cotangent, reduction, **options)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg="value")
    for name, a, b, x in zip(("hidden", "weight", "bias"), got_g, want_g, (hidden, weight, bias), strict=True):
        assert a.dtype == x.dtype and a.shape == x.shape, name
        scale = float(jnp.max(jnp.abs(b.astype(jnp.float32)))) or 1.0
        np.testing.assert_allclose(
            np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=rtol, atol=atol * scale, err_msg=f"d {name}"
        )


# --------------------------------------------------------------------------
# values and gradients against the unfused computation
# --------------------------------------------------------------------------


_UNFUSED_CASES = [("tokens", r, "all_options") for r in REDUCTIONS] + [
    ("tokens", "none", "plain"),
    ("tokens", "weighted_mean", "ignore"),
    # The reductions are shared code: the vocabulary scheme needs "none" and one scalar.
    ("vocab", "none", "all_options"),
    ("vocab", "sum_by_nonzero_weights", "all_options"),
    ("vocab", "mean", "plain"),
]
_OPTION_SETS = {"plain": {}, "ignore": {"ignore_index": IGNORE}, "all_options": ALL_OPTIONS}


@pytest.mark.parametrize(
    "scheme, reduction, options", _UNFUSED_CASES, indirect=["scheme"], ids=["-".join(c) for c in _UNFUSED_CASES]
)
def test_matches_unfused(scheme, reduction, options):
    options = _OPTION_SETS[options]
    h, w, b, y, ct = make_inputs(ignored=(2, 7) if options else ())
    assert_matches(h, w, b, y, ct, reduction, chunk_size=4, **options)


@pytest.mark.parametrize(
    "scheme, chunk_size, reduction",
    [
        ("tokens", 1, "none"),
        ("tokens", 5, "weighted_mean"),
        ("tokens", 13, "sum"),
        ("tokens", 64, "none"),
        ("vocab", 1, "mean"),
        ("vocab", 5, "none"),
    ],
    indirect=["scheme"],
)
def test_chunk_sizes(scheme, chunk_size, reduction):
    h, w, b, y, ct = make_inputs(seed=1)
    assert_matches(h, w, b, y, ct, reduction, chunk_size=chunk_size, **ALL_OPTIONS)


@pytest.mark.parametrize("reduction, chunk_size", [("none", 5), ("mean", None)])
def test_tied_embedding_layout(scheme, reduction, chunk_size):
    h, w, b, y, ct = make_inputs(seed=2)
    table = jnp.asarray(w.T)  # [V, D]
    assert_matches(h, table, b, y, ct, reduction, chunk_size=chunk_size, weight_layout="VD", **ALL_OPTIONS)


@pytest.mark.parametrize("option", [{"label_smoothing": 1.0}, {"z_loss": 0.05}, {"logit_soft_cap": 1.5}], ids=str)
def test_each_option_alone(option):
    h, w, b, y, ct = make_inputs(seed=3, ignored=())
    assert_matches(h, w, b, y, ct, "sum", chunk_size=5, **option)


def test_without_bias_and_higher_rank_hidden():
    h, w, _, y, _ = make_inputs(n=12, seed=4, ignored=(0,))
    h3, y3 = h.reshape(3, 4, D), y.reshape(3, 4)
    got = jax.jit(jaxloss.fused_linear_cross_entropy, static_argnames=("chunk_size", "ignore_index"))(
        h3, w, y3, chunk_size=5, ignore_index=IGNORE
    )
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, reference(h3, w, y3, ignore_index=IGNORE), rtol=2e-5, atol=2e-5)
    g = jax.jit(jax.grad(lambda h, w: jaxloss.fused_linear_cross_entropy(h, w, y3, reduction="mean"), (0, 1)))(h3, w)
    r = jax.jit(jax.grad(lambda h, w: reference(h, w, y3, reduction="mean"), (0, 1)))(h3, w)
    for a, e in zip(g, r, strict=True):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6)


def test_float64_is_exact():
    with jax.enable_x64(True):
        h, w, b, y, ct = (
            x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x for x in make_inputs(seed=5)
        )
        assert_matches(h, w, b, y, ct, "none", rtol=1e-12, atol=1e-12, chunk_size=4, **ALL_OPTIONS)


@pytest.mark.parametrize("reduction, weight_layout", [("none", "VD"), ("mean", "DV")])
def test_bfloat16_computes_in_float32(reduction, weight_layout):
    # bfloat16 inputs: float32 loss, bfloat16 gradients, close to the float32
    # computation on the same (rounded) inputs; the natural scheme is "vocab".
    h, w, b, y, ct = make_inputs(seed=6, dtype=jnp.bfloat16)
    if weight_layout == "VD":
        w = w.T
    opts = dict(ALL_OPTIONS, chunk_size=5, weight_layout=weight_layout)
    got, got_g = value_and_grads(jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, reduction, **opts)
    f32 = [x.astype(jnp.float32) for x in (h, w, b)]
    want, want_g = value_and_grads(jaxloss.fused_linear_cross_entropy, *f32, y, ct, reduction, **opts)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # exact products, float32 sums
    for a, e, x in zip(got_g, want_g, (h, w, b), strict=True):
        assert a.dtype == jnp.bfloat16 and a.shape == x.shape
        # One bfloat16 rounding of d logits (as the unfused bfloat16 head does) and of the result.
        np.testing.assert_allclose(np.asarray(a, np.float32), e, rtol=2e-2, atol=2e-2 * float(jnp.max(jnp.abs(e))))
    # And the bfloat16 head against the unfused bfloat16 head, same tolerance class.
    ref = reference(h, w, y, bias=b, reduction=reduction, **dict(opts, chunk_size=None))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_mixed_dtypes_promote():
    h, w, b, y, ct = make_inputs(seed=7)
    got = jaxloss.fused_linear_cross_entropy(h.astype(jnp.bfloat16), w, y, bias=b, ignore_index=IGNORE)
    want = reference(h.astype(jnp.bfloat16).astype(jnp.float32), w, y, bias=b, ignore_index=IGNORE)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    g = jax.grad(lambda h: jaxloss.fused_linear_cross_entropy(h, w, y, reduction="sum"))(h.astype(jnp.bfloat16))
    assert g.dtype == jnp.bfloat16


# --------------------------------------------------------------------------
# ignored and out-of-range labels, -inf bias, extreme logits
# --------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "weighted_mean", "sum_by_nonzero_weights"])
def test_everything_ignored_gives_zero(reduction):
    h, w, b, y, _ = make_inputs(seed=8)
    y = jnp.full_like(y, IGNORE)
    f = lambda h, w, b: jnp.sum(
        jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, reduction=reduction, chunk_size=4)
    )
    value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(h, w, b)
    assert float(value) == 0.0
    for g in grads:
        assert not np.any(np.asarray(g))


def test_ignored_tokens_are_counted_in_no_denominator():
    # Ignored means masked: "mean" averages over the tokens that are not
    # ignored (torch's cross_entropy mean), as do the weighted reductions.
    h, w, b, y, _ = make_inputs(seed=9)
    per_token = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE)
    assert float(per_token[2]) == 0.0 and float(per_token[7]) == 0.0
    kept = N - 2
    for reduction, den in [("sum", 1), ("mean", kept), ("weighted_mean", kept), ("sum_by_nonzero_weights", kept)]:
        got = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, reduction=reduction)
        np.testing.assert_allclose(got, jnp.sum(per_token) / den, rtol=1e-6)


def test_out_of_range_label_is_nan_without_gradient(scheme):
    h, w, b, y, ct = make_inputs(seed=10, ignored=())
    y = y.at[3].set(V).at[5].set(-1)
    losses = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=4)
    assert np.isnan(losses[3]) and np.isnan(losses[5])
    assert np.all(np.isfinite(np.delete(np.asarray(losses), [3, 5])))
    np.testing.assert_allclose(losses, reference(h, w, y, bias=b), rtol=2e-5, atol=2e-5)
    # Like the core loss, the offending tokens get no gradient; the others do.
    f = lambda fn: jax.jit(
        jax.grad(lambda h, w: jnp.sum(jnp.where(jnp.isnan(l := fn(h, w, y, bias=b)), 0.0, l)), (0, 1))
    )(h, w)
    got, want = f(jaxloss.fused_linear_cross_entropy), f(reference)
    for a, e in zip(got, want, strict=True):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6)
    assert not np.any(np.asarray(got[0][3])) and not np.any(np.asarray(got[0][5]))
    assert np.isnan(jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, reduction="mean"))


@pytest.mark.parametrize("scheme, reduction", [("tokens", "none"), ("vocab", "mean")], indirect=["scheme"])
def test_minus_inf_bias_is_a_padded_vocabulary(scheme, reduction):
    # A -inf bias masks a class out of the normaliser and of the smoothing
    # average (whose size counts the finite classes): the core loss with
    # those classes masked by `where`.
    h, w, b, y, ct = make_inputs(seed=11, ignored=())
    b = b.at[jnp.array([0, 7, 18])].set(-jnp.inf)
    y = jnp.where((y == 0) | (y == 7) | (y == 18), 1, y)
    got, got_g = value_and_grads(
        jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, reduction, label_smoothing=0.2, chunk_size=5
    )
    want, want_g = value_and_grads(reference, h, w, b, y, ct, reduction, label_smoothing=0.2, where=jnp.isfinite(b))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    for a, e in zip(got_g[:2], want_g[:2], strict=True):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-5)
    assert np.all(np.isfinite(np.asarray(got_g[0])))


def test_huge_logits_are_finite(scheme):
    h, w, b, y, ct = make_inputs(seed=12, scale=1e4)
    got, grads = value_and_grads(
        jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, "mean", chunk_size=4, ignore_index=IGNORE
    )
    want, _ = value_and_grads(reference, h, w, b, y, ct, "mean", ignore_index=IGNORE)
    assert np.isfinite(got) and all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    np.testing.assert_allclose(got, want, rtol=1e-5)


# --------------------------------------------------------------------------
# per-token weights and class weights
# --------------------------------------------------------------------------


def make_weights(seed=20, n=N, v=V):
    k = jax.random.split(jax.random.key(seed), 2)
    # Some zero token weights and a zero class weight, so every denominator
    # (sum, count of nonzero) differs from the token count.
    weights = jax.random.uniform(k[0], (n,), minval=0.2, maxval=2.0).at[jnp.array([0, 5])].set(0.0)
    class_weights = jax.random.uniform(k[1], (v,), minval=0.1, maxval=3.0).at[3].set(0.0)
    return weights, class_weights


_WEIGHT_CASES = [
    (s, r, o)
    for s in ("tokens", "vocab")
    for r in REDUCTIONS
    for o in ("plain", "all_options")
    if s == "tokens" or o == "all_options"
]


@pytest.mark.parametrize(
    "scheme, reduction, options", _WEIGHT_CASES, indirect=["scheme"], ids=["-".join(c) for c in _WEIGHT_CASES]
)
def test_weights_and_class_weights_match_unfused(scheme, reduction, options):
    # 13 tokens in chunks of 4 (three loop steps and a tail), 19 classes.
    h, w, b, y, ct = make_inputs(seed=21)
    weights, class_weights = make_weights()
    y = y.at[4].set(3)  # a target whose class weight is 0
    opts = dict(_OPTION_SETS[options], ignore_index=IGNORE)
    assert_matches(h, w, b, y, ct, reduction, chunk_size=4, weights=weights, class_weights=class_weights, **opts)
    # Each alone.
    assert_matches(h, w, b, y, ct, reduction, chunk_size=5, weights=weights, **opts)
    assert_matches(h, w, b, y, ct, reduction, chunk_size=5, class_weights=class_weights, **opts)


@pytest.mark.parametrize("reduction", ["none", "weighted_mean"])
def test_weights_tied_layout_and_higher_rank(reduction):
    h, w, b, y, ct = make_inputs(n=12, seed=22)
    weights, class_weights = make_weights(n=12)
    h3, y3, ct3 = h.reshape(3, 4, D), y.reshape(3, 4), ct.reshape(3, 4)
    # Per-sequence weights [3, 1] broadcast to the labels [3, 4].
    seq_weights = weights[:3, None] + 0.5
    assert_matches(
        h3,
        w.T,
        b,
        y3,
        ct3,
        reduction,
        chunk_size=5,
        weight_layout="VD",
        weights=seq_weights,
        class_weights=class_weights,
        **ALL_OPTIONS,
    )


def _torch_cross_entropy(logits, labels, class_weights, ignore_index, label_smoothing):
    """torch.nn.functional.cross_entropy(..., weight, ignore_index, label_smoothing, reduction="mean"), in numpy."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    w = np.asarray(class_weights, np.float64)
    lse = np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1)) + logits.max(-1)
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    nll = lse - logits[np.arange(len(labels)), safe]
    smooth = np.sum(w[None, :] * (lse[:, None] - logits), -1) / logits.shape[-1]
    losses = np.where(keep, (1 - label_smoothing) * w[safe] * nll + label_smoothing * smooth, 0.0)
    return np.sum(losses) / np.sum(np.where(keep, w[safe], 0.0))


def test_weighted_mean_is_torch_weighted_mean():
    h, w, b, y, _ = make_inputs(seed=23)
    _, class_weights = make_weights(seed=24)
    logits = h @ w + b[None, :]
    for a in (0.0, 0.2):
        want = _torch_cross_entropy(logits, y, class_weights, IGNORE, a)
        got = jaxloss.fused_linear_cross_entropy(
            h,
            w,
            y,
            bias=b,
            class_weights=class_weights,
            ignore_index=IGNORE,
            label_smoothing=a,
            reduction="weighted_mean",
            chunk_size=4,
        )
        np.testing.assert_allclose(got, want, rtol=2e-6)
        # Without class weights torch's mean is our "mean" and our "weighted_mean".
        want = _torch_cross_entropy(logits, y, np.ones(V), IGNORE, a)
        for reduction in ("mean", "weighted_mean"):
            got = jaxloss.fused_linear_cross_entropy(
                h, w, y, bias=b, ignore_index=IGNORE, label_smoothing=a, reduction=reduction, chunk_size=4
            )
            np.testing.assert_allclose(got, want, rtol=2e-6)


def test_mean_with_two_of_eight_ignored():
    h, w, b, y, _ = make_inputs(n=8, seed=25, ignored=(1, 6))
    per_token = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, chunk_size=3)
    got = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, reduction="mean", chunk_size=3)
    np.testing.assert_allclose(got, jnp.sum(per_token) / 6, rtol=1e-6)
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=IGNORE, reduction="mean")
    np.testing.assert_allclose(got, loss(h @ w + b[None, :], y), rtol=2e-6)


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum_by_nonzero_weights"])
def test_zero_denominator_gives_zero(reduction):
    h, w, b, y, _ = make_inputs(seed=26, ignored=())
    cases = [dict(weights=jnp.zeros(N))]
    if reduction != "mean":  # "mean" counts tokens, whatever their weights
        cases.append(dict(class_weights=jnp.zeros(V)))
    for case in cases:
        f = lambda h, w, b, case=case: jaxloss.fused_linear_cross_entropy(
            h, w, y, bias=b, reduction=reduction, chunk_size=4, **case
        )
        value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(h, w, b)
        assert float(value) == 0.0, case
        for g in grads:
            assert not np.any(np.asarray(g))


@pytest.mark.parametrize("reduction", ["none", "mean", "weighted_mean", "sum_by_nonzero_weights"])
def test_gradient_reaches_the_token_weights(reduction):
    h, w, b, y, ct = make_inputs(seed=27)
    weights, class_weights = make_weights(seed=28)

    def grad_weights(fn):
        def scalar(t):
            out = fn(
                h,
                w,
                y,
                bias=b,
                weights=t,
                class_weights=class_weights,
                ignore_index=IGNORE,
                reduction=reduction,
                chunk_size=4,
                label_smoothing=0.1,
            )
            return jnp.sum(out * ct) if reduction == "none" else out

        return jax.jit(jax.grad(scalar))(weights)

    got, want = grad_weights(jaxloss.fused_linear_cross_entropy), grad_weights(reference)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert np.any(np.asarray(got))


def test_zero_weight_drops_a_nan_loss():
    # As in jaxloss.reduce: a token of weight 0 contributes 0 even when its
    # loss is nan (a label out of range).
    h, w, b, y, _ = make_inputs(seed=29, ignored=())
    y = y.at[3].set(V)
    weights = jnp.ones(N).at[3].set(0.0)
    for reduction in ("none", "sum", "weighted_mean"):
        got = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, weights=weights, reduction=reduction)
        assert np.all(np.isfinite(np.asarray(got))), reduction
        np.testing.assert_allclose(
            got, reference(h, w, y, bias=b, weights=weights, reduction=reduction), rtol=2e-5, atol=2e-6
        )


# --------------------------------------------------------------------------
# integer labels of any dtype
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, v", [(jnp.int8, 300), (jnp.int16, 300), (jnp.uint8, V), (jnp.uint16, V)])
def test_narrow_integer_labels_equal_int32_labels(dtype, v):
    # Labels are widened before any comparison: int8 labels against V = 300
    # classes (300 does not fit in int8), unsigned labels with ignore_index=-100.
    h, w, b, y, ct = make_inputs(v=v, seed=30, ignored=())
    y = y % min(v, int(jnp.iinfo(dtype).max) + 1)
    if jnp.issubdtype(dtype, jnp.signedinteger):
        y = y.at[0].set(IGNORE)
    for reduction in ("none", "mean"):
        got, got_g = value_and_grads(
            jaxloss.fused_linear_cross_entropy,
            h,
            w,
            b,
            y.astype(dtype),
            ct,
            reduction,
            chunk_size=4,
            ignore_index=IGNORE,
            label_smoothing=0.1,
        )
        want, want_g = value_and_grads(
            jaxloss.fused_linear_cross_entropy,
            h,
            w,
            b,
            y,
            ct,
            reduction,
            chunk_size=4,
            ignore_index=IGNORE,
            label_smoothing=0.1,
        )
        np.testing.assert_array_equal(got, want)
        for a, e in zip(got_g, want_g, strict=True):
            np.testing.assert_array_equal(a, e)
    np.testing.assert_allclose(
        got, reference(h, w, y, bias=b, ignore_index=IGNORE, label_smoothing=0.1, reduction="mean"), rtol=2e-5
    )


def test_int8_labels_past_127_classes():
    h, w, b, _, ct = make_inputs(v=300, seed=31, ignored=())
    y32 = jnp.arange(N, dtype=jnp.int32) * 9 % 128  # 0..127: every int8 label value that is a class
    y32 = y32.at[2].set(IGNORE)
    got = jaxloss.fused_linear_cross_entropy(h, w, y32.astype(jnp.int8), bias=b, ignore_index=IGNORE, chunk_size=4)
    want = reference(h, w, y32, bias=b, ignore_index=IGNORE)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    assert float(got[2]) == 0.0 and np.all(np.asarray(got[3:]) > 0)


def test_uint8_label_156_is_not_ignore_index_minus_100():
    # 156 == -100 mod 256: a uint8 label 156 is a real class, never ignored.
    h, w, b, y, ct = make_inputs(v=200, seed=32, ignored=())
    y = y.at[1].set(156)
    got = jaxloss.fused_linear_cross_entropy(
        h, w, y.astype(jnp.uint8), bias=b, ignore_index=IGNORE, reduction="none", chunk_size=4
    )
    want = reference(h, w, y, bias=b, ignore_index=IGNORE)
    assert float(got[1]) > 0.0
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    mean = jaxloss.fused_linear_cross_entropy(
        h, w, y.astype(jnp.uint8), bias=b, ignore_index=IGNORE, reduction="mean", chunk_size=4
    )
    np.testing.assert_allclose(mean, jnp.sum(want) / N, rtol=2e-6)


# --------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------


def test_eager_matches_jit():
    # The other tests run under jit; the same computation, op by op.
    h, w, b, y, ct = make_inputs(seed=13)
    f = lambda h, w, b: jax.value_and_grad(
        lambda h, w, b: jnp.sum(
            ct * jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=4, ignore_index=IGNORE)
        ),
        (0, 1, 2),
    )(h, w, b)
    eager, jitted = f(h, w, b), jax.jit(f)(h, w, b)
    for a, e in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", ["label_smoothing", "z_loss", "logit_soft_cap"])
def test_traced_options_raise(option):
    # Options are static: a traced value raises a TypeError that says so.
    h, w, b, y, _ = make_inputs(seed=14)
    f = jax.jit(lambda a: jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=4, **{option: a}))
    with pytest.raises(TypeError, match=f"`{option}` is a static option"):
        f(0.5)


def test_vmap_over_sequences():
    h, w, b, y, _ = make_inputs(n=12, seed=15)
    hb, yb = h.reshape(3, 4, D), y.reshape(3, 4)
    for reduction in ("none", "mean"):
        fn = jax.jit(
            lambda h, y, r=reduction: jaxloss.fused_linear_cross_entropy(
                h, w, y, bias=b, ignore_index=IGNORE, reduction=r, chunk_size=3
            )
        )
        batched = jax.vmap(fn)(hb, yb)
        looped = jnp.stack([fn(hb[i], yb[i]) for i in range(3)])
        np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-6)
        grad_w = jax.jit(
            lambda h, y, r=reduction: jax.grad(
                lambda w: jnp.sum(
                    jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, reduction=r, chunk_size=3)
                )
            )(w)
        )
        np.testing.assert_allclose(
            jax.vmap(grad_w)(hb, yb), jnp.stack([grad_w(hb[i], yb[i]) for i in range(3)]), rtol=1e-5, atol=1e-6
        )


def test_forward_mode_is_not_supported():
    h, w, _, y, _ = make_inputs(seed=16)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda h: jaxloss.fused_linear_cross_entropy(h, w, y), (h,), (h,))


# --------------------------------------------------------------------------
# cost structure
# --------------------------------------------------------------------------


def _count_dots(jaxpr) -> int:
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "dot_general"
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            count += _count_dots(sub)
    return count


@pytest.mark.parametrize(
    "reduction, scheme, dots",
    [
        ("mean", "tokens", 3),  # logits, d hidden, d weight in one pass; backward only scales
        ("none", "tokens", 4),  # losses; then logits, d hidden, d weight recomputed in backward
        ("mean", "vocab", 4),  # log-sum-exp pass; then logits, d hidden, d weight per vocabulary block
        ("none", "vocab", 4),
    ],
    indirect=["scheme"],
)
def test_matmul_count(reduction, scheme, dots):
    # One chunk that covers everything: each matmul appears exactly once in the program.
    h, w, b, y, _ = make_inputs(n=16, d=8, v=16, seed=17)
    f = lambda h, w: jnp.sum(jaxloss.fused_linear_cross_entropy(h, w, y, reduction=reduction, chunk_size=16))
    assert _count_dots(jax.make_jaxpr(jax.value_and_grad(f, (0, 1)))(h, w).jaxpr) == dots


@pytest.mark.parametrize("reduction, dtype", [("none", jnp.float32), ("mean", jnp.bfloat16)])
def test_never_holds_the_logits(reduction, dtype, optimized):
    n, d, v = 256, 16, 2048
    h, w, _, y, _ = make_inputs(n=n, d=d, v=v, seed=18, dtype=dtype, ignored=())
    f = lambda h, w: jnp.sum(jaxloss.fused_linear_cross_entropy(h, w, y, reduction=reduction, chunk_size=16))
    compiled = jax.jit(jax.grad(f, (0, 1))).lower(h, w).compile()
    shapes = set(re.findall(r"\[(\d+,\d+)\]", compiled.as_text()))
    assert f"{n},{v}" not in shapes and f"{v},{n}" not in shapes
    temp = compiled.memory_analysis().temp_size_in_bytes
    # The logits alone would take n * v * 4 = 2 MiB; a chunk takes 16 * v * 4 = 128 KiB. On XLA:CPU
    # a bfloat16 head is multiplied in float32: the widened weight and the float32 weight-gradient
    # accumulator take d * v * 4 = 128 KiB each more.
    assert temp < 0.3 * n * v * 4, temp


def test_auto_chunk_size():
    # A [chunk, V] float32 block of at most 16 MiB, whatever the number of tokens.
    assert _spec.choose_chunk(2048, 32768) == 128
    assert _spec.choose_chunk(8192, 32768) == 128
    assert _spec.choose_chunk(8192, 256000) == 128  # a large vocabulary: at least 128 rows
    assert _spec.choose_chunk(2048, 131072) == 128
    assert _spec.choose_chunk(256, 131072) == 32  # ... but at most an eighth of the tokens, at least 32
    assert _spec.choose_chunk(10, 32768) == 10  # never more than the tokens
    assert _spec.choose_chunk(1 << 20, 1000) == 2048  # at most 2048


# --------------------------------------------------------------------------
# argument errors, at trace time, naming the argument
# --------------------------------------------------------------------------


def _call(**overrides):
    h, w, b, y, _ = make_inputs(seed=19)
    args = dict(hidden=h, weight=w, labels=y)
    args.update(overrides)
    hidden, weight, labels = args.pop("hidden"), args.pop("weight"), args.pop("labels")
    return jax.jit(lambda: jaxloss.fused_linear_cross_entropy(hidden, weight, labels, **args))()


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"hidden": jnp.ones((N, D), jnp.int32)}, TypeError, "`hidden`"),
        ({"weight": jnp.ones((D, V), jnp.int32)}, TypeError, "`weight`"),
        ({"labels": jnp.ones((N,), jnp.float32)}, TypeError, "`labels`"),
        ({"hidden": jnp.float32(1.0)}, ValueError, "`hidden`"),
        ({"weight": jnp.ones((D + 1, V))}, ValueError, "weight_layout='VD'"),
        ({"weight": jnp.ones((D, V, 1))}, ValueError, "`weight` must be a 2-D"),
        ({"weight": jnp.ones((D, V)), "weight_layout": "VD"}, ValueError, r"\[V, D\]"),
        ({"weight": jnp.ones((D, 0))}, ValueError, "at least one class"),
        ({"labels": jnp.zeros((N + 1,), jnp.int32)}, ValueError, "`labels`"),
        ({"bias": jnp.ones((V + 1,))}, ValueError, "`bias`"),
        ({"bias": jnp.ones((V,), jnp.int32)}, TypeError, "`bias`"),
        ({"chunk_size": 0}, ValueError, "`chunk_size`"),
        ({"chunk_size": 2.5}, TypeError, "`chunk_size`"),
        ({"chunk_size": True}, TypeError, "`chunk_size`"),
        ({"ignore_index": 1.5}, TypeError, "`ignore_index`"),
        ({"label_smoothing": 1.5}, ValueError, "`label_smoothing`"),
        ({"label_smoothing": jnp.ones(2) * 0.1}, ValueError, "`label_smoothing`"),
        ({"z_loss": -1.0}, ValueError, "`z_loss`"),
        ({"logit_soft_cap": 0.0}, ValueError, "`logit_soft_cap`"),
        ({"reduction": "avg"}, ValueError, "`reduction`"),
        ({"weight_layout": "XY"}, ValueError, "`weight_layout`"),
        ({"weights": jnp.ones((N, 2))}, ValueError, "`weights`"),
        ({"weights": jnp.ones((N,), jnp.complex64)}, TypeError, "`weights`"),
        ({"class_weights": jnp.ones((V + 1,))}, ValueError, "`class_weights`"),
        ({"class_weights": -jnp.ones((V,))}, ValueError, "`class_weights`"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_argument_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        _call(**overrides)
