"""Core tests of the functions behind the PyTorch losses (jax + numpy only).

nll, gaussian_nll, smooth_l1, soft_margin, multilabel_soft_margin,
multilabel_margin, multi_margin, margin_ranking, hinge_embedding,
cosine_embedding and triplet_margin: values against float64 NumPy formulas,
gradients, extremes, zero vectors, margins at exactly 0, narrow integer
labels, 16-bit inputs, transformations and errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss
from tests.helpers import EXTREME_LOGITS, assert_all_finite, check_grads_x64

RNG = np.random.default_rng(15)
N, C, D = 5, 4, 3


def _f32(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


# --------------------------------------------------------------------------
# float64 NumPy formulas (torch's definitions, class axis last)
# --------------------------------------------------------------------------


def np_nll(lp, y, w=None, ignore=None):
    lp = np.asarray(lp, np.float64)
    w = np.ones(lp.shape[-1]) if w is None else np.asarray(w, np.float64)
    out = np.zeros(y.shape)
    for i in np.ndindex(y.shape):
        if ignore is not None and y[i] == ignore:
            continue
        out[i] = -lp[i][y[i]] * w[y[i]]
    return out


def np_multilabel_margin(s, y):
    s = np.asarray(s, np.float64)
    out = np.zeros(s.shape[:-1])
    for i in np.ndindex(out.shape):
        listed = []
        for v in y[i]:
            if v < 0:
                break
            listed.append(int(v))
        total = 0.0
        for j in listed:
            for k in range(s.shape[-1]):
                if k not in listed:
                    total += max(0.0, 1.0 - (s[i][j] - s[i][k]))
        out[i] = total / s.shape[-1]
    return out


def np_multi_margin(s, y, p=1, margin=1.0, w=None):
    s = np.asarray(s, np.float64)
    w = np.ones(s.shape[-1]) if w is None else np.asarray(w, np.float64)
    out = np.zeros(y.shape)
    for i in np.ndindex(y.shape):
        h = np.maximum(margin - s[i][y[i]] + s[i], 0.0) ** p
        h[y[i]] = 0.0
        out[i] = h.sum() * w[y[i]] / s.shape[-1]
    return out


def np_cosine_embedding(a, b, y, margin=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0.0), 0.0)


def np_triplet(a, p_, n, margin=1.0, p=2.0, eps=1e-6, swap=False):
    a, p_, n = (np.asarray(x, np.float64) for x in (a, p_, n))

    def d(u, v):
        return (np.abs(u - v + eps) ** p).sum(-1) ** (1.0 / p)

    dn = d(a, n)
    if swap:
        dn = np.minimum(dn, d(p_, n))
    return np.maximum(margin + d(a, p_) - dn, 0.0)


# --------------------------------------------------------------------------
# values against NumPy
# --------------------------------------------------------------------------


def _elementwise_cases():
    p, t = _f32(N, C, scale=2.0), _f32(N, C)
    v = (RNG.random((N, C)) + 0.05).astype(np.float32)
    y = RNG.choice([-1.0, 1.0], (N, C)).astype(np.float32)
    d = p.astype(np.float64) - t
    return [
        (
            "smooth_l1",
            lambda: jaxloss.smooth_l1(p, t, beta=0.7),
            np.where(np.abs(d) < 0.7, 0.5 * d * d / 0.7, np.abs(d) - 0.35),
        ),
        ("smooth_l1_beta0", lambda: jaxloss.smooth_l1(p, t, beta=0.0), np.abs(d)),
        ("gaussian_nll", lambda: jaxloss.gaussian_nll(p, t, v), 0.5 * (np.log(v.astype(np.float64)) + d * d / v)),
        (
            "gaussian_nll_full",
            lambda: jaxloss.gaussian_nll(p, t, v, full=True, eps=0.1),
            0.5 * (np.log(np.maximum(v, 0.1).astype(np.float64)) + d * d / np.maximum(v, 0.1))
            + 0.5 * np.log(2 * np.pi),
        ),
        ("soft_margin", lambda: jaxloss.soft_margin(p, y), _softplus(-(y * p.astype(np.float64)))),
        ("margin_ranking", lambda: jaxloss.margin_ranking(p, t, y, margin=0.3), np.maximum(-y * d + 0.3, 0.0)),
        (
            "hinge_embedding",
            lambda: jaxloss.hinge_embedding(np.abs(p), y, margin=1.5),
            np.where(y == 1, np.abs(p), np.maximum(1.5 - np.abs(p.astype(np.float64)), 0.0)),
        ),
    ]


@pytest.mark.parametrize("case", _elementwise_cases(), ids=lambda c: c[0])
def test_elementwise_values(case):
    _, ours, want = case
    np.testing.assert_allclose(ours(), want, rtol=2e-6, atol=1e-6)


def test_class_axis_values():
    s = _f32(N, C, scale=2.0)
    y = RNG.integers(0, C, N)
    w = (RNG.random(C) + 0.5).astype(np.float32)
    lp = np.log(RNG.dirichlet(np.ones(C), N)).astype(np.float32)
    np.testing.assert_allclose(jaxloss.nll(lp, y), np_nll(lp, y), rtol=1e-6)
    np.testing.assert_allclose(jaxloss.nll(lp, y, class_weights=w), np_nll(lp, y, w), rtol=1e-6)
    for p in (1, 2):
        np.testing.assert_allclose(
            jaxloss.multi_margin(s, y, p=p, margin=0.8, class_weights=w), np_multi_margin(s, y, p, 0.8, w), rtol=1e-6
        )
    soft = RNG.random((N, C)).astype(np.float32)
    want = -(soft * _log_sigmoid(s.astype(np.float64)) + (1 - soft) * _log_sigmoid(-s.astype(np.float64)))
    np.testing.assert_allclose(jaxloss.multilabel_soft_margin(s, soft), want.mean(-1), rtol=1e-6)
    np.testing.assert_allclose(jaxloss.multilabel_soft_margin(s, soft, class_weights=w), (want * w).mean(-1), rtol=1e-6)
    lists = np.array([[2, 0, -1, 3], [1, 1, -1, -1], [0, 1, 2, 3], [-1, 2, 2, 2], [3, -5, 0, 1]])
    np.testing.assert_allclose(jaxloss.multilabel_margin(s, lists), np_multilabel_margin(s, lists), rtol=1e-6)


def test_class_axis_argument():
    s = _f32(N, C, 2)
    y = RNG.integers(0, C, (N, 2))
    moved = np.moveaxis(s, 1, -1)
    np.testing.assert_allclose(jaxloss.multi_margin(s, y, axis=1), jaxloss.multi_margin(moved, y), rtol=1e-6)
    lp = np.log(RNG.dirichlet(np.ones(C), (N, 2))).astype(np.float32)
    np.testing.assert_allclose(jaxloss.nll(np.moveaxis(lp, -1, 1), y, axis=1), jaxloss.nll(lp, y), rtol=1e-6)
    a, b = _f32(N, D, 2), _f32(N, D, 2)
    t = RNG.choice([-1.0, 1.0], (N, 2)).astype(np.float32)
    np.testing.assert_allclose(
        jaxloss.cosine_embedding(a, b, t, axis=1),
        jaxloss.cosine_embedding(np.moveaxis(a, 1, -1), np.moveaxis(b, 1, -1), t),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        jaxloss.triplet_margin(a, b, a[::-1], axis=1),
        np_triplet(*(np.moveaxis(x, 1, -1) for x in (a, b, a[::-1]))),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    ("p", "eps", "swap"), [(2.0, 1e-6, False), (1.0, 0.0, True), (3.0, 1e-3, True), (0.5, 1e-6, False)]
)
def test_triplet_values(p, eps, swap):
    a, x, y = _f32(N, D), _f32(N, D), _f32(N, D)
    np.testing.assert_allclose(
        jaxloss.triplet_margin(a, x, y, margin=0.5, p=p, eps=eps, swap=swap),
        np_triplet(a, x, y, 0.5, p, eps, swap),
        rtol=1e-5,
        atol=1e-6,
    )


def test_cosine_embedding_values():
    a, b = _f32(N, D), _f32(N, D)
    a[0] = 0.0
    a[1] = b[1] = 0.0
    y = np.array([1.0, 1.0, -1.0, -1.0, 0.0], np.float32)  # 0: neither piece, as torch
    for margin in (0.0, 0.4):
        np.testing.assert_allclose(
            jaxloss.cosine_embedding(a, b, y, margin=margin), np_cosine_embedding(a, b, y, margin), rtol=1e-6, atol=1e-7
        )


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------


def test_grads_order_2():
    p, t = _f32(2, C), _f32(2, C)
    v = (RNG.random((2, C)) + 0.5).astype(np.float32)
    y = RNG.choice([-1.0, 1.0], (2, C)).astype(np.float32)
    check_grads_x64(jax.jit(lambda p, v: jaxloss.gaussian_nll(p, t, v, full=True)), (p, v))
    check_grads_x64(
        jax.jit(
            lambda s: (
                jaxloss.soft_margin(s, y) + jaxloss.multilabel_soft_margin(s, (y + 1) / 2, class_weights=v[0])[:, None]
            )
        ),
        (p,),
    )
    big = p + 3.0 * np.sign(p)  # away from the switch point |d| = 1
    check_grads_x64(jax.jit(lambda x: jaxloss.smooth_l1(x, 0.0) + jaxloss.smooth_l1(x / 3, 0.0, beta=10.0)), (big,))
    lp = np.log(RNG.dirichlet(np.ones(C), 2)).astype(np.float32)
    check_grads_x64(jax.jit(lambda x: jaxloss.nll(x, np.arange(2), class_weights=v[0])), (lp,))


def test_metric_grads_order_2():
    a, x, y = _f32(2, D), _f32(2, D), _f32(2, D)
    t = np.array([1.0, -1.0], np.float32)
    check_grads_x64(jax.jit(lambda a, b: jaxloss.cosine_embedding(a, b, t, margin=-2.0)), (a, x))
    # margin large enough that every triplet is active (no kink)
    check_grads_x64(
        jax.jit(
            lambda a, x, y: (
                jaxloss.triplet_margin(a, x, y, margin=50.0)
                + jaxloss.triplet_margin(a, x, y, margin=50.0, p=3.0, swap=True)
                + jaxloss.triplet_margin(a, x, y, margin=50.0, p=1.5)
            )
        ),
        (a, x, y),
    )


def test_gaussian_nll_gradient_at_the_clamp():
    # torch clamps the variance under no_grad: the gradient is the formula's derivative at eps.
    eps = 1e-3
    v = np.array([0.0, 1e-6, eps, -1.0], np.float32)
    d = np.float32(0.02)
    g = jax.grad(lambda v: jnp.sum(jaxloss.gaussian_nll(jnp.full(4, d), 0.0, v, eps=eps)))(v)
    want = 0.5 * (1 / eps - d**2 / eps**2)
    np.testing.assert_allclose(g, np.full(4, want), rtol=1e-5)
    value = jaxloss.gaussian_nll(jnp.full(4, d), 0.0, v, eps=eps)
    np.testing.assert_allclose(value, 0.5 * (np.log(eps) + d**2 / eps), rtol=1e-6)


def test_margins_exactly_at_zero():
    # torch's clamp_min passes the gradient at 0 (margin_ranking, hinge_embedding, cosine, triplet);
    # its multi_margin and multilabel_margin kernels (z > 0) do not.
    g1, g2 = jax.grad(lambda a, b: jnp.sum(jaxloss.margin_ranking(a, b, 1.0, margin=0.5)), (0, 1))(
        jnp.array([1.5]), jnp.array([1.0])
    )
    np.testing.assert_array_equal(g1, [-1.0])
    np.testing.assert_array_equal(g2, [1.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.hinge_embedding(x, -1.0, margin=2.0)))(jnp.array([2.0]))
    np.testing.assert_array_equal(g, [-1.0])
    g = jax.grad(lambda s: jnp.sum(jaxloss.multi_margin(s, jnp.array([0]))))(jnp.array([[1.0, 0.0, -3.0]]))
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0]])
    lists = jnp.array([[0, -1, -1]])
    g = jax.grad(lambda s: jnp.sum(jaxloss.multilabel_margin(s, lists)))(jnp.array([[1.0, 0.0, -3.0]]))
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0]])
    a, x, y = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.5]])
    ga = jax.grad(lambda a: jnp.sum(jaxloss.triplet_margin(a, x, y, margin=0.5, eps=0.0)))(a)
    np.testing.assert_allclose(ga, [[-1.0, 1.0]], rtol=1e-6)  # d/da (|a - x| - |a - y|)
    gc = jax.grad(lambda a: jnp.sum(jaxloss.cosine_embedding(a, jnp.array([[1.0, 1.0]]), -1.0, margin=0.0)))(
        jnp.array([[1.0, -1.0]])
    )
    np.testing.assert_allclose(gc, [[0.5, 0.5]], rtol=1e-5)  # d cos / da at orthogonal vectors


def test_zero_vectors_finite():
    z = jnp.zeros((2, D))
    x = jnp.ones((2, D))
    for fn in (
        lambda a, b: jaxloss.cosine_embedding(a, b, jnp.array([1.0, -1.0]), margin=-0.5),
        lambda a, b: jaxloss.triplet_margin(a, a, b, eps=0.0),
        lambda a, b: jaxloss.triplet_margin(a, b, b, eps=0.0, p=1.0, swap=True),
        lambda a, b: jaxloss.triplet_margin(a, b, b, eps=0.0, p=0.5),
        lambda a, b: jaxloss.triplet_margin(a, a, b, eps=0.0, p=3.0, margin=5.0),
    ):
        scalar = lambda a, b, fn=fn: jnp.sum(fn(a, b))  # noqa: E731
        derivs = jax.jit(lambda a, b, s=scalar: (s(a, b), jax.grad(s, (0, 1))(a, b), jax.hessian(s, (0, 1))(a, b)))
        for args in ((z, z), (z, x), (x, z)):
            assert_all_finite(derivs(*args))
    # equal vectors (eps=0): distance 0 with a zero gradient
    g = jax.grad(lambda q: jnp.sum(jaxloss.triplet_margin(x, q, x + 3.0, eps=0.0, margin=10.0)))(x)
    np.testing.assert_array_equal(g, np.zeros((2, D)))


def test_extremes_finite():
    s = jnp.asarray(EXTREME_LOGITS)
    y = jnp.where(jnp.arange(s.size) % 2 == 0, 1.0, -1.0)
    for fn in (
        lambda s: jaxloss.soft_margin(s, y),
        lambda s: jaxloss.multilabel_soft_margin(s[None], (y[None] + 1) / 2),
        lambda s: jaxloss.smooth_l1(s, 0.5),
        lambda s: jaxloss.margin_ranking(s, -s[::-1], y, margin=1.0),
        lambda s: jaxloss.hinge_embedding(s, y),
        lambda s: jaxloss.multi_margin(s.reshape(3, 3), jnp.array([0, 1, 2]), p=1),
        lambda s: jaxloss.multilabel_margin(s.reshape(3, 3), jnp.array([[0, -1, 0], [2, 1, -1], [1, 0, 2]])),
        lambda s: jaxloss.cosine_embedding(s.reshape(3, 3), s[::-1].reshape(3, 3), jnp.array([1.0, -1.0, 1.0])),
        lambda s: jaxloss.triplet_margin(s.reshape(3, 3), s[::-1].reshape(3, 3), jnp.roll(s, 1).reshape(3, 3)),
        lambda s: jaxloss.nll(jnp.minimum(s, 0.0).reshape(3, 3), jnp.array([0, 1, 2])),
    ):
        assert_all_finite(jax.jit(lambda s, fn=fn: (fn(s), jax.grad(lambda z: jnp.sum(fn(z)))(s)))(s))
    # huge but parallel vectors: cosine exactly as at scale 1
    big = jnp.array([[1e30, 2e30, -3e30]])
    np.testing.assert_allclose(
        jaxloss.cosine_embedding(big, 2 * big, -1.0),
        jaxloss.cosine_embedding(big / 1e30, 2 * big / 1e30, -1.0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(jaxloss.triplet_margin(big, 0.5 * big, -big, margin=0.0, eps=0.0), [0.0], atol=0.0)
    np.testing.assert_allclose(
        jaxloss.triplet_margin(-big, 0.5 * big, big, margin=1e31, eps=0.0), [1e31 - 0.5 * np.sqrt(14) * 1e30], rtol=1e-6
    )


# --------------------------------------------------------------------------
# nll: ignore_index, where, class weights, labels
# --------------------------------------------------------------------------


def test_nll_ignored_and_masked_give_zero_even_with_nan():
    lp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]))
    lp = lp.at[1].set(jnp.nan).at[2, 0].set(jnp.nan)
    y = jnp.array([0, -100, 0])
    where = jnp.array([[True, True, True], [True, True, True], [False, True, True]])
    f = lambda x: jaxloss.nll(x, y, ignore_index=-100, where=where, class_weights=jnp.array([2.0, 1.0, 1.0]))  # noqa: E731
    np.testing.assert_allclose(f(lp), [2 * np.log(2.0), 0.0, 0.0], rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(f(x)))(lp)
    want = np.zeros((3, 3), np.float32)
    want[0, 0] = -2.0
    np.testing.assert_array_equal(g, want)


def test_nll_labels_widened_and_out_of_range():
    lp = np.log(RNG.dirichlet(np.ones(200), 3)).astype(np.float32)
    y = np.array([5, 127, 100])
    want = jaxloss.nll(lp, y.astype(np.int32))
    for dtype in (np.int8, np.uint8, np.int16, np.uint16):
        np.testing.assert_array_equal(jaxloss.nll(lp, y.astype(dtype)), want)
    # uint8 156 is -100 mod 256: a real class, never ignore_index
    lab = np.array([156, 3, 0], np.uint8)
    out = jaxloss.nll(lp, lab, ignore_index=-100)
    np.testing.assert_allclose(out, -lp[np.arange(3), lab.astype(np.int64)], rtol=1e-6)
    out = jaxloss.nll(lp[:, :4], np.array([4, -1, 2]))
    assert np.isnan(out[0]) and np.isnan(out[1]) and np.isfinite(out[2])
    out = jaxloss.multi_margin(lp[:, :4], np.array([4, 0, 2]))
    assert np.isnan(out[0]) and np.isfinite(out[1])
    out = jaxloss.multilabel_margin(lp[:, :4], np.array([[4, -1, 0, 0], [1, -1, 9, 9], [0, 0, 0, 0]]))
    assert np.isnan(out[0]) and np.isfinite(out[1]) and np.isfinite(out[2])
    checked = checkify.checkify(lambda x, y: jaxloss.nll(x, y), errors=checkify.user_checks)
    err, _ = checked(lp[:, :4], np.array([4, 0, 1]))
    with pytest.raises(checkify.JaxRuntimeError):
        err.throw()


def test_narrow_labels_multi_margin_and_multilabel():
    s = _f32(N, C)
    y = RNG.integers(0, C, N)
    lists = np.array([[2, 0, -1, 3], [1, 1, -1, -1], [0, 1, 2, 3], [-1, 2, 2, 2], [3, 2, 0, 1]])
    for dtype in (np.int8, np.uint8, np.int64):
        np.testing.assert_array_equal(jaxloss.multi_margin(s, y.astype(dtype)), jaxloss.multi_margin(s, y))
    np.testing.assert_array_equal(
        jaxloss.multilabel_margin(s, lists.astype(np.int8)), jaxloss.multilabel_margin(s, lists)
    )
    # uint8 labels cannot hold -1: every entry is listed
    np.testing.assert_array_equal(
        jaxloss.multilabel_margin(s, np.array([[0, 1, 2, 3]] * N, np.uint8)), np.zeros(N, np.float32)
    )


def test_loss_wrapper_ignore_and_weighted_mean():
    lp = np.log(RNG.dirichlet(np.ones(C), N)).astype(np.float32)
    y = np.array([0, -100, 3, 1, -100])
    w = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    per = np_nll(lp, y, w, -100)
    loss = jaxloss.Loss(jaxloss.nll, reduction="weighted_mean", ignore_index=-100, class_weights=w)
    keep = y != -100
    np.testing.assert_allclose(loss(lp, y), per.sum() / w[y[keep]].sum(), rtol=1e-6)
    mean = jaxloss.Loss(jaxloss.nll, reduction="mean", ignore_index=-100)
    np.testing.assert_allclose(mean(lp, y), np_nll(lp, y, None, -100).sum() / keep.sum(), rtol=1e-6)


# --------------------------------------------------------------------------
# dtypes and transformations
# --------------------------------------------------------------------------


def _all_calls():
    p, t = _f32(N, C), _f32(N, C)
    v = (RNG.random((N, C)) + 0.5).astype(np.float32)
    y = RNG.choice([-1.0, 1.0], (N, C)).astype(np.float32)
    lab = RNG.integers(0, C, N)
    lists = np.array([[2, 0, -1, 3], [1, 1, -1, -1], [0, 1, 2, 3], [-1, 2, 2, 2], [3, 2, 0, 1]])
    lp = np.log(RNG.dirichlet(np.ones(C), N)).astype(np.float32)
    # (name, fn(x, *rest), x, rest): every argument has the batch axis first (for vmap)
    return [
        ("nll", lambda x, y: jaxloss.nll(x, y, ignore_index=2), lp, (lab,)),
        ("gaussian_nll", lambda x, t, v: jaxloss.gaussian_nll(x, t, v), p, (t, v)),
        ("gaussian_nll_var", lambda x, m, t: jaxloss.gaussian_nll(m, t, x), v, (t, p)),
        ("smooth_l1", lambda x, t: jaxloss.smooth_l1(x, t), p, (t,)),
        ("soft_margin", lambda x, y: jaxloss.soft_margin(x, y), p, (y,)),
        ("multilabel_soft_margin", lambda x, y: jaxloss.multilabel_soft_margin(x, (y + 1) / 2), p, (y,)),
        ("multilabel_margin", lambda x, y: jaxloss.multilabel_margin(x, y), p, (lists,)),
        ("multi_margin", lambda x, y: jaxloss.multi_margin(x, y, p=2), p, (lab,)),
        ("margin_ranking", lambda x, t, y: jaxloss.margin_ranking(x, t, y), p, (t, y)),
        ("hinge_embedding", lambda x, y: jaxloss.hinge_embedding(x, y), p, (y,)),
        ("cosine_embedding", lambda x, t, y: jaxloss.cosine_embedding(x, t, y[:, 0]), p, (t, y)),
        ("triplet_margin", lambda x, t, v: jaxloss.triplet_margin(x, t, v, swap=True), p, (t, v)),
    ]


@pytest.mark.parametrize("case", _all_calls(), ids=lambda c: c[0])
def test_16_bit_and_transforms(case):
    _, fn, x, rest = case
    want = fn(x, *rest)
    assert want.dtype == jnp.float32
    for dtype, rtol in ((jnp.bfloat16, 3e-2), (jnp.float16, 3e-3)):
        x16 = jnp.asarray(x, dtype)
        out = fn(x16, *rest)
        assert out.dtype == jnp.float32
        # computed in float32 from the rounded input
        np.testing.assert_allclose(out, fn(x16.astype(jnp.float32), *rest), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol)
    with jax.enable_x64(True):
        assert fn(jnp.asarray(x, jnp.float64), *rest).dtype == jnp.float64
    np.testing.assert_allclose(jax.jit(fn)(x, *rest), want, rtol=1e-6, atol=1e-6)
    batched = jax.vmap(lambda *a: fn(*[z[None] for z in a])[0])(x, *rest)
    np.testing.assert_allclose(batched, want, rtol=1e-6, atol=1e-6)
    scalar = lambda z: jnp.sum(fn(z, *rest))  # noqa: E731
    g, tangent = jax.jit(lambda z: (jax.grad(scalar)(z), jax.jvp(scalar, (z,), (jnp.ones_like(z),))[1]))(x)
    assert_all_finite(g, "gradient")
    np.testing.assert_allclose(tangent, jnp.sum(g), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_options_are_static_scalars():
    x = jnp.ones((2, 3))
    y = jnp.ones((2, 3))
    lab = jnp.array([0, 1])
    calls = {
        "margin": [
            lambda m: jaxloss.margin_ranking(x, y, y, margin=m),
            lambda m: jaxloss.hinge_embedding(x, y, margin=m),
            lambda m: jaxloss.multi_margin(x, lab, margin=m),
            lambda m: jaxloss.cosine_embedding(x, y, lab, margin=m),
            lambda m: jaxloss.triplet_margin(x, y, x, margin=m),
        ],
        "beta": [lambda b: jaxloss.smooth_l1(x, y, beta=b)],
        "eps": [lambda e: jaxloss.gaussian_nll(x, y, y, eps=e), lambda e: jaxloss.triplet_margin(x, y, x, eps=e)],
        "p": [lambda p: jaxloss.triplet_margin(x, y, x, p=p)],
    }
    for name, fns in calls.items():
        for fn in fns:
            with pytest.raises(TypeError, match=f"`{name}` is a static option"):
                jax.jit(fn)(1.0)
            with pytest.raises(ValueError, match=f"`{name}`"):
                fn(np.ones(3))


def test_bad_arguments_name_themselves():
    x, y = jnp.ones((2, 3)), jnp.ones((2, 3))
    lab = jnp.array([0, 1])
    cases = [
        (ValueError, "`p` must be 1 or 2", lambda: jaxloss.multi_margin(x, lab, p=3)),
        (TypeError, "`p`", lambda: jaxloss.multi_margin(x, lab, p=1.5)),
        (ValueError, "`p` must lie", lambda: jaxloss.triplet_margin(x, y, y, p=0.0)),
        (ValueError, "`beta` must lie", lambda: jaxloss.smooth_l1(x, y, beta=-1.0)),
        (ValueError, "`eps` must lie", lambda: jaxloss.gaussian_nll(x, y, y, eps=0.0)),
        (TypeError, "`full` must be a bool", lambda: jaxloss.gaussian_nll(x, y, y, full=1)),
        (TypeError, "`swap` must be a bool", lambda: jaxloss.triplet_margin(x, y, y, swap=None)),
        (TypeError, "`distance_fn`", lambda: jaxloss.triplet_margin(x, y, y, distance_fn=3)),
        (ValueError, "`distance_fn` must return", lambda: jaxloss.triplet_margin(x, y, y, distance_fn=lambda u, v: u)),
        (ValueError, "`variance`", lambda: jaxloss.gaussian_nll(x[:, :1], y[:, :1], jnp.ones(2))),
        (ValueError, "`targets`", lambda: jaxloss.smooth_l1(x[:, :1], jnp.ones(2))),
        (ValueError, "`x2`", lambda: jaxloss.margin_ranking(x[:, :1], jnp.ones(2), 1.0)),
        (ValueError, "`targets`", lambda: jaxloss.cosine_embedding(x, y, jnp.ones(3))),
        (ValueError, "`x2`", lambda: jaxloss.cosine_embedding(x, jnp.ones((3, 3)), 1.0)),
        (ValueError, "`negative`", lambda: jaxloss.triplet_margin(x, y, jnp.ones((3, 3)))),
        (ValueError, "`labels`", lambda: jaxloss.nll(x, jnp.array([0, 1, 2]))),
        (ValueError, "`labels`", lambda: jaxloss.multi_margin(x, jnp.array([0]))),
        (ValueError, "`labels`", lambda: jaxloss.multilabel_margin(x, lab)),
        (ValueError, "`labels`", lambda: jaxloss.multilabel_soft_margin(x, jnp.ones((3, 3)))),
        (TypeError, "`labels` must be an integer", lambda: jaxloss.nll(x, jnp.array([0.0, 1.0]))),
        (TypeError, "`labels` must be an integer", lambda: jaxloss.multilabel_margin(x, y)),
        (TypeError, "`log_probs` must be a floating", lambda: jaxloss.nll(jnp.ones((2, 3), int), lab)),
        (TypeError, "`scores` must be a floating", lambda: jaxloss.soft_margin(jnp.ones(2, int), 1.0)),
        (TypeError, "`anchor` must be a floating", lambda: jaxloss.triplet_margin(jnp.ones((2, 3), int), y, y)),
        (TypeError, "`x1` must be a floating", lambda: jaxloss.cosine_embedding(jnp.ones((2, 3), int), y, 1.0)),
        (TypeError, "`predictions` must be a floating", lambda: jaxloss.hinge_embedding(jnp.ones(2, int), 1.0)),
        (ValueError, "`class_weights`", lambda: jaxloss.nll(x, lab, class_weights=jnp.ones(4))),
        (ValueError, "`class_weights`", lambda: jaxloss.multi_margin(x, lab, class_weights=jnp.ones(2))),
        (ValueError, "`class_weights`", lambda: jaxloss.multilabel_soft_margin(x, y, class_weights=-jnp.ones(3))),
        (ValueError, "`where`", lambda: jaxloss.nll(x, lab, where=jnp.ones((4,), bool))),
        (ValueError, "`axis`", lambda: jaxloss.nll(x, lab, axis=2)),
        (TypeError, "`ignore_index`", lambda: jaxloss.nll(x, lab, ignore_index=1.5)),
    ]
    for kind, message, call in cases:
        with pytest.raises(kind, match=message):
            call()
