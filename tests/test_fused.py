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
from jaxloss import _fused

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
    monkeypatch.setattr(_fused, "_choose_scheme", lambda *_: request.param)
    monkeypatch.setattr(_fused, "_MIN_VOCAB_BLOCK", 4)
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


def reference(hidden, weight, labels, *, bias=None, ignore_index=None, label_smoothing=0.0, z_loss=0.0,
              logit_soft_cap=None, reduction="none", weight_layout="DV", chunk_size=None, where=None):
    """The unfused computation the fused loss must equal."""
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
        logits, labels, label_smoothing=label_smoothing, ignore_index=ignore_index, z_loss=z_loss, where=where)
    weights = None if ignore_index is None else (labels != ignore_index)
    return jaxloss.reduce(losses, weights, reduction=reduction)


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
    got, got_g = value_and_grads(jaxloss.fused_linear_cross_entropy, hidden, weight, bias, labels, cotangent,
                                 reduction, **options)
    want, want_g = value_and_grads(reference, hidden, weight, bias, labels, cotangent, reduction, **options)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg="value")
    for name, a, b, x in zip(("hidden", "weight", "bias"), got_g, want_g, (hidden, weight, bias), strict=True):
        assert a.dtype == x.dtype and a.shape == x.shape, name
        scale = float(jnp.max(jnp.abs(b.astype(jnp.float32)))) or 1.0
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=rtol,
                                   atol=atol * scale, err_msg=f"d {name}")


# --------------------------------------------------------------------------
# values and gradients against the unfused computation
# --------------------------------------------------------------------------


_UNFUSED_CASES = [("tokens", r, "all_options") for r in REDUCTIONS] + [
    ("tokens", "none", "plain"), ("tokens", "weighted_mean", "ignore"),
    # The reductions are shared code: the vocabulary scheme needs "none" and one scalar.
    ("vocab", "none", "all_options"), ("vocab", "sum_by_nonzero_weights", "all_options"), ("vocab", "mean", "plain")]
_OPTION_SETS = {"plain": {}, "ignore": {"ignore_index": IGNORE}, "all_options": ALL_OPTIONS}


@pytest.mark.parametrize("scheme, reduction, options", _UNFUSED_CASES, indirect=["scheme"],
                         ids=["-".join(c) for c in _UNFUSED_CASES])
def test_matches_unfused(scheme, reduction, options):
    options = _OPTION_SETS[options]
    h, w, b, y, ct = make_inputs(ignored=(2, 7) if options else ())
    assert_matches(h, w, b, y, ct, reduction, chunk_size=4, **options)


@pytest.mark.parametrize("scheme, chunk_size, reduction", [
    ("tokens", 1, "none"), ("tokens", 5, "weighted_mean"), ("tokens", 13, "sum"), ("tokens", 64, "none"),
    ("vocab", 1, "mean"), ("vocab", 5, "none")],
    indirect=["scheme"])
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
        h3, w, y3, chunk_size=5, ignore_index=IGNORE)
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, reference(h3, w, y3, ignore_index=IGNORE), rtol=2e-5, atol=2e-5)
    g = jax.jit(jax.grad(lambda h, w: jaxloss.fused_linear_cross_entropy(h, w, y3, reduction="mean"), (0, 1)))(h3, w)
    r = jax.jit(jax.grad(lambda h, w: reference(h, w, y3, reduction="mean"), (0, 1)))(h3, w)
    for a, e in zip(g, r, strict=True):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6)


def test_float64_is_exact():
    with jax.enable_x64(True):
        h, w, b, y, ct = (x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x
                          for x in make_inputs(seed=5))
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
    f = lambda h, w, b: jnp.sum(jaxloss.fused_linear_cross_entropy(
        h, w, y, bias=b, ignore_index=IGNORE, reduction=reduction, chunk_size=4))
    value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(h, w, b)
    assert float(value) == 0.0
    for g in grads:
        assert not np.any(np.asarray(g))


def test_mean_divides_by_all_tokens_weighted_mean_by_kept():
    h, w, b, y, _ = make_inputs(seed=9)
    per_token = jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE)
    assert float(per_token[2]) == 0.0 and float(per_token[7]) == 0.0
    kept = N - 2
    for reduction, den in [("sum", 1), ("mean", N), ("weighted_mean", kept), ("sum_by_nonzero_weights", kept)]:
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
    f = lambda fn: jax.jit(jax.grad(lambda h, w: jnp.sum(jnp.where(jnp.isnan(l := fn(h, w, y, bias=b)), 0.0, l)),
                                    (0, 1)))(h, w)
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
    got, got_g = value_and_grads(jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, reduction,
                                 label_smoothing=0.2, chunk_size=5)
    want, want_g = value_and_grads(reference, h, w, b, y, ct, reduction, label_smoothing=0.2,
                                   where=jnp.isfinite(b))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    for a, e in zip(got_g[:2], want_g[:2], strict=True):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-5)
    assert np.all(np.isfinite(np.asarray(got_g[0])))


