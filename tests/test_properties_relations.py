"""Property tests (hypothesis): paired functions agree, ``reduce`` is a
proper reduction, and masked entries never reach a value or a gradient.

Every test draws its inputs with hypothesis (profile in ``tests/conftest.py``):
the CI profile runs the simplest draw, whose choices here are all the
informative ones (a full batch, extreme magnitudes, label smoothing, a mask),
plus the pinned ``@example``s (infinite logits of zero-mass classes, 16-bit
floats, 8-bit labels, exact 0/1 labels, zero hidden vectors, empty batches
and zero weights for ``reduce``; the per-function corners, empty batches
included, are in ``test_properties_finite.py``). Shapes
come from the small sets of ``tests/strategies.py`` so that JAX compiles each
function only a few times.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import jaxloss
from tests.strategies import DTYPES, SHAPES, WITH_WHERE, cases, fewer, magnitudes, pinned_case, report, report_case

# --------------------------------------------------------------------------
# shared draws
# --------------------------------------------------------------------------


@st.composite
def logits_and_labels(draw, max_exp=(30.0, 0.0, 2.0, 15.0)):
    """``(logits [B, C], integer labels [B], dtype, rng, source)`` of mixed magnitudes."""
    dtype = jnp.dtype(draw(st.sampled_from(DTYPES)))
    b, c = draw(st.sampled_from(SHAPES))
    exp = draw(st.sampled_from(max_exp))
    if dtype == jnp.float16:
        exp = min(exp, 3.5)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = jnp.asarray(magnitudes(rng, (b, c), exp, -7.0 if dtype == jnp.float16 else -30.0), dtype)
    labels = jnp.asarray(rng.integers(0, c, size=b), jnp.int32)
    return logits, labels, dtype, rng, "draw"


def pinned_logits(shape=(3, 4), dtype=jnp.float32, exp=30.0, label_dtype=jnp.int32, neg_inf=False, seed=1):
    """A fixed ``logits_and_labels`` example; ``neg_inf``: every non-label logit of row 0 is ``-inf``."""
    rng = np.random.default_rng(seed)
    b, c = shape
    x = magnitudes(rng, shape, exp, -7.0 if dtype == jnp.float16 else -30.0)
    labels = rng.integers(0, c, size=b)
    if neg_inf and b:
        x[0] = np.where(np.arange(c) == labels[0], x[0], -np.inf)
    source = f"{jnp.dtype(dtype)} {b}x{c} 1e{exp:g} {jnp.dtype(label_dtype)}" + (" -inf" if neg_inf else "")
    return jnp.asarray(x, dtype), jnp.asarray(labels, label_dtype), jnp.dtype(dtype), rng, source


def _close(actual, expected, what, rtol=2e-5, atol=1e-6):
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol, err_msg=what
    )


def _rel_close(actual, expected, what, rtol=2e-5, scale=None):
    """Relative to the largest entry (or ``scale``): differences of huge logits round at that scale."""
    expected = np.asarray(expected, np.float64)
    if scale is None:
        scale = float(np.max(np.abs(expected), initial=0.0))
    _close(actual, expected, what, rtol=rtol, atol=rtol * max(1.0, scale))


# --------------------------------------------------------------------------
# (c) paired functions agree
# --------------------------------------------------------------------------


@given(data=logits_and_labels(), smoothing=st.sampled_from([0.1, 0.0, 1.0]), masked=st.sampled_from([True, False]))
@example(data=pinned_logits(neg_inf=True, label_dtype=jnp.int8), smoothing=0.0, masked=True)
@example(data=pinned_logits(dtype=jnp.bfloat16, label_dtype=jnp.uint8), smoothing=0.1, masked=False)
def test_softmax_cross_entropy_on_one_hot_equals_sparse(data, smoothing, masked):
    logits, labels, _, rng, source = data
    b, c = logits.shape
    where = None
    if masked and b:
        mask = rng.uniform(size=(b, c)) < 0.6
        mask[0, (int(labels[0]) + 1) % c] = False  # something is masked
        mask[np.arange(b), np.asarray(labels, np.int64)] = True
        where = jnp.asarray(mask)
    report(
        "softmax_cross_entropy = sparse",
        source,
        [logits, labels, where],
        options={"label_smoothing": smoothing, "masked": masked},
    )
    onehot = jax.nn.one_hot(labels, c, dtype=jnp.float32)

    def dense(z):
        return jaxloss.softmax_cross_entropy(z, onehot, label_smoothing=smoothing, where=where)

    def sparse(z):
        return jaxloss.sparse_softmax_cross_entropy(z, labels, label_smoothing=smoothing, where=where)

    _rel_close(dense(logits), sparse(logits), "values")
    g_dense = jax.grad(lambda z: jnp.sum(dense(z)))(logits)
    g_sparse = jax.grad(lambda z: jnp.sum(sparse(z)))(logits)
    assert np.all(np.isfinite(np.asarray(g_sparse, np.float64))), g_sparse
    _close(g_dense, g_sparse, "gradients", rtol=1e-2 if logits.dtype != jnp.float32 else 2e-5, atol=1e-5)


@given(data=logits_and_labels(max_exp=(0.5, 0.0)), smoothing=st.sampled_from([0.1, 0.0]))
@example(data=pinned_logits(dtype=jnp.bfloat16, exp=0.5), smoothing=0.0)
def test_categorical_cross_entropy_of_softmax_equals_softmax_cross_entropy(data, smoothing):
    # Away from the clip: |z| <= ~3 keeps every probability above 1e-7.
    logits, labels, _, rng, source = data
    logits = jnp.clip(logits, -3, 3)
    c = logits.shape[-1]
    soft = jnp.asarray(rng.dirichlet(np.ones(c), size=logits.shape[0]), jnp.float32)
    report(
        "categorical_cross_entropy(softmax) = softmax_cross_entropy",
        source,
        [logits, soft],
        options={"label_smoothing": smoothing},
    )

    def from_probs(z):
        return jaxloss.categorical_cross_entropy(jax.nn.softmax(z.astype(jnp.float32)), soft, label_smoothing=smoothing)

    def from_logits(z):
        return jaxloss.softmax_cross_entropy(z, soft, label_smoothing=smoothing)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-5, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-4, atol=1e-5)


def _binary_labels(rng, shape, exact: bool):
    """Soft labels in [0, 1] with, when ``exact``, a third of them exactly 0 or 1."""
    labels = rng.uniform(size=shape)
    if exact:
        labels = np.where(rng.uniform(size=shape) < 0.33, rng.integers(0, 2, size=shape), labels)
    return jnp.asarray(labels, jnp.float32)


@given(
    data=logits_and_labels(max_exp=(0.7, 0.0)),
    smoothing=st.sampled_from([0.1, 0.0]),
    exact=st.sampled_from([True, False]),
)
@example(data=pinned_logits(dtype=jnp.float16, exp=0.7), smoothing=0.0, exact=True)
def test_binary_cross_entropy_of_sigmoid_equals_sigmoid_binary_cross_entropy(data, smoothing, exact):
    # Away from the clip: |z| <= 5 keeps sigmoid(z) inside [1e-7, 1 - 1e-7] with room.
    logits, _, _, rng, source = data
    logits = jnp.clip(logits, -5, 5)
    labels = _binary_labels(rng, logits.shape, exact)
    report(
        "binary_cross_entropy(sigmoid) = sigmoid_binary_cross_entropy",
        source,
        [logits, labels],
        options={"label_smoothing": smoothing},
    )

    def from_probs(z):
        return jaxloss.binary_cross_entropy(jax.nn.sigmoid(z.astype(jnp.float32)), labels, label_smoothing=smoothing)

    def from_logits(z):
        return jaxloss.sigmoid_binary_cross_entropy(z, labels, label_smoothing=smoothing)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-4, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@given(
    data=logits_and_labels(max_exp=(0.7, 0.0)), gamma=st.sampled_from([2.0, 0.0]), alpha=st.sampled_from([0.25, None])
)
@example(data=pinned_logits(dtype=jnp.bfloat16, exp=0.7), gamma=2.0, alpha=None)
def test_binary_focal_cross_entropy_of_sigmoid_equals_sigmoid_focal_loss(data, gamma, alpha):
    logits, _, _, rng, source = data
    logits = jnp.clip(logits, -5, 5)
    labels = jnp.asarray(rng.integers(0, 2, size=logits.shape), jnp.float32)
    report(
        "binary_focal_cross_entropy(sigmoid) = sigmoid_focal_loss",
        source,
        [logits, labels],
        options={"gamma": gamma, "alpha": alpha},
    )

    def from_probs(z):
        return jaxloss.binary_focal_cross_entropy(
            jax.nn.sigmoid(z.astype(jnp.float32)), labels, gamma=gamma, alpha=alpha
        )

    def from_logits(z):
        return jaxloss.sigmoid_focal_loss(z, labels, gamma=gamma, alpha=alpha)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-3, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@given(
    data=logits_and_labels(max_exp=(0.5, 0.0)), gamma=st.sampled_from([2.0, 0.0]), alpha=st.sampled_from([0.25, None])
)
@example(data=pinned_logits(dtype=jnp.float16, exp=0.5, label_dtype=jnp.int8), gamma=2.0, alpha=0.25)
def test_categorical_focal_cross_entropy_of_softmax_equals_softmax_focal_loss(data, gamma, alpha):
    logits, labels, _, _, source = data
    logits = jnp.clip(logits, -3, 3)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    report(
        "categorical_focal_cross_entropy(softmax) = softmax_focal_loss",
        source,
        [logits, labels],
        options={"gamma": gamma, "alpha": alpha},
    )

    def from_probs(z):
        return jaxloss.categorical_focal_cross_entropy(
            jax.nn.softmax(z.astype(jnp.float32)), onehot, gamma=gamma, alpha=alpha
        )

    def from_logits(z):
        return jaxloss.softmax_focal_loss(z, onehot, gamma=gamma, alpha=alpha)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-4, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@st.composite
def fused_problems(draw):
    b, d, v = 4, 3, 5
    exp = draw(st.sampled_from((8.0, 0.0, 1.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hidden = jnp.asarray(magnitudes(rng, (b, d), exp), jnp.float32)
    weight = jnp.asarray(rng.normal(size=(d, v)), jnp.float32)
    labels = rng.integers(0, v, size=b)
    ignore = draw(st.sampled_from((-100, None)))
    if ignore is not None:
        labels = np.where(rng.uniform(size=b) < 0.3, ignore, labels)
        labels[:2] = [ignore, rng.integers(0, v)]  # one ignored token and one that is not
    options = {
        "ignore_index": ignore,
        "label_smoothing": draw(st.sampled_from((0.1, 0.0))),
        "z_loss": draw(st.sampled_from((1e-3, 0.0))),
    }
    chunk = draw(st.sampled_from((2, None)))
    bias = draw(st.sampled_from(("bias", None)))
    bias = None if bias is None else jnp.asarray(rng.normal(size=(v,)), jnp.float32)
    return hidden, weight, jnp.asarray(labels, jnp.int32), bias, chunk, options, "draw"


def _pinned_fused():
    """Zero hidden vectors next to a huge one and an ignored token (the draw's options: no extra compile)."""
    rng = np.random.default_rng(2)
    hidden = jnp.asarray([[0.0, 0.0, 0.0], [1e8, -1e8, 1e-30], [0.5, -1.0, 2.0], [0.0, 0.0, 0.0]], jnp.float32)
    weight = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    labels = jnp.asarray([4, -100, 0, 2], jnp.int32)
    options = {"ignore_index": -100, "label_smoothing": 0.1, "z_loss": 1e-3}
    bias = jnp.asarray(rng.normal(size=(5,)), jnp.float32)
    return hidden, weight, labels, bias, 2, options, "zero rows, 1e8"


@fewer()
@given(problem=fused_problems())
@example(problem=_pinned_fused())
def test_fused_linear_cross_entropy_equals_unfused(problem):
    hidden, weight, labels, bias, chunk, options, source = problem
    report(
        "fused_linear_cross_entropy = unfused",
        source,
        [hidden, weight, labels, bias],
        options={**options, "chunk_size": chunk},
    )

    def fused(h, w):
        return jaxloss.fused_linear_cross_entropy(h, w, labels, bias=bias, chunk_size=chunk, **options)

    def unfused(h, w):
        logits = h @ w if bias is None else h @ w + bias[None, :]
        return jaxloss.sparse_softmax_cross_entropy(logits, labels, **options)

    _rel_close(fused(hidden, weight), unfused(hidden, weight), "values", rtol=1e-5)
    g_f = jax.grad(lambda h, w: jnp.sum(fused(h, w)), argnums=(0, 1))(hidden, weight)
    g_u = jax.grad(lambda h, w: jnp.sum(unfused(h, w)), argnums=(0, 1))(hidden, weight)
    for a, e, n in zip(g_f, g_u, ("hidden", "weight"), strict=True):
        _rel_close(a, e, f"gradient wrt {n}", rtol=1e-4)


# --------------------------------------------------------------------------
# (d) reduce
# --------------------------------------------------------------------------


@st.composite
def reduce_problems(draw, exp=(15.0, 0.0, 2.0)):
    shape = draw(st.sampled_from(((2, 3), (5,), (1,), (0,))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    e = draw(st.sampled_from(exp))
    losses = jnp.asarray(magnitudes(rng, shape, e), jnp.float32)
    weights = np.where(rng.uniform(size=shape) < 0.3, 0.0, rng.uniform(0, 3, size=shape))
    if weights.size >= 2:
        weights.flat[:2] = [0.0, rng.uniform(0.5, 3)]  # a zero weight and a nonzero one
    where = None
    if draw(st.sampled_from([True, False])):
        where = rng.uniform(size=shape) < 0.7
        if where.size >= 3:
            where.flat[1:3] = [True, False]  # keeps the nonzero weight, drops something
        where = jnp.asarray(where)
    return losses, jnp.asarray(weights, jnp.float32), where, rng, "draw"


def _pinned_reduce(kind: str):
    rng = np.random.default_rng(3)
    if kind == "empty":
        return jnp.zeros((0,), jnp.float32), jnp.zeros((0,), jnp.float32), jnp.zeros((0,), bool), rng, kind
    if kind == "huge":  # +-1e30 next to ordinary losses, weights 0 and 1e-3
        losses = jnp.asarray([[1e30, -2.5, 1e-30], [-1e30, 3.0, 0.0]], jnp.float32)
        weights = jnp.asarray([[1e-3, 0.0, 1.0], [2.0, 1.0, 0.0]], jnp.float32)
        return losses, weights, None, rng, kind
    # one weight and one unmasked entry left
    losses = jnp.asarray([2.0, -1.0, 7.0, 0.5, 3.0], jnp.float32)
    weights = jnp.asarray([0.0, 0.0, 1.5, 0.0, 2.0], jnp.float32)
    return losses, weights, jnp.asarray([True, True, True, True, False]), rng, kind


def _terms_scale(losses, weights, where=None):
    """Sum of the weighted terms' magnitudes: what a sum rounds at, whatever cancels."""
    w = np.asarray(weights, np.float64) * (1.0 if where is None else np.asarray(where, np.float64))
    return float(np.sum(np.abs(np.asarray(losses, np.float64) * w)))


def _report_reduce(test, problem, options):
    losses, weights, where, _, source = problem
    report(test, source, [losses, weights, where], options=options)


@pytest.mark.parametrize("reduction", jaxloss.REDUCTIONS)
@given(problem=reduce_problems())
@example(problem=_pinned_reduce("huge"))
@example(problem=_pinned_reduce("empty"))
def test_reduce_invariant_to_permuting_the_batch(problem, reduction):
    losses, weights, where, rng, _ = problem
    _report_reduce("reduce: permutation", problem, {"reduction": reduction})
    perm = rng.permutation(losses.shape[0])
    out = jaxloss.reduce(losses, weights, reduction=reduction, where=where)
    permuted = jaxloss.reduce(
        losses[perm], weights[perm], reduction=reduction, where=None if where is None else where[perm]
    )
    if reduction == "none":
        out = out[perm]
    scale = None if reduction == "none" else _terms_scale(losses, weights, where)
    _rel_close(permuted, out, f"{reduction}: permuted batch", rtol=1e-5, scale=scale)
    assert not np.any(np.isnan(np.asarray(out))), out


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@given(problem=reduce_problems(exp=(8.0, 0.0, 2.0)), a=st.sampled_from([0.5, 0.0, 3.0]), b=st.sampled_from([2.5, 1.0]))
@example(problem=_pinned_reduce("last"), a=3.0, b=1.0)
def test_reduce_linear_in_weights(problem, reduction, a, b):
    losses, w1, where, rng, _ = problem
    _report_reduce("reduce: linear in weights", problem, {"reduction": reduction, "a": a, "b": b})
    w2 = jnp.asarray(rng.uniform(0, 2, size=losses.shape), jnp.float32)

    def r(w):
        return jaxloss.reduce(losses, w, reduction=reduction, where=where)

    scale = None if reduction == "none" else _terms_scale(losses, a * w1 + b * w2, where)
    _rel_close(r(a * w1 + b * w2), a * r(w1) + b * r(w2), f"{reduction}: linearity", rtol=1e-5, scale=scale)


@given(problem=reduce_problems(exp=(8.0, 0.0, 2.0)), scale=st.sampled_from([3.0, 0.25, 1e4]))
@example(problem=_pinned_reduce("last"), scale=1e4)
def test_reduce_normalised_reductions_scale_correctly(problem, scale):
    losses, w, where, _, _ = problem
    _report_reduce("reduce: normalised", problem, {"scale": scale})
    terms = _terms_scale(losses, w, where)
    # weighted_mean is invariant to scaling the weights, sum_by_nonzero_weights scales with them.
    wm = jaxloss.reduce(losses, w, reduction="weighted_mean", where=where)
    wsum = float(np.sum(np.asarray(w, np.float64) * (1.0 if where is None else np.asarray(where))))
    _rel_close(
        jaxloss.reduce(losses, scale * w, reduction="weighted_mean", where=where),
        wm,
        "weighted_mean",
        scale=terms / wsum if wsum else None,
    )
    snz = jaxloss.reduce(losses, w, reduction="sum_by_nonzero_weights", where=where)
    _rel_close(
        jaxloss.reduce(losses, scale * w, reduction="sum_by_nonzero_weights", where=where),
        scale * snz,
        "sum_by_nonzero_weights",
        scale=scale * terms,
    )


@pytest.mark.parametrize("reduction", jaxloss.REDUCTIONS)
@given(problem=reduce_problems(exp=(30.0, 0.0)), poison=st.sampled_from([True, False]))
@example(problem=_pinned_reduce("huge"), poison=True)
def test_reduce_is_zero_not_nan_when_every_weight_or_mask_is_zero(problem, reduction, poison):
    losses, _, _, _, _ = problem
    _report_reduce("reduce: zero weights", problem, {"reduction": reduction, "poison": poison})
    if poison and losses.size:
        losses = losses.at[(0,) * losses.ndim].set(jnp.nan)
    zeros = jnp.zeros(losses.shape, jnp.float32)
    nowhere = jnp.zeros(losses.shape, bool)
    for kwargs in ({"weights": zeros}, {"where": nowhere}, {"weights": zeros, "where": nowhere}):
        if poison and "where" not in kwargs:
            continue  # a nan loss with weight 0 and no mask: only the mask promises to drop it
        out = jaxloss.reduce(losses, reduction=reduction, **kwargs)
        np.testing.assert_array_equal(out, np.zeros(out.shape), err_msg=f"{reduction} {list(kwargs)}")
        grad = jax.grad(lambda l, kw=kwargs: jnp.sum(jaxloss.reduce(l, reduction=reduction, **kw)))(losses)
        np.testing.assert_array_equal(grad, np.zeros(grad.shape), err_msg=f"{reduction} gradient {list(kwargs)}")
        if "weights" in kwargs:
            gw = jax.grad(
                lambda w, kw=kwargs: jnp.sum(
                    jaxloss.reduce(jnp.nan_to_num(losses), reduction=reduction, **{**kw, "weights": w})
                )
            )(zeros)
            assert np.all(np.isfinite(np.asarray(gw))), f"{reduction}: gradient wrt weights {gw}"


# --------------------------------------------------------------------------
# (e) masked entries never reach a value or a gradient, even as nan
# --------------------------------------------------------------------------


def _check_masked(case) -> None:
    spec = case.spec
    report_case(case, source=case.source + " masked")
    where = case.kwargs.pop("where")
    shape = where.shape
    poisoned = [
        jnp.where(where, a, jnp.nan).astype(a.dtype)
        if jnp.issubdtype(a.dtype, jnp.floating) and a.shape == shape
        else a
        for a in case.args
    ]

    def scalar(args):
        def f(*diff):
            full = list(args)
            for i, x in zip(spec.diff, diff, strict=True):
                full[i] = x
            return jnp.sum(case.call(*full, where=where))

        return f

    clean_value = case.call(*case.args, where=where)
    value = case.call(*poisoned, where=where)
    np.testing.assert_array_equal(
        np.asarray(value), np.asarray(clean_value), err_msg=f"{spec.name}: nan in masked entries changed the value"
    )
    argnums = tuple(range(len(spec.diff)))
    g_clean = jax.grad(scalar(case.args), argnums=argnums)(*[case.args[i] for i in spec.diff])
    g = jax.grad(scalar(poisoned), argnums=argnums)(*[poisoned[i] for i in spec.diff])
    for i, gc, gp in zip(spec.diff, g_clean, g, strict=True):
        gp = np.asarray(gp, np.float64)
        if case.args[i].shape == shape:
            masked = ~np.asarray(where)
            np.testing.assert_array_equal(gp[masked], 0.0, err_msg=f"{spec.name}: gradient at masked entries")
        np.testing.assert_array_equal(
            gp, np.asarray(gc, np.float64), err_msg=f"{spec.name}: nan in masked entries changed gradient {i}"
        )


@pytest.mark.parametrize("spec", WITH_WHERE, ids=repr)
@fewer()
@given(data=st.data())
def test_masked_entries_never_affect_values_or_gradients(spec, data):
    _check_masked(data.draw(cases(spec, with_where=True)))


@pytest.mark.parametrize("spec", WITH_WHERE, ids=repr)
def test_masked_entries_never_affect_values_or_gradients_at_extremes(spec):
    # +-1e30, zero vectors, exact 0/1 targets and a fully masked row (where no integer target forbids it)
    _check_masked(pinned_case(spec, "extremes"))
