"""Core tests of the losses optax has (ntxent, sparsemax, perceptron, ranking softmax,
generalised Dice, convex KL): float64 formulas, gradients, extremes, masks, dtypes
and errors (jax + numpy only; tests/reference compares with optax itself)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import EXTREME_LOGITS, assert_all_finite, assert_transform_invariant, check_grads_x64


def _check(fn, args, **kw):
    """``check_grads_x64`` on the jitted ``fn`` (one compile per transformation)."""
    check_grads_x64(jax.jit(fn), args, **kw)


def _vg(fn, **kw):
    return jax.jit(jax.value_and_grad(fn, **kw))


def _grad(fn):
    return jax.jit(jax.grad(fn))


def _hess(fn):
    return jax.jit(jax.hessian(fn))


# --------------------------------------------------------------------------
# float64 reference formulas (NumPy)
# --------------------------------------------------------------------------


def _np_sparsemax(z):
    z = np.asarray(z, np.float64)
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        srt = np.sort(row)[::-1]
        cs = np.cumsum(srt)
        k = np.arange(1, row.size + 1)
        kk = k[1 + k * srt > cs].max()
        tau = (cs[kk - 1] - 1) / kk
        out[idx] = np.maximum(row - tau, 0)
    return out


def _np_multiclass_sparsemax(s, y):
    s = np.asarray(s, np.float64)
    p = _np_sparsemax(s)
    sy = np.take_along_axis(s, y[..., None], -1)
    return np.sum(p * (s - sy), -1) + 0.5 * (1 - np.sum(p * p, -1))


def _np_sparse_plus(x):
    x = np.asarray(x, np.float64)
    return np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))


def _np_ntxent(e, labels, temperature):
    e = np.asarray(e, np.float64)
    eps = np.finfo(np.float32).eps
    u = e / np.sqrt(np.maximum(np.sum(e * e, 1, keepdims=True), eps))
    s = u @ u.T / temperature
    total, count = 0.0, 0
    n = len(labels)
    for i in range(n):
        neg = [k for k in range(n) if labels[k] != labels[i]]
        for j in range(n):
            if j == i or labels[j] != labels[i]:
                continue
            count += 1
            denom = np.exp(s[i, j]) + sum(np.exp(s[i, k]) for k in neg)
            total += -(s[i, j] - np.log(denom))
    return total / max(count, 1)


def _np_ranking_softmax(s, y, where=None, weights=None):
    s, y = np.asarray(s, np.float64), np.asarray(y, np.float64)
    if weights is not None:
        y = y * weights
    if where is None:
        where = np.ones(s.shape, bool)
    y = np.where(where, y, 0.0)
    m = np.where(where, s, -np.inf).max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    total = np.sum(np.where(where, np.exp(np.where(where, s, 0.0) - m), 0.0), -1, keepdims=True)
    lse = m + np.log(np.where(total > 0, total, 1.0))
    log_p = np.where(where, s - lse, 0.0)
    return -np.sum(np.where(where, y * log_p, 0.0), -1)


def _np_generalized_dice(x, t, smooth=1.0, apply_softmax=True, ignore_background=False):
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    c = x.shape[-1]
    if apply_softmax:
        if c == 1:
            p = 1 / (1 + np.exp(-x))
        else:
            ex = np.exp(x - x.max(-1, keepdims=True))
            p = ex / ex.sum(-1, keepdims=True)
    else:
        p = x
    freq = t.sum(tuple(range(t.ndim - 1)))
    w = 1 / (freq**2 + 1e-7)
    w = w / w.sum() * c
    sp = tuple(range(1, x.ndim - 1))
    inter = (p * t).sum(sp)
    den = inter + 0.5 * (p.sum(sp) - inter) + 0.5 * (t.sum(sp) - inter) + smooth
    d = (1 - (inter + smooth) / den) * w
    if ignore_background and c > 1:
        d = d[..., 1:]
    return d.mean(-1)


def _np_convex_kl(log_p, t, where=None):
    log_p, t = np.asarray(log_p, np.float64), np.asarray(t, np.float64)
    where = np.ones(log_p.shape, bool) if where is None else where
    lp, t = np.where(where, log_p, 0.0), np.where(where, t, 0.0)
    kl = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1.0)) - lp), 0.0)
    return np.where(where, kl + np.exp(lp) - t, 0.0).sum(-1)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _scores(seed=0, shape=(5, 6), scale=2.0):
    r = _rng(seed)
    return (r.normal(size=shape) * scale).astype(np.float32), r.integers(0, shape[-1], shape[:-1])


def _embeddings(seed=0, n=6, d=3):
    r = _rng(seed)
    return r.normal(size=(n, d)).astype(np.float32), np.array([0, 0, 1, 1, 2, 2][:n])


def _segmentation(seed=0, shape=(3, 4, 5, 4)):
    r = _rng(seed)
    x = r.normal(size=shape).astype(np.float32)
    t = np.eye(shape[-1], dtype=np.float32)[r.integers(0, shape[-1], shape[:-1])]
    return x, t


# --------------------------------------------------------------------------
# values against float64 formulas
# --------------------------------------------------------------------------


def test_binary_sparsemax_values():
    x = np.concatenate([_rng(0).normal(size=20).astype(np.float32) * 2, EXTREME_LOGITS[1:-1]])
    y = (np.arange(x.size) % 2).astype(np.float32)
    out = jaxloss.binary_sparsemax(x, y)
    assert out.shape == x.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_sparse_plus(np.where(y != 0, -np.float64(x), x)), rtol=1e-6)
    # zero exactly where sparse_sigmoid(logits) == labels
    assert float(jaxloss.binary_sparsemax(jnp.array(3.0), jnp.array(1))) == 0.0


def test_multiclass_sparsemax_values_and_axis():
    s, y = _scores()
    out = jaxloss.multiclass_sparsemax(s, y)
    assert out.shape == y.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_multiclass_sparsemax(s, y), rtol=1e-5, atol=1e-6)
    # another axis, more batch dimensions
    s3 = s.reshape(5, 2, 3).transpose(0, 2, 1)  # classes on axis 1
    y3 = _rng(1).integers(0, 3, (5, 2))
    ref = _np_multiclass_sparsemax(np.moveaxis(s3, 1, -1), y3)
    np.testing.assert_allclose(jaxloss.multiclass_sparsemax(s3, y3, axis=1), ref, rtol=1e-5, atol=1e-6)
    # 0 iff sparsemax(s) is the one-hot of y
    assert float(jaxloss.multiclass_sparsemax(jnp.array([5.0, 0.0, 0.0]), jnp.array(0))) == 0.0


def test_multiclass_perceptron_values():
    s, y = _scores(2)
    out = jaxloss.multiclass_perceptron(s, y)
    ref = s.astype(np.float64).max(-1) - np.take_along_axis(s.astype(np.float64), y[:, None], -1)[:, 0]
    assert out.shape == y.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    s3 = np.moveaxis(s, -1, 0)
    np.testing.assert_allclose(jaxloss.multiclass_perceptron(s3, y, axis=0), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.07, 1.0, 0.5])
def test_ntxent_values(temperature):
    e, labels = _embeddings()
    out = jaxloss.ntxent(e, labels, temperature=temperature)
    assert out.shape == () and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_ntxent(e, labels, temperature), rtol=1e-5)
    # unequal groups and a singleton (a row without positives)
    lab = np.array([3, 3, 3, 7, 1, 1])
    np.testing.assert_allclose(
        jaxloss.ntxent(e, lab, temperature=temperature), _np_ntxent(e, lab, temperature), rtol=1e-5
    )


def test_ranking_softmax_values_where_weights():
    r = _rng(3)
    s = r.normal(size=(4, 5)).astype(np.float32)
    y = r.integers(0, 3, (4, 5)).astype(np.float32)
    w = r.uniform(0.5, 2.0, (4, 5)).astype(np.float32)
    m = r.uniform(size=(4, 5)) > 0.3
    m[0] = False  # an empty list
    out = jaxloss.ranking_softmax(s, y)
    assert out.shape == (4,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_ranking_softmax(s, y), rtol=1e-5)
    np.testing.assert_allclose(
        jaxloss.ranking_softmax(s, y, where=m, weights=w), _np_ranking_softmax(s, y, m, w), rtol=1e-5, atol=1e-7
    )
    # integer labels, broadcast weights
    yi = y.astype(np.int8)
    np.testing.assert_allclose(
        jaxloss.ranking_softmax(s, yi, weights=w[0]), _np_ranking_softmax(s, y, None, w[0]), rtol=1e-5
    )


@pytest.mark.parametrize(
    "kw", [{}, {"smooth": 0.0}, {"smooth": 2.0, "ignore_background": True}, {"apply_softmax": False}]
)
def test_generalized_dice_values(kw):
    x, t = _segmentation()
    if kw.get("apply_softmax") is False:
        x = np.asarray(jax.nn.softmax(x, axis=-1))
    out = jaxloss.generalized_dice(x, t, **kw)
    assert out.shape == (3,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_generalized_dice(x, t, **kw), rtol=1e-5)


def test_generalized_dice_shapes():
    x, t = _segmentation(1, (4, 3))  # no spatial axes: one value per row
    np.testing.assert_allclose(jaxloss.generalized_dice(x, t), _np_generalized_dice(x, t), rtol=1e-5)
    xb, tb = _segmentation(2, (3, 6, 1))  # binary: sigmoid
    tb = (xb > 0).astype(np.float32)
    np.testing.assert_allclose(jaxloss.generalized_dice(xb, tb), _np_generalized_dice(xb, tb), rtol=1e-5)
    x1, t1 = _segmentation(3, (4,))
    out = jaxloss.generalized_dice(x1, t1)
    assert out.shape == ()
    np.testing.assert_allclose(out, _np_generalized_dice(x1, t1), rtol=1e-5)


def test_convex_kl_divergence_values():
    r = _rng(4)
    log_p = r.normal(size=(3, 5)).astype(np.float32)
    t = r.uniform(0, 2, (3, 5)).astype(np.float32)
    t[0, 1] = 0.0
    out = jaxloss.convex_kl_divergence(log_p, t)
    assert out.shape == (3,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_convex_kl(log_p, t), rtol=1e-5)
    np.testing.assert_allclose(jaxloss.convex_kl_divergence(log_p.T, t.T, axis=0), _np_convex_kl(log_p, t), rtol=1e-5)
    # normalised inputs: the ordinary KL
    lp = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    tt = np.array([0.5, 0.25, 0.25], np.float32)
    np.testing.assert_allclose(
        jaxloss.convex_kl_divergence(lp, tt), jaxloss.kl_divergence(lp, tt), rtol=1e-5, atol=1e-7
    )


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------


def test_multiclass_sparsemax_gradient_and_hessian():
    s, y = _scores(5, (3, 5), 1.0)
    g = _grad(lambda z: jnp.sum(jaxloss.multiclass_sparsemax(z, y)))(s)
    np.testing.assert_allclose(g, _np_sparsemax(s) - np.eye(5)[y], rtol=1e-5, atol=1e-6)
    # the Hessian of one row is the sparsemax Jacobian diag(S) - S S^T / |S|
    row = jnp.array([1.0, 0.8, 0.1, -2.0])
    h = _hess(lambda z: jaxloss.multiclass_sparsemax(z, jnp.array(1)))(row)
    supp = (_np_sparsemax(row) > 0).astype(np.float64)
    np.testing.assert_allclose(h, np.diag(supp) - np.outer(supp, supp) / supp.sum(), atol=1e-6)
    _check(lambda z: jaxloss.multiclass_sparsemax(z, y), (s,), order=2)


def test_multiclass_perceptron_gradient():
    s, y = _scores(6, (4, 5))
    g = _grad(lambda z: jnp.sum(jaxloss.multiclass_perceptron(z, y)))(s)
    np.testing.assert_allclose(g, np.eye(5)[s.argmax(-1)] - np.eye(5)[y], atol=1e-7)


def test_binary_sparsemax_gradient():
    x = jnp.array([-3.0, -0.5, 0.3, 2.5])
    y = jnp.array([0.0, 1.0, 0.0, 1.0])
    g = _grad(lambda z: jnp.sum(jaxloss.binary_sparsemax(z, y)))(x)
    # d/dz sparse_plus(+-z): sparse_sigmoid(z) - y
    np.testing.assert_allclose(g, np.clip((np.asarray(x) + 1) / 2, 0, 1) - np.asarray(y), atol=1e-7)
    _check(lambda z: jaxloss.binary_sparsemax(z, y), (x,), order=2)


def test_ntxent_gradients():
    e, labels = _embeddings(7)
    _check(lambda z: jaxloss.ntxent(z, labels, temperature=0.5), (e,), order=2, rtol=1e-4)


def test_ranking_softmax_gradients():
    r = _rng(8)
    s = r.normal(size=(3, 4)).astype(np.float32)
    y = r.uniform(0, 2, (3, 4)).astype(np.float32)
    w = r.uniform(size=(3, 4)) > 0.3
    g = _grad(lambda z: jnp.sum(jaxloss.ranking_softmax(z, y)))(s)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(g, y.sum(-1, keepdims=True) * p - y, rtol=1e-5, atol=1e-6)
    _check(lambda z: jaxloss.ranking_softmax(z, y, where=w), (s,), order=2)


def test_generalized_dice_and_convex_kl_gradients():
    x, t = _segmentation(9, (2, 3, 3))
    _check(lambda z: jaxloss.generalized_dice(z, t), (x,), order=2)
    r = _rng(10)
    lp = r.normal(size=(2, 4)).astype(np.float32)
    tt = r.uniform(0.1, 1, (2, 4)).astype(np.float32)
    _check(lambda a, b: jaxloss.convex_kl_divergence(a, b), (lp, tt), order=2)


# --------------------------------------------------------------------------
# extremes: finite values and gradients where the naive formulas give nan
# --------------------------------------------------------------------------


def test_ntxent_small_temperature_zero_vectors_huge_embeddings():
    e, labels = _embeddings(11)
    loss_grad = jax.jit(jax.value_and_grad(lambda z, T: jaxloss.ntxent(z, labels, temperature=T)), static_argnums=1)
    v, g = loss_grad(e, 1e-3)
    np.testing.assert_allclose(v, _np_ntxent(e, labels, 1e-3), rtol=1e-5)
    assert_all_finite(g, "gradient")
    # a zero embedding: similarity 0, finite gradients
    e0 = e.copy()
    e0[0] = 0.0
    v0, g0 = loss_grad(e0, 0.07)
    np.testing.assert_allclose(v0, _np_ntxent(e0, labels, 0.07), rtol=1e-5)
    assert_all_finite(g0, "gradient")
    # embeddings of any magnitude: the same cosines
    for scale in (1e-3, 1e20, 1e30):
        np.testing.assert_allclose(jaxloss.ntxent(e * np.float32(scale), labels), jaxloss.ntxent(e, labels), rtol=1e-5)
        assert_all_finite(_grad(lambda z: jaxloss.ntxent(z, labels))(e * np.float32(scale)), "gradient")


def test_ntxent_without_positives_or_negatives():
    e, _ = _embeddings(12)
    for labels in (np.arange(6), np.zeros(6, np.int32)):
        v, g = _vg(lambda z, labels=labels: jaxloss.ntxent(z, labels))(e)
        assert float(v) == 0.0
        np.testing.assert_array_equal(g, 0.0)


def test_multiclass_losses_neg_inf_and_extremes():
    s = jnp.array([[1.0, -jnp.inf, 0.0], [0.0, 1.0, -jnp.inf], [1e30, -1e30, 0.0], [-1e30, 1e4, -jnp.inf]])
    y = jnp.array([0, 1, 0, 1])
    finite = jnp.where(jnp.isinf(s), -1e3, s)  # -inf behaves like a very negative score
    for fn in (jaxloss.multiclass_sparsemax, jaxloss.multiclass_perceptron):
        v, g = _vg(lambda z, fn=fn: jnp.sum(fn(z, y)))(s)
        assert_all_finite(v)
        assert_all_finite(g, "gradient")
        np.testing.assert_allclose(fn(s, y), fn(finite, y), rtol=1e-6)
        assert float(g[0, 1]) == 0.0 and float(g[1, 2]) == 0.0
    h = _hess(lambda z: jaxloss.multiclass_sparsemax(z, jnp.array(0)))(s[0])
    assert_all_finite(h, "hessian")
    np.testing.assert_allclose(jaxloss.multiclass_sparsemax(s, y)[2:], [0.0, 0.0], atol=1e-6)


def test_binary_sparsemax_infinite_logits():
    x = jnp.array([-jnp.inf, jnp.inf, -jnp.inf, jnp.inf])
    y = jnp.array([0, 0, 1, 1])
    v = jaxloss.binary_sparsemax(x, y)
    np.testing.assert_array_equal(v, [0.0, jnp.inf, jnp.inf, 0.0])
    g = _grad(lambda z: jnp.sum(jaxloss.binary_sparsemax(z, y)))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0, 0.0])
    assert_all_finite(_grad(lambda z: jnp.sum(jaxloss.binary_sparsemax(z, 1.0)))(jnp.asarray(EXTREME_LOGITS)))


def test_ranking_softmax_neg_inf_and_empty_lists():
    s = jnp.array([[2.0, -jnp.inf, 0.0], [1e30, -1e30, 0.0]])
    y = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    v, g = _vg(lambda z: jnp.sum(jaxloss.ranking_softmax(z, y)))(s)
    assert_all_finite(g, "gradient")
    np.testing.assert_allclose(v, np.log1p(np.exp(-2.0)) + 1e30, rtol=1e-6)
    empty = jnp.zeros((2, 3), bool)
    v, g = _vg(lambda z: jnp.sum(jaxloss.ranking_softmax(z, y, where=empty)))(s)
    assert float(v) == 0.0
    np.testing.assert_array_equal(g, 0.0)


def test_generalized_dice_and_convex_kl_extremes():
    x = jnp.array([[[1e30, -1e30], [-jnp.inf, 0.0]]])
    t = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
    v, g = _vg(lambda z: jnp.sum(jaxloss.generalized_dice(z, t)))(x)
    assert_all_finite(v)
    assert_all_finite(g, "gradient")
    # no mass and no smoothing: the class term is its weight, zero gradients
    zero = jnp.zeros((1, 2, 2))
    v, g = _vg(lambda z: jnp.sum(jaxloss.generalized_dice(z, zero, smooth=0.0, apply_softmax=False)))(zero)
    np.testing.assert_allclose(v, 1.0)
    np.testing.assert_array_equal(g, 0.0)
    lp = jnp.array([[-jnp.inf, 0.0, 1.0]])
    tt = jnp.array([[0.0, 1.0, 0.0]])
    v, (ga, gb) = _vg(lambda a, b: jnp.sum(jaxloss.convex_kl_divergence(a, b)), argnums=(0, 1))(lp, tt)
    np.testing.assert_allclose(v, np.e, rtol=1e-6)
    assert_all_finite((ga, gb), "gradient")


# --------------------------------------------------------------------------
# masks with nan behind them
# --------------------------------------------------------------------------


def test_masks_hide_nan():
    s = jnp.array([[1.0, jnp.nan, 0.5], [0.2, 0.3, jnp.inf]])
    y = jnp.array([[1.0, jnp.nan, 0.0], [0.0, 1.0, jnp.nan]])
    w = jnp.array([[1.0, jnp.nan, 2.0], [1.0, 1.0, jnp.nan]])
    m = jnp.array([[True, False, True], [True, True, False]])
    v, g = _vg(lambda z: jnp.sum(jaxloss.ranking_softmax(z, y, where=m, weights=w)))(s)
    clean = jaxloss.ranking_softmax(jnp.where(m, s, 0.0), jnp.where(m, y, 0.0), where=m, weights=jnp.where(m, w, 1.0))
    np.testing.assert_allclose(v, jnp.sum(clean), rtol=1e-6)
    assert_all_finite(g, "gradient")
    np.testing.assert_array_equal(np.asarray(g)[~np.asarray(m)], 0.0)
    lp = jnp.array([[0.1, jnp.nan, -0.2], [jnp.inf, 0.3, 0.0]])
    t = jnp.array([[0.5, jnp.nan, 1.0], [jnp.nan, 0.5, 0.2]])
    m2 = jnp.array([[True, False, True], [False, True, True]])
    v, (ga, gb) = _vg(lambda a, b: jnp.sum(jaxloss.convex_kl_divergence(a, b, where=m2)), argnums=(0, 1))(lp, t)
    ref = _np_convex_kl(lp, t, np.asarray(m2)).sum()
    np.testing.assert_allclose(v, ref, rtol=1e-6)
    assert_all_finite((ga, gb), "gradient")
    np.testing.assert_array_equal(np.asarray(ga)[~np.asarray(m2)], 0.0)
    np.testing.assert_array_equal(np.asarray(gb)[~np.asarray(m2)], 0.0)


# --------------------------------------------------------------------------
# dtypes, integer labels, transformations
# --------------------------------------------------------------------------


def _cases():
    s, y = _scores(13, (4, 5), 1.0)
    e, lab = _embeddings(13)
    x, t = _segmentation(13, (2, 3, 3))
    r = _rng(13)
    ranky = r.uniform(0, 2, (4, 5)).astype(np.float32)
    return [
        ("binary_sparsemax", lambda a: jaxloss.binary_sparsemax(a, (y[:, None] > 2).astype(np.float32)), s),
        ("multiclass_sparsemax", lambda a: jaxloss.multiclass_sparsemax(a, y), s),
        ("multiclass_perceptron", lambda a: jaxloss.multiclass_perceptron(a, y), s),
        ("ntxent", lambda a: jaxloss.ntxent(a, lab), e),
        ("ranking_softmax", lambda a: jaxloss.ranking_softmax(a, ranky), s),
        ("generalized_dice", lambda a: jaxloss.generalized_dice(a, t), x),
        ("convex_kl_divergence", lambda a: jaxloss.convex_kl_divergence(a, ranky), s),
    ]


@pytest.mark.parametrize("name,fn,x", _cases(), ids=[c[0] for c in _cases()])
def test_sixteen_bit_inputs_compute_in_float32(name, fn, x):
    for dtype in (jnp.bfloat16, jnp.float16):
        low = jnp.asarray(x, dtype)
        out = fn(low)
        assert out.dtype == jnp.float32, name
        np.testing.assert_allclose(out, fn(low.astype(jnp.float32)), rtol=1e-6, atol=1e-6)
        assert _grad(lambda z: jnp.sum(fn(z)))(low).dtype == dtype


@pytest.mark.parametrize("name,fn,x", _cases(), ids=[c[0] for c in _cases()])
def test_jit_and_float64(name, fn, x):
    np.testing.assert_allclose(jax.jit(fn)(x), fn(x), rtol=1e-6, atol=1e-7)
    with jax.enable_x64(True):
        out = fn(jnp.asarray(x, jnp.float64))
        assert out.dtype == jnp.float64


def test_vmap_per_example_losses():
    s, y = _scores(14, (4, 5))
    for fn in (jaxloss.multiclass_sparsemax, jaxloss.multiclass_perceptron):
        assert_transform_invariant(fn, s, y)
    r = _rng(14)
    ranky = r.uniform(0, 2, (4, 5)).astype(np.float32)
    assert_transform_invariant(jaxloss.ranking_softmax, s, ranky)
    assert_transform_invariant(jaxloss.binary_sparsemax, s, (ranky > 1).astype(np.float32))
    assert_transform_invariant(jaxloss.convex_kl_divergence, s, ranky)
    e, lab = _embeddings(14)
    batched = jax.vmap(lambda z: jaxloss.ntxent(z, lab))(jnp.stack([e, 2 * e]))
    np.testing.assert_allclose(batched, [jaxloss.ntxent(e, lab)] * 2, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int64, np.uint32])
def test_integer_labels_of_any_dtype(dtype):
    s, y = _scores(15, (3, 200), 1.0)
    y = np.minimum(y, np.iinfo(dtype).max)
    for fn in (jaxloss.multiclass_sparsemax, jaxloss.multiclass_perceptron):
        np.testing.assert_allclose(fn(s, y.astype(dtype)), fn(s, y.astype(np.int32)), rtol=1e-6)
    e, lab = _embeddings(15)
    np.testing.assert_allclose(jaxloss.ntxent(e, (lab + 250).astype(dtype)), jaxloss.ntxent(e, lab + 250), rtol=1e-6)


def test_int8_labels_above_127_classes():
    s, _ = _scores(16, (2, 200), 1.0)
    y = np.array([150, 199])
    ref = jaxloss.multiclass_perceptron(s, y.astype(np.int32))
    np.testing.assert_allclose(jaxloss.multiclass_perceptron(s, y.astype(np.uint8)), ref)
    np.testing.assert_allclose(s.max(-1) - s[[0, 1], y], ref, rtol=1e-6)


def test_out_of_range_labels_give_nan():
    s, _ = _scores(17, (3, 4))
    y = np.array([0, 4, -1])
    for fn in (jaxloss.multiclass_sparsemax, jaxloss.multiclass_perceptron):
        out = np.asarray(fn(s, y))
        assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


# --------------------------------------------------------------------------
# errors name the argument
# --------------------------------------------------------------------------


def test_option_errors():
    e, lab = _embeddings()
    with pytest.raises(ValueError, match="`temperature`"):
        jaxloss.ntxent(e, lab, temperature=0.0)
    with pytest.raises(ValueError, match="`temperature`"):
        jaxloss.ntxent(e, lab, temperature=np.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="`temperature`.*static"):
        jax.jit(lambda t: jaxloss.ntxent(e, lab, temperature=t))(0.1)
    x, t = _segmentation()
    with pytest.raises(ValueError, match="`smooth`"):
        jaxloss.generalized_dice(x, t, smooth=-1.0)
    with pytest.raises(TypeError, match="`smooth`.*static"):
        jax.jit(lambda s: jaxloss.generalized_dice(x, t, smooth=s))(1.0)
    with pytest.raises(TypeError, match="`apply_softmax`"):
        jaxloss.generalized_dice(x, t, apply_softmax=1)
    with pytest.raises(TypeError, match="`ignore_background`"):
        jaxloss.generalized_dice(x, t, ignore_background="yes")
    with pytest.raises(TypeError):
        jaxloss.ntxent(e, lab, 0.1)  # options are keyword-only


def test_argument_errors():
    s, y = _scores()
    e, lab = _embeddings()
    with pytest.raises(TypeError, match="`scores`"):
        jaxloss.multiclass_sparsemax(s.astype(np.int32), y)
    with pytest.raises(TypeError, match="`labels`"):
        jaxloss.multiclass_perceptron(s, y.astype(np.float32))
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.multiclass_sparsemax(s, y[:-1])
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.binary_sparsemax(s[:, :1], y.astype(np.float32))
    with pytest.raises(TypeError, match="`logits`"):
        jaxloss.binary_sparsemax(y, y)
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.ntxent(e, lab[:-1])
    with pytest.raises(ValueError, match="`embeddings`"):
        jaxloss.ntxent(e[0], lab[:1])
    with pytest.raises(TypeError, match="`embeddings`"):
        jaxloss.ntxent(lab, lab)
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.ranking_softmax(s, np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match="`weights`"):
        jaxloss.ranking_softmax(s, s, weights=np.ones(4, np.float32))
    with pytest.raises(TypeError, match="`where`"):
        jaxloss.ranking_softmax(s, s, where=np.ones(s.shape, np.float32))
    with pytest.raises(ValueError, match="`logits`"):
        jaxloss.ranking_softmax(np.float32(1.0), np.float32(1.0))
    with pytest.raises(ValueError, match="`targets`"):
        jaxloss.generalized_dice(s, np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="`targets`"):
        jaxloss.convex_kl_divergence(s, np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="`axis`"):
        jaxloss.convex_kl_divergence(s, s, axis=2)