def test_huge_logits_are_finite(scheme):
    h, w, b, y, ct = make_inputs(seed=12, scale=1e4)
    got, grads = value_and_grads(jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, "mean", chunk_size=4,
                                 ignore_index=IGNORE)
    want, _ = value_and_grads(reference, h, w, b, y, ct, "mean", ignore_index=IGNORE)
    assert np.isfinite(got) and all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    np.testing.assert_allclose(got, want, rtol=1e-5)


# --------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------


def test_eager_matches_jit():
    # The other tests run under jit; the same computation, op by op.
    h, w, b, y, ct = make_inputs(seed=13)
    f = lambda h, w, b: jax.value_and_grad(lambda h, w, b: jnp.sum(ct * jaxloss.fused_linear_cross_entropy(
        h, w, y, bias=b, chunk_size=4, ignore_index=IGNORE)), (0, 1, 2))(h, w, b)
    eager, jitted = f(h, w, b), jax.jit(f)(h, w, b)
    for a, e in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_traced_options_under_jit():
    h, w, b, y, _ = make_inputs(seed=14)
    f = jax.jit(lambda a, z, c: jaxloss.fused_linear_cross_entropy(
        h, w, y, bias=b, ignore_index=IGNORE, label_smoothing=a, z_loss=z, logit_soft_cap=c, chunk_size=4))
    np.testing.assert_allclose(f(0.1, 1e-2, 2.5), reference(h, w, y, bias=b, **ALL_OPTIONS), rtol=2e-5, atol=2e-5)


def test_vmap_over_sequences():
    h, w, b, y, _ = make_inputs(n=12, seed=15)
    hb, yb = h.reshape(3, 4, D), y.reshape(3, 4)
    for reduction in ("none", "mean"):
        fn = jax.jit(lambda h, y, r=reduction: jaxloss.fused_linear_cross_entropy(
            h, w, y, bias=b, ignore_index=IGNORE, reduction=r, chunk_size=3))
        batched = jax.vmap(fn)(hb, yb)
        looped = jnp.stack([fn(hb[i], yb[i]) for i in range(3)])
        np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-6)
        grad_w = jax.jit(lambda h, y, r=reduction: jax.grad(lambda w: jnp.sum(jaxloss.fused_linear_cross_entropy(
            h, w, y, bias=b, ignore_index=IGNORE, reduction=r, chunk_size=3)))(w))
        np.testing.assert_allclose(jax.vmap(grad_w)(hb, yb), jnp.stack([grad_w(hb[i], yb[i]) for i in range(3)]),
                                   rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("reduction, scheme, dots", [
    ("mean", "tokens", 3),  # logits, d hidden, d weight in one pass; backward only scales
    ("none", "tokens", 4),  # losses; then logits, d hidden, d weight recomputed in backward
    ("mean", "vocab", 4),  # log-sum-exp pass; then logits, d hidden, d weight per vocabulary block
    ("none", "vocab", 4),
], indirect=["scheme"])
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
    # The logits alone would take n * v * 4 = 2 MiB; the chunks take 16 * v * 4 = 128 KiB each.
    # (XLA:CPU converts a bfloat16 weight to float32 once: d * v * 4 = 128 KiB more.)
    assert temp < 0.25 * n * v * 4, temp


def test_auto_chunk_size():
    assert _fused._auto_chunk(2048, 512, 32768) == 64  # chunk * V ~ N * D, at least 64
    assert _fused._auto_chunk(8192, 2304, 256000) == 128
    assert _fused._auto_chunk(10, 512, 32768) == 10  # never more than the tokens
    assert _fused._auto_chunk(1 << 20, 4096, 1000) == 2048


# --------------------------------------------------------------------------
# argument errors, at trace time, naming the argument
# --------------------------------------------------------------------------


def _call(**overrides):
    h, w, b, y, _ = make_inputs(seed=19)
    args = dict(hidden=h, weight=w, labels=y)
    args.update(overrides)
    hidden, weight, labels = args.pop("hidden"), args.pop("weight"), args.pop("labels")
    return jax.jit(lambda: jaxloss.fused_linear_cross_entropy(hidden, weight, labels, **args))()


@pytest.mark.parametrize("overrides, error, match", [
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
], ids=lambda x: x if isinstance(x, str) else None)
def test_argument_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        _call(**overrides)
