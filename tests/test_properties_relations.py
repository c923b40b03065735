"""Property tests (hypothesis): paired functions agree, ``reduce`` is a
proper reduction, and masked entries never reach a value or a gradient.

Every test draws its inputs with hypothesis (profile in ``tests/conftest.py``).
Shapes come from the small sets of ``tests/strategies.py`` so that JAX
compiles each function only a few times.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxloss
from tests.strategies import DTYPES, SHAPES, WITH_WHERE, cases, fewer, magnitudes

# --------------------------------------------------------------------------
# shared draws
# --------------------------------------------------------------------------


@st.composite
def logits_and_labels(draw, max_exp=(0.0, 2.0, 15.0, 30.0)):
    """``(logits [B, C], integer labels [B], dtype, rng)`` of mixed magnitudes."""
    dtype = jnp.dtype(draw(st.sampled_from(DTYPES)))
    b, c = draw(st.sampled_from(SHAPES))
    exp = draw(st.sampled_from(max_exp))
    if dtype == jnp.float16:
        exp = min(exp, 3.5)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = jnp.asarray(magnitudes(rng, (b, c), exp), dtype)
    labels = jnp.asarray(rng.integers(0, c, size=b), jnp.int32)
    return logits, labels, dtype, rng


def _close(actual, expected, what, rtol=2e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol, err_msg=what)


def _rel_close(actual, expected, what, rtol=2e-5):
    """Relative to the largest entry: differences of huge logits round at that scale."""
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    _close(actual, expected, what, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------
# (c) paired functions agree
# --------------------------------------------------------------------------


@given(data=logits_and_labels(), smoothing=st.sampled_from([0.0, 0.1, 1.0]), masked=st.booleans())
def test_softmax_cross_entropy_on_one_hot_equals_sparse(data, smoothing, masked):
    logits, labels, _, rng = data
    b, c = logits.shape
    where = None
    if masked and b:
        mask = rng.uniform(size=(b, c)) < 0.6
        mask[np.arange(b), np.asarray(labels)] = True
        where = jnp.asarray(mask)
    onehot = jax.nn.one_hot(labels, c, dtype=jnp.float32)

    def dense(z):
        return jaxloss.softmax_cross_entropy(z, onehot, label_smoothing=smoothing, where=where)

    def sparse(z):
        return jaxloss.sparse_softmax_cross_entropy(z, labels, label_smoothing=smoothing, where=where)

    _rel_close(dense(logits), sparse(logits), "values")
    g_dense = jax.grad(lambda z: jnp.sum(dense(z)))(logits)
    g_sparse = jax.grad(lambda z: jnp.sum(sparse(z)))(logits)
    _close(g_dense, g_sparse, "gradients", rtol=1e-2 if logits.dtype != jnp.float32 else 2e-5, atol=1e-5)


@given(data=logits_and_labels(max_exp=(0.0, 0.5)), smoothing=st.sampled_from([0.0, 0.1]))
def test_categorical_cross_entropy_of_softmax_equals_softmax_cross_entropy(data, smoothing):
    # Away from the clip: |z| <= ~3 keeps every probability above 1e-7.
    logits, labels, _, rng = data
    logits = jnp.clip(logits, -3, 3)
    c = logits.shape[-1]
    soft = jnp.asarray(rng.dirichlet(np.ones(c), size=logits.shape[0]), jnp.float32)

    def from_probs(z):
        return jaxloss.categorical_cross_entropy(jax.nn.softmax(z.astype(jnp.float32)), soft,
                                                 label_smoothing=smoothing)

    def from_logits(z):
        return jaxloss.softmax_cross_entropy(z, soft, label_smoothing=smoothing)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-5, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-4, atol=1e-5)


@given(data=logits_and_labels(max_exp=(0.0, 0.7)), smoothing=st.sampled_from([0.0, 0.1]))
def test_binary_cross_entropy_of_sigmoid_equals_sigmoid_binary_cross_entropy(data, smoothing):
    # Away from the clip: |z| <= 5 keeps sigmoid(z) inside [1e-7, 1 - 1e-7] with room.
    logits, _, _, rng = data
    logits = jnp.clip(logits, -5, 5)
    labels = jnp.asarray(rng.uniform(size=logits.shape), jnp.float32)

    def from_probs(z):
        return jaxloss.binary_cross_entropy(jax.nn.sigmoid(z.astype(jnp.float32)), labels,
                                            label_smoothing=smoothing)

    def from_logits(z):
        return jaxloss.sigmoid_binary_cross_entropy(z, labels, label_smoothing=smoothing)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-4, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@given(data=logits_and_labels(max_exp=(0.0, 0.7)), gamma=st.sampled_from([0.0, 2.0]),
       alpha=st.sampled_from([None, 0.25]))
def test_binary_focal_cross_entropy_of_sigmoid_equals_sigmoid_focal_loss(data, gamma, alpha):
    logits, _, _, rng = data
    logits = jnp.clip(logits, -5, 5)
    labels = jnp.asarray(rng.integers(0, 2, size=logits.shape), jnp.float32)

    def from_probs(z):
        return jaxloss.binary_focal_cross_entropy(jax.nn.sigmoid(z.astype(jnp.float32)), labels, gamma=gamma,
                                                  alpha=alpha)

    def from_logits(z):
        return jaxloss.sigmoid_focal_loss(z, labels, gamma=gamma, alpha=alpha)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-3, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@given(data=logits_and_labels(max_exp=(0.0, 0.5)), gamma=st.sampled_from([0.0, 2.0]),
       alpha=st.sampled_from([None, 0.25]))
def test_categorical_focal_cross_entropy_of_softmax_equals_softmax_focal_loss(data, gamma, alpha):
    logits, labels, _, _ = data
    logits = jnp.clip(logits, -3, 3)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)

    def from_probs(z):
        return jaxloss.categorical_focal_cross_entropy(jax.nn.softmax(z.astype(jnp.float32)), onehot, gamma=gamma,
                                                       alpha=alpha)

    def from_logits(z):
        return jaxloss.softmax_focal_loss(z, onehot, gamma=gamma, alpha=alpha)

    _close(from_probs(logits), from_logits(logits), "values", rtol=1e-4, atol=1e-5)
    g_p = jax.grad(lambda z: jnp.sum(from_probs(z)))(logits)
    g_l = jax.grad(lambda z: jnp.sum(from_logits(z)))(logits)
    _close(g_p, g_l, "gradients", rtol=1e-3, atol=1e-5)


@st.composite
def fused_problems(draw):
    b, d, v = 4, 3, 5
    exp = draw(st.sampled_from((0.0, 1.0, 8.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hidden = jnp.asarray(magnitudes(rng, (b, d), exp), jnp.float32)
    weight = jnp.asarray(rng.normal(size=(d, v)), jnp.float32)
    labels = rng.integers(0, v, size=b)
    ignore = draw(st.sampled_from((None, -100)))
    if ignore is not None:
        labels = np.where(rng.uniform(size=b) < 0.3, ignore, labels)
    options = {
        "ignore_index": ignore,
        "label_smoothing": draw(st.sampled_from((0.0, 0.1))),
        "z_loss": draw(st.sampled_from((0.0, 1e-3))),
    }
    chunk = draw(st.sampled_from((None, 2)))
    bias = draw(st.sampled_from((None, "bias")))
    bias = None if bias is None else jnp.asarray(rng.normal(size=(v,)), jnp.float32)
    return hidden, weight, jnp.asarray(labels, jnp.int32), bias, chunk, options


@fewer()
@given(problem=fused_problems())
def test_fused_linear_cross_entropy_equals_unfused(problem):
    hidden, weight, labels, bias, chunk, options = problem

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
def reduce_problems(draw, exp=(0.0, 2.0, 15.0)):
    shape = draw(st.sampled_from(((0,), (1,), (5,), (2, 3))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    e = draw(st.sampled_from(exp))
    losses = jnp.asarray(magnitudes(rng, shape, e), jnp.float32)
    weights = jnp.asarray(np.where(rng.uniform(size=shape) < 0.3, 0.0, rng.uniform(0, 3, size=shape)), jnp.float32)
    where = jnp.asarray(rng.uniform(size=shape) < 0.7) if draw(st.booleans()) else None
    return losses, weights, where, rng


@given(problem=reduce_problems(), reduction=st.sampled_from(jaxloss.REDUCTIONS))
def test_reduce_invariant_to_permuting_the_batch(problem, reduction):
    losses, weights, where, rng = problem
    perm = rng.permutation(losses.shape[0])
    out = jaxloss.reduce(losses, weights, reduction=reduction, where=where)
    permuted = jaxloss.reduce(losses[perm], weights[perm], reduction=reduction,
                              where=None if where is None else where[perm])
    if reduction == "none":
        out = out[perm]
    _rel_close(permuted, out, f"{reduction}: permuted batch", rtol=1e-5)


@given(problem=reduce_problems(exp=(0.0, 2.0, 8.0)), reduction=st.sampled_from(["none", "sum", "mean"]),
       a=st.sampled_from([0.0, 0.5, 3.0]), b=st.sampled_from([1.0, 2.5]))
def test_reduce_linear_in_weights(problem, reduction, a, b):
    losses, w1, where, rng = problem
    w2 = jnp.asarray(rng.uniform(0, 2, size=losses.shape), jnp.float32)

    def r(w):
        return jaxloss.reduce(losses, w, reduction=reduction, where=where)

    _rel_close(r(a * w1 + b * w2), a * r(w1) + b * r(w2), f"{reduction}: linearity", rtol=1e-5)


@given(problem=reduce_problems(exp=(0.0, 2.0, 8.0)), scale=st.sampled_from([0.25, 3.0, 1e4]))
def test_reduce_normalised_reductions_scale_correctly(problem, scale):
    losses, w, where, _ = problem
    # weighted_mean is invariant to scaling the weights, sum_by_nonzero_weights scales with them.
    wm = jaxloss.reduce(losses, w, reduction="weighted_mean", where=where)
    _rel_close(jaxloss.reduce(losses, scale * w, reduction="weighted_mean", where=where), wm, "weighted_mean")
    snz = jaxloss.reduce(losses, w, reduction="sum_by_nonzero_weights", where=where)
    _rel_close(jaxloss.reduce(losses, scale * w, reduction="sum_by_nonzero_weights", where=where), scale * snz,
               "sum_by_nonzero_weights")


@given(problem=reduce_problems(exp=(0.0, 30.0)), reduction=st.sampled_from(jaxloss.REDUCTIONS),
       poison=st.booleans())
def test_reduce_is_zero_not_nan_when_every_weight_or_mask_is_zero(problem, reduction, poison):
    losses, _, _, _ = problem
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
            gw = jax.grad(lambda w, kw=kwargs: jnp.sum(jaxloss.reduce(
                jnp.nan_to_num(losses), reduction=reduction, **{**kw, "weights": w})))(zeros)
            assert np.all(np.isfinite(np.asarray(gw))), f"{reduction}: gradient wrt weights {gw}"


# --------------------------------------------------------------------------
# (e) masked entries never reach a value or a gradient, even as nan
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", WITH_WHERE, ids=repr)
@fewer()
@given(data=st.data())
def test_masked_entries_never_affect_values_or_gradients(spec, data):
    case = data.draw(cases(spec, with_where=True))
    where = case.kwargs.pop("where")
    shape = where.shape
    poisoned = [
        jnp.where(where, a, jnp.nan).astype(a.dtype)
        if jnp.issubdtype(a.dtype, jnp.floating) and a.shape == shape else a
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
    np.testing.assert_array_equal(np.asarray(value), np.asarray(clean_value),
                                  err_msg=f"{spec.name}: nan in masked entries changed the value")
    argnums = tuple(range(len(spec.diff)))
    g_clean = jax.grad(scalar(case.args), argnums=argnums)(*[case.args[i] for i in spec.diff])
    g = jax.grad(scalar(poisoned), argnums=argnums)(*[poisoned[i] for i in spec.diff])
    for i, gc, gp in zip(spec.diff, g_clean, g, strict=True):
        gp = np.asarray(gp, np.float64)
        if case.args[i].shape == shape:
            masked = ~np.asarray(where)
            np.testing.assert_array_equal(gp[masked], 0.0, err_msg=f"{spec.name}: gradient at masked entries")
        np.testing.assert_array_equal(gp, np.asarray(gc, np.float64),
                                      err_msg=f"{spec.name}: nan in masked entries changed gradient {i}")
