"""The stable primitives of ``jaxloss._primitives``: custom derivatives and edge guarantees.

Every custom JVP is checked against finite differences in float64, forward
and reverse mode, to second order (``check_grads_x64``) at points away from
kinks; the edge cases the hand-written rules exist for (``-inf`` entries,
empty rows, ``0 * log 0``, clipped probabilities, huge and infinite
arguments) are asserted value by value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import _primitives as P
from tests.helpers import assert_all_finite, check_grads_x64

INF = np.inf


def _np_logsumexp(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis)


def _jit(fn):
    # check_grads evaluates many transformed versions of fn; compiled ones are
    # much faster than op-by-op dispatch.
    return jax.jit(fn)


def _rows(seed=0, shape=(3, 5)):
    return np.random.default_rng(seed).normal(size=shape) * 2.0


# --------------------------------------------------------------------------
# logsumexp / log_softmax / softmax
# --------------------------------------------------------------------------


def test_logsumexp_grads():
    x = _rows(0)
    check_grads_x64(
        _jit(lambda v: (P.logsumexp(v, -1), P.logsumexp(v, 0), P.logsumexp(v, 0, keepdims=True))),
        (x,),
        eps=1e-6,
    )


def test_log_sum_exp_shifted_grads():
    # The shift is a differentiable argument of the primitive (callers pass a
    # stop_gradient'ed row max): d/dshift = -sum(softmax) = -1.
    x = _rows(6)
    shift = np.max(x, -1, keepdims=True) - 0.3
    check_grads_x64(_jit(lambda v, s: P.log_sum_exp_shifted(v, s, -1)), (x, shift), eps=1e-6)
    x[1, :2] = -INF
    check_grads_x64(_jit(lambda v, s: P.log_sum_exp_shifted(v, s, -1)), (x, shift), eps=1e-6)
    with jax.enable_x64(True):
        out = P.log_sum_exp_shifted(jnp.asarray(x), jnp.asarray(shift), -1)
        np.testing.assert_allclose(out, _np_logsumexp(x)[:, None] - shift, rtol=1e-12)


@pytest.mark.parametrize("keep_exp", [False, True])
def test_log_sum_exp_shifted_keep_exp_grads(keep_exp):
    # keep_exp changes how the softmax of the derivative is formed (kept
    # exponentials over their sum, or recomputed), never a value.
    x = _rows(6)
    shift = np.max(x, -1, keepdims=True) - 0.3
    fn = _jit(lambda v, s: P.log_sum_exp_shifted(v, s, -1, keep_exp))
    check_grads_x64(fn, (x, shift), eps=1e-6)
    x[1, :2] = -INF
    x[2, :] = -INF  # a fully masked row: value -inf, zero gradient
    shift[2] = 0.0
    with jax.enable_x64(True):
        grad = jax.grad(lambda v: jnp.sum(jnp.where(jnp.isfinite(fn(v, shift)), fn(v, shift), 0.0)))(x)
        reference = jax.grad(
            lambda v: jnp.sum(
                jnp.where(jnp.isfinite(P.log_sum_exp_shifted(v, shift, -1)), P.log_sum_exp_shifted(v, shift, -1), 0.0)
            )
        )(x)
        grad, reference = np.asarray(grad), np.asarray(reference)
    np.testing.assert_array_equal(grad[2], 0.0)
    np.testing.assert_allclose(grad, reference, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.sum(grad[:2], -1), 1.0, rtol=1e-12)


def _poly1_autodiff(x, y, epsilon):
    log_p = P.log_softmax(x, -1)
    return -jnp.sum(y * log_p, -1) + epsilon * jnp.sum(y * (1.0 - jnp.exp(log_p)), -1)


@pytest.mark.parametrize("epsilon", [1.0, -0.5, 0.0])
def test_poly1_cross_entropy_rows_grads(epsilon):
    x = _rows(11)
    y = np.random.default_rng(12).dirichlet(np.ones(5), size=3)
    fn = _jit(lambda v, t: P.poly1_cross_entropy_rows(v, t, epsilon))
    check_grads_x64(fn, (x, y), eps=1e-6)
    with jax.enable_x64(True):
        np.testing.assert_allclose(fn(x, y), _poly1_autodiff(x, y, epsilon), rtol=1e-12)
        for argnum in (0, 1):
            ours = jax.grad(lambda v, t: jnp.sum(fn(v, t)), argnum)(x, y)
            theirs = jax.grad(lambda v, t: jnp.sum(_poly1_autodiff(v, t, epsilon)), argnum)(x, y)
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-10, atol=1e-14)


def test_poly1_cross_entropy_rows_masked_class_with_zero_label():
    # A -inf logit is a masked class; with a zero label it adds 0 to the value
    # to the value and to the logit gradient (safe_mul's rule), never nan.
    x = np.array([[1.0, -INF, 0.5], [2.0, 0.0, -1.0]])
    y = np.array([[0.7, 0.0, 0.3], [0.0, 1.0, 0.0]])
    with jax.enable_x64(True):
        value, (gx, gy) = jax.value_and_grad(lambda v, t: jnp.sum(P.poly1_cross_entropy_rows(v, t, 1.0)), (0, 1))(x, y)
        expected = jnp.sum(_poly1_autodiff(jnp.asarray(x[1:]), jnp.asarray(y[1:]), 1.0)) + jnp.sum(
            _poly1_autodiff(jnp.asarray(x[:1, [0, 2]]), jnp.asarray(y[:1, [0, 2]]), 1.0)
        )
        value, expected, gx, gy = (np.asarray(a) for a in (value, expected, gx, gy))
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))
    # d/dy there is epsilon * (1 - p) = 1: only the -y log p term is dropped.
    assert gx[0, 1] == 0.0 and gy[0, 1] == 1.0


def test_logsumexp_with_where_grads():
    x = _rows(1)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    check_grads_x64(_jit(lambda v: P.logsumexp(v, -1, where=mask)), (x,), eps=1e-6)
    # Masked entries play no part in the value.
    np.testing.assert_allclose(
        P.logsumexp(jnp.asarray(x, jnp.float32), -1, where=mask),
        _np_logsumexp(np.where(mask, x, -INF)),
        rtol=1e-6,
    )


def test_log_softmax_and_softmax_grads():
    x = _rows(2)
    check_grads_x64(_jit(lambda v: (P.log_softmax(v, -1), P.log_softmax(v, 0), P.softmax(v, -1))), (x,), eps=1e-6)


def test_log_softmax_with_where_grads():
    x = _rows(3)
    mask = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], bool)
    # Masked entries are -inf: compare only the unmasked ones (finite
    # differences of -inf are nan).
    check_grads_x64(
        _jit(lambda v: (jnp.where(mask, P.log_softmax(v, -1, where=mask), 0.0), P.softmax(v, -1, where=mask))),
        (x,),
        eps=1e-6,
    )


def test_logsumexp_with_minus_inf_entries_grads():
    # -inf entries are finite-difference safe (-inf + eps == -inf).
    x = _rows(4)
    x[0, 1] = x[1, 3] = x[1, 4] = -INF
    check_grads_x64(
        _jit(lambda v: (P.logsumexp(v, -1), jnp.where(np.isfinite(x), P.log_softmax(v, -1), 0.0))),
        (x,),
        eps=1e-6,
    )


def test_logsumexp_minus_inf_rows_value_grad_hessian():
    x = jnp.array([[1.0, -INF, 2.0], [-INF, -INF, -INF], [-INF, 3.0, -INF]], jnp.float32)
    out = P.logsumexp(x, -1)
    np.testing.assert_allclose(out[0], np.logaddexp(1.0, 2.0), rtol=1e-6)
    assert out[1] == -INF
    np.testing.assert_allclose(out[2], 3.0, rtol=1e-6)

    g = _jit(jax.grad(lambda v: jnp.sum(jnp.where(jnp.isfinite(P.logsumexp(v, -1)), P.logsumexp(v, -1), 0.0))))(x)
    assert_all_finite(g, "gradient")
    np.testing.assert_array_equal(g[1], 0.0)
    np.testing.assert_array_equal(g[:, 1][0], 0.0)  # -inf entry of a live row
    np.testing.assert_allclose(g[2], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(jnp.sum(g[0]), 1.0, rtol=1e-6)

    # Per-row gradient of the empty row itself (its value is -inf): 0, not nan.
    g_row = _jit(jax.grad(lambda v: P.logsumexp(v, -1)[1]))(x)
    np.testing.assert_array_equal(g_row, 0.0)
    h_row = _jit(jax.hessian(lambda v: P.logsumexp(v, -1)[1]))(x)
    np.testing.assert_array_equal(h_row, 0.0)
    # Forward mode too.
    _, t = jax.jvp(lambda v: P.logsumexp(v, -1), (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(t, [1.0, 0.0, 1.0], rtol=1e-6)

    # Hessian of a finite function of all rows stays finite.
    h = _jit(jax.hessian(lambda v: jnp.sum(P.softmax(v, -1) ** 2)))(x)
    assert_all_finite(h, "hessian")


def test_fully_masked_rows_with_where_and_nan():
    x = jnp.array([[jnp.nan, INF, -INF], [0.5, jnp.nan, 1.5]], jnp.float32)
    mask = jnp.array([[False, False, False], [True, False, True]])
    lse = P.logsumexp(x, -1, where=mask)
    assert lse[0] == -INF
    np.testing.assert_allclose(lse[1], np.logaddexp(0.5, 1.5), rtol=1e-6)

    ls = P.log_softmax(x, -1, where=mask)
    assert np.all(np.asarray(ls[0]) == -INF)
    assert ls[1, 1] == -INF
    assert not np.any(np.isnan(np.asarray(ls)))
    sm = P.softmax(x, -1, where=mask)
    np.testing.assert_array_equal(sm[0], 0.0)
    np.testing.assert_allclose(sm[1], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)], rtol=1e-6)

    finite_ls = lambda v: jnp.sum(jnp.where(mask, P.log_softmax(v, -1, where=mask), 0.0))
    for fn in (
        lambda v: P.logsumexp(v, -1, where=mask)[0],
        lambda v: jnp.sum(P.softmax(v, -1, where=mask) ** 2),
        finite_ls,
    ):
        g = _jit(jax.grad(fn))(x)
        assert_all_finite(g, "gradient")
        np.testing.assert_array_equal(np.asarray(g)[~np.asarray(mask)], 0.0)
        h = _jit(jax.hessian(fn))(x)
        assert_all_finite(h, "hessian")
        _, t = _jit(lambda a, b, fn=fn: jax.jvp(fn, (a,), (b,)))(x, jnp.ones_like(x))
        assert np.isfinite(t)


def test_softmax_is_normalised_at_huge_logits():
    # logsumexp([t, t, 0]) rounds to t in float32 for t >= ~1e8, so
    # exp(x - logsumexp(x)) gives [1, 1, 0]; the softmax (and the gradient of
    # logsumexp, which is the softmax) must still sum to 1: [0.5, 0.5, 0].
    x = jnp.array([[1e30, 1e30, 0.0], [1e4, 1e4, 0.0], [-1e30, 5e29, 5e29]], jnp.float32)
    expected = np.array(jax.nn.softmax(x, -1))
    np.testing.assert_allclose(expected[:2], [[0.5, 0.5, 0.0]] * 2, atol=1e-7)
    np.testing.assert_allclose(P.softmax(x, -1), expected, rtol=1e-6, atol=1e-7)
    g = _jit(jax.grad(lambda v: jnp.sum(P.logsumexp(v, -1))))(x)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jnp.sum(P.softmax(x, -1), -1), 1.0, rtol=1e-6)


def test_log_softmax_masked_value_matches_numpy():
    x = _rows(5).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    got = P.log_softmax(x, -1, where=mask)
    ref = np.where(mask, x - _np_logsumexp(np.where(mask, x, -INF))[:, None], -INF)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------
# safe_mul, xlogy, xlogx
# --------------------------------------------------------------------------


def test_safe_mul_zero_times_inf():
    for v in (INF, -INF, np.nan):
        out, (gc, gv) = jax.value_and_grad(P.safe_mul, argnums=(0, 1))(0.0, v)
        assert out == 0.0
        assert gc == 0.0 and gv == 0.0
    # Infinity still shows where the coefficient is not 0.
    assert P.safe_mul(2.0, INF) == INF
    assert P.safe_mul(-1.0, INF) == -INF
    # Ordinary product and gradients where the value is finite (also at coef 0).
    out, (gc, gv) = jax.value_and_grad(P.safe_mul, argnums=(0, 1))(0.0, 3.0)
    assert out == 0.0 and gc == 3.0 and gv == 0.0
    check_grads_x64(_jit(P.safe_mul), (np.array([0.5, -2.0, 0.0]), np.array([3.0, 0.25, -1.5])), eps=1e-6)


def test_xlogy_grads_interior():
    x = np.array([0.3, 1.7, 2.0, 0.9])
    y = np.array([0.5, 3.0, 0.2, 1.0])
    check_grads_x64(_jit(P.xlogy), (x, y), eps=1e-6)
    np.testing.assert_allclose(P.xlogy(x, y), x * np.log(y), rtol=1e-6)


def test_xlogy_at_zero_zero():
    out = P.xlogy(0.0, 0.0)
    assert out == 0.0
    gx, gy = jax.grad(P.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert np.isfinite(gx) and np.isfinite(gy)
    assert gy == 0.0
    # x == 0 with y > 0: derivative log(y) in x, 0 in y.
    gx, gy = jax.grad(P.xlogy, argnums=(0, 1))(0.0, 2.0)
    np.testing.assert_allclose(gx, np.log(2.0), rtol=1e-6)
    assert gy == 0.0
    # Vectorised, with a zero label next to a zero probability.
    x = jnp.array([0.0, 1.0, 0.0])
    y = jnp.array([0.0, 0.5, 0.7])
    np.testing.assert_allclose(P.xlogy(x, y), [0.0, np.log(0.5), 0.0], rtol=1e-6)
    g = _jit(jax.grad(lambda a, b: jnp.sum(P.xlogy(a, b)), argnums=(0, 1)))(x, y)
    assert_all_finite(g, "gradient")
    h = _jit(jax.hessian(lambda a, b: jnp.sum(P.xlogy(a, b)), argnums=(0, 1)))(x, y)
    assert_all_finite(h, "hessian")


def test_xlogy_grads_where_x_is_zero():
    # xlogy is smooth at x == 0 for y > 0 (x log y is bilinear-ish there):
    # the Hessian is [[0, 1/y], [1/y, -x/y**2]], symmetric.
    x = np.array([0.0, 0.0])
    y = np.array([0.5, 2.0])
    with jax.enable_x64(True):
        h = jax.hessian(P.xlogy, argnums=(0, 1))(0.0, 2.0)
        np.testing.assert_allclose(np.array(h, dtype=np.float64), [[0.0, 0.5], [0.5, 0.0]], atol=1e-12)
    check_grads_x64(_jit(P.xlogy), (x, y), eps=1e-6)


def test_xlogx_grads_and_zero():
    check_grads_x64(_jit(P.xlogx), (np.array([0.05, 0.4, 1.0, 2.5]),), eps=1e-6)
    assert P.xlogx(0.0) == 0.0
    g = jax.grad(P.xlogx)(0.0)
    assert np.isfinite(g) and g < -80  # log(tiny) + 1: large and negative
    np.testing.assert_allclose(jax.grad(P.xlogx)(1.0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(jax.grad(P.xlogx))(2.0), 0.5, rtol=1e-6)


# --------------------------------------------------------------------------
# clip_straight_through, log_clipped
# --------------------------------------------------------------------------


def test_clip_straight_through_interior_grads():
    x = np.array([0.2, 0.45, 0.7])
    check_grads_x64(
        _jit(
            lambda v: (
                P.clip_straight_through(v, 0.1, 0.9),
                P.log_clipped(v, 1e-3),
                jnp.log(1.0 - P.clip_straight_through(v, 1e-3, 1 - 1e-3)),
            )
        ),
        (x,),
        eps=1e-6,
    )


def test_clip_straight_through_at_clipped_points():
    x = jnp.array([-0.5, 0.0, 1.0, 1.5])
    out = P.clip_straight_through(x, 0.1, 0.9)
    np.testing.assert_allclose(out, [0.1, 0.1, 0.9, 0.9], rtol=1e-6)
    g = jax.grad(lambda v: jnp.sum(P.clip_straight_through(v, 0.1, 0.9)))(x)
    np.testing.assert_array_equal(g, 1.0)
    _, t = jax.jvp(lambda v: P.clip_straight_through(v, 0.1, 0.9), (x,), (jnp.full_like(x, 2.0),))
    np.testing.assert_array_equal(t, 2.0)
    # Derivative of f(clip(x)) is f'(clip(x)); the second derivative f''(clip(x)).
    f = lambda v: P.clip_straight_through(v, 0.1, 0.9) ** 3
    for v, c in ((-0.5, 0.1), (1.5, 0.9)):
        np.testing.assert_allclose(jax.grad(f)(v), 3 * c**2, rtol=1e-6)
        np.testing.assert_allclose(jax.grad(jax.grad(f))(v), 6 * c, rtol=1e-6)
        np.testing.assert_allclose(jax.jacfwd(jax.jacfwd(f))(v), 6 * c, rtol=1e-6)


@pytest.mark.parametrize("eps", [1e-7, 1e-3])
def test_log_clipped_at_zero_and_one(eps):
    p = jnp.array([0.0, 1.0], jnp.float32)
    out = P.log_clipped(p, eps)
    e32 = np.float32(eps)
    np.testing.assert_allclose(out, [np.log(e32), np.log(np.float32(1) - e32)], rtol=1e-6)
    g = jax.grad(lambda v: jnp.sum(P.log_clipped(v, eps)))(p)
    assert_all_finite(g, "gradient")
    assert np.all(np.asarray(g) > 0)
    np.testing.assert_allclose(g, [1 / e32, 1 / (np.float32(1) - e32)], rtol=1e-6)
    h = jax.hessian(lambda v: jnp.sum(P.log_clipped(v, eps)))(p)
    assert_all_finite(h, "hessian")
    np.testing.assert_allclose(jnp.diag(h), [-1 / e32**2, -1 / (np.float32(1) - e32) ** 2], rtol=1e-5)
    # log(1 - p) side, as binary cross-entropy uses it: gradient -1/(1 - clip(p)).
    g1 = jax.grad(lambda v: jnp.log(1.0 - P.clip_straight_through(v, e32, 1 - e32)))(jnp.float32(1.0))
    np.testing.assert_allclose(g1, -1 / (np.float32(1) - (np.float32(1) - e32)), rtol=1e-6)


def test_log_clipped_float64_dtype():
    with jax.enable_x64(True):
        out = P.log_clipped(jnp.array([0.0, 0.5], jnp.float64), 1e-12)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, [np.log(1e-12), np.log(0.5)], rtol=1e-12)


# --------------------------------------------------------------------------
# softplus, log_sigmoid, log_cosh
# --------------------------------------------------------------------------

SMOOTH_POINTS = np.array([-6.0, -1.3, -0.2, 0.4, 2.5, 7.0])


def test_smooth_grads():
    check_grads_x64(_jit(lambda v: (P.softplus(v), P.log_sigmoid(v), P.log_cosh(v))), (SMOOTH_POINTS,), eps=1e-6)


def test_smooth_values_match_numpy():
    x = np.array([-1e30, -100.0, -3.0, 0.0, 0.5, 20.0, 100.0, 1e30], np.float32)
    x64 = x.astype(np.float64)
    # exp(-100) is subnormal in float32 (flushed to 0 on CPU): atol covers it.
    np.testing.assert_allclose(P.softplus(x), np.logaddexp(0.0, x64), rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(P.log_sigmoid(x), -np.logaddexp(0.0, -x64), rtol=1e-6, atol=1e-37)
    ref_cosh = np.abs(x64) + np.log1p(np.exp(-2 * np.abs(x64))) - np.log(2.0)
    np.testing.assert_allclose(P.log_cosh(x), ref_cosh, rtol=1e-6, atol=1e-7)
    small = np.array([-3.0, -0.5, 0.25, 2.0])
    np.testing.assert_allclose(P.log_cosh(small), np.log(np.cosh(small)), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_smooth_at_huge_and_infinite(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        xs = jnp.array([1e30, -1e30, INF, -INF], dtype)
        big = xs[0]  # 1e30 rounded to the dtype
        sp = P.softplus(xs)
        np.testing.assert_array_equal(sp, [big, 0.0, INF, 0.0])
        ls = P.log_sigmoid(xs)
        np.testing.assert_array_equal(ls, [0.0, -big, 0.0, -INF])
        lc = P.log_cosh(xs)
        np.testing.assert_array_equal(lc, [big, big, INF, INF])
        d1 = {f: _jit(jax.vmap(jax.grad(f)))(xs) for f in (P.softplus, P.log_sigmoid, P.log_cosh)}
        d2 = {f: _jit(jax.vmap(jax.grad(jax.grad(f))))(xs) for f in (P.softplus, P.log_sigmoid, P.log_cosh)}
        np.testing.assert_array_equal(d1[P.softplus], [1.0, 0.0, 1.0, 0.0])
        np.testing.assert_array_equal(d1[P.log_sigmoid], [0.0, 1.0, 0.0, 1.0])
        np.testing.assert_array_equal(d1[P.log_cosh], [1.0, -1.0, 1.0, -1.0])
        for f in d2:
            np.testing.assert_array_equal(np.abs(np.asarray(d2[f])), 0.0)
        # Forward mode agrees.
        for f in d1:
            _, t = jax.jvp(f, (xs,), (jnp.ones_like(xs),))
            np.testing.assert_array_equal(t, d1[f])


def test_second_derivatives_at_zero():
    for transform in (
        lambda f: _jit(jax.grad(jax.grad(f))),
        lambda f: _jit(jax.jacfwd(jax.jacfwd(f))),
        lambda f: _jit(jax.jacfwd(jax.grad(f))),
        lambda f: _jit(jax.hessian(f)),
    ):
        np.testing.assert_allclose(transform(P.softplus)(0.0), 0.25, rtol=1e-6)
        np.testing.assert_allclose(transform(P.log_sigmoid)(0.0), -0.25, rtol=1e-6)
        np.testing.assert_allclose(transform(P.log_cosh)(0.0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(P.softplus)(0.0), 0.5, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(P.log_cosh)(0.0), 0.0, atol=0)
    # Third derivative of softplus at 0 is sigma''(0) = 0; of log_cosh, -2 tanh sech^2 = 0.
    np.testing.assert_allclose(jax.grad(jax.grad(jax.grad(P.softplus)))(0.0), 0.0, atol=1e-7)
    np.testing.assert_allclose(jax.grad(jax.grad(jax.grad(P.log_cosh)))(0.0), 0.0, atol=1e-7)


# --------------------------------------------------------------------------
# empty rows, exact rescaling (inverse_scale, ratio, normalize)
# --------------------------------------------------------------------------


def test_logsumexp_of_an_empty_axis_is_minus_inf():
    # An empty batch of references (circle) or of classes: an empty sum, not an error.
    x = jnp.zeros((3, 0))
    np.testing.assert_array_equal(P.logsumexp(x, 1), [-INF] * 3)
    np.testing.assert_array_equal(P.row_max(x, 1), np.zeros((3, 1)))
    assert P.log_softmax(x, 1).shape == (3, 0)
    g = jax.grad(lambda v: jnp.sum(jnp.where(jnp.isfinite(P.logsumexp(v, 1)), P.logsumexp(v, 1), 0.0)))(x)
    assert g.shape == (3, 0)


def test_inverse_scale_is_an_exact_normal_power_of_two():
    m = jnp.array([1e-30, 0.3, 1.0, 1.5, 2.0, 1e30, 3e38, 0.0, INF], jnp.float32)
    r = np.asarray(P.inverse_scale(m), np.float64)
    mantissa, _ = np.frexp(r)
    np.testing.assert_array_equal(mantissa, 0.5)  # powers of two
    tiny = np.finfo(np.float32).tiny
    assert np.all((r >= tiny) & (1.0 / r >= tiny))  # r and 1 / r are normal numbers
    scaled = np.asarray(m[:6], np.float64) * r[:6]
    assert np.all((scaled >= 1.0) & (scaled < 2.0)), scaled
    assert 1.0 <= 3e38 * r[6] < 4.0  # the top of the range, clamped
    np.testing.assert_array_equal(r[7:], [1.0, 1.0])
    assert float(jax.grad(lambda v: P.inverse_scale(v))(jnp.float32(3.0))) == 0.0


def test_ratio_grads():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=4), rng.random(4) + 0.5
    check_grads_x64(_jit(P.ratio), (x, y * np.sign(rng.normal(size=4))), eps=1e-6)


def test_ratio_derivatives_are_scale_free():
    # x / y is homogeneous: at (1e-20 a, 1e-20 b) the value and the derivatives
    # in (a, b) are those at (a, b). Plain division squares 3e-20 there, which
    # underflows, and its Hessian is nan.
    def scaled(v, s):
        return P.ratio(s * v[0], s * v[1])

    v = jnp.array([1.0, 3.0])
    for s in (1e-20, 1e20, 1e-35):
        s = jnp.float32(s)
        np.testing.assert_allclose(scaled(v, s), 1.0 / 3.0, rtol=1e-6)
        np.testing.assert_allclose(jax.grad(scaled)(v, s), [1.0 / 3.0, -1.0 / 9.0], rtol=1e-6)
        np.testing.assert_allclose(_jit(jax.hessian(scaled))(v, s), [[0.0, -1 / 9], [-1 / 9, 2 / 27]], rtol=1e-5)
    assert bool(jnp.any(jnp.isnan(jax.hessian(lambda v: (1e-20 * v[0]) / (1e-20 * v[1]))(v))))
    # Same bits as x / y.
    x = jnp.asarray(np.random.default_rng(2).normal(size=50), jnp.float32)
    y = jnp.asarray(np.random.default_rng(3).normal(size=50), jnp.float32) * 1e-20
    np.testing.assert_array_equal(_jit(P.ratio)(x, y), x / y)


def test_normalize_grads():
    rng = np.random.default_rng(12)
    x = rng.random((3, 4)) + 0.1
    check_grads_x64(_jit(lambda v: (P.normalize(v, -1), P.normalize(v, 0))), (x,), eps=1e-6)


def test_normalize_values_and_tiny_rows():
    rng = np.random.default_rng(13)
    x = jnp.asarray(rng.random((6, 5)), jnp.float32) * jnp.array([[1.0], [1e-20], [1e-35], [1e30], [1e37], [3.0]])
    np.testing.assert_array_equal(_jit(P.normalize)(x), x / jnp.sum(x, -1, keepdims=True))
    # A row of zeros is left as it is, with the identity as derivative.
    zeros = jnp.zeros((1, 3))
    np.testing.assert_array_equal(P.normalize(zeros), zeros)
    np.testing.assert_array_equal(jax.jacobian(lambda v: P.normalize(v)[0])(zeros)[:, 0], np.eye(3))

    # p / sum(p) is scale-free: at a row of 1e-20 (whose squared sum flushes to
    # 0, so autodiff of p / sum(p) gives nan) the gradient is 1e20 times the one at 1.
    def f(v):
        return jnp.log(P.normalize(v)[0])

    one = jnp.array([1.0, 2.0, 3.0])
    g1 = jax.grad(f)(one)
    for s in (1e-20, 1e-30):
        g = _jit(jax.grad(f))(s * one)
        np.testing.assert_allclose(g, g1 / jnp.float32(s), rtol=1e-5)
    assert bool(jnp.any(jnp.isnan(jax.grad(lambda v: jnp.log((v / jnp.sum(v))[0]))(1e-20 * one))))
    assert_all_finite(_jit(jax.hessian(f))(1e-10 * one), "hessian")


# --------------------------------------------------------------------------
# power, log1mexp, log_sum_exp (moved here from the loss modules)
# --------------------------------------------------------------------------


def test_power_grads_and_zero():
    rng = np.random.default_rng(14)
    check_grads_x64(_jit(P.power), (rng.random(4) + 0.2, rng.random(4) * 2 + 0.3), eps=1e-6)
    # At x == 0 with q < 1 the derivative is taken at sqrt(tiny): finite to the Hessian.
    x0, q = jnp.float32(0.0), jnp.float32(0.5)
    floor = np.sqrt(np.finfo(np.float32).tiny)
    np.testing.assert_allclose(jax.grad(P.power)(x0, q), 0.5 * floor**-0.5, rtol=1e-5)
    assert_all_finite(jax.hessian(P.power, argnums=(0, 1))(x0, q), "hessian")
    assert float(jax.grad(P.power, argnums=1)(x0, q)) == 0.0


def test_log1mexp_grads_and_at_one():
    check_grads_x64(_jit(P.log1mexp), (np.array([-5.0, -1.0, -0.5, -0.01]),), eps=1e-7)
    v = np.array([-30.0, -1.0, -0.6931472, -1e-6], np.float32)
    # rtol: XLA's float32 log1p(-exp(-30)) is ~2e-4 off; the other points are exact to 1e-6.
    np.testing.assert_allclose(P.log1mexp(v), np.log(-np.expm1(v.astype(np.float64))), rtol=5e-4)
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(P.log1mexp(jnp.float32(0.0)), np.log(tiny), rtol=1e-6)
    assert_all_finite(jax.hessian(P.log1mexp)(jnp.float32(0.0)), "hessian")


def test_log_sum_exp_grads_and_unreachable_rows():
    check_grads_x64(_jit(lambda v: P.log_sum_exp(v, -1)), (_rows(15),), eps=1e-6)
    x = jnp.array([[0.5, -INF, 1.0], [-INF, -INF, -INF]])
    np.testing.assert_allclose(P.log_sum_exp(x), [np.logaddexp(0.5, 1.0), -INF])
    # Plain autodiff, finite to second order also on the all -inf row.
    h = jax.hessian(lambda v: jnp.sum(jnp.where(jnp.isfinite(P.log_sum_exp(v)), P.log_sum_exp(v), 0.0)))(x)
    assert_all_finite(h, "hessian")


# --------------------------------------------------------------------------
# sigmoid focal weight
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_weight_grads(gamma):
    rng = np.random.default_rng(16)
    z = rng.normal(size=5) * 2
    y = np.array([0.1, 0.3, 0.5, 0.8, 0.95])
    check_grads_x64(_jit(P.sigmoid_focal_weight), (z, y, np.float64(gamma)), eps=1e-6)


def test_sigmoid_focal_weight_values():
    z = np.array([-3.0, 0.0, 2.0, 40.0])
    for y in (0.0, 1.0, 0.3):
        one_minus_pt = y / (1 + np.exp(z)) + (1 - y) / (1 + np.exp(-z))
        for gamma in (0.0, 0.5, 2.0):
            np.testing.assert_allclose(
                P.sigmoid_focal_weight(jnp.asarray(z, jnp.float32), jnp.float32(y), jnp.float32(gamma)),
                one_minus_pt**gamma,
                rtol=1e-5,
                atol=1e-30,
            )


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_focal_weight_at_huge_logits(gamma):
    # At |z| ~ 1e38 the weight is 0 or 1 and its derivatives are 0; the
    # product rule then meets a cross-entropy of 2e38, which autodiff turned
    # into inf * 0 = nan.
    z = jnp.array([2e38, 2e38, -2e38, -2e38])
    y = jnp.array([1.0, 0.0, 1.0, 0.0])
    g = jnp.float32(gamma)
    w = P.sigmoid_focal_weight(z, y, g)
    np.testing.assert_array_equal(w, [0.0, 1.0, 1.0, 0.0] if gamma else [1.0] * 4)
    d = _jit(jax.vmap(jax.grad(P.sigmoid_focal_weight, argnums=(0, 1, 2)), (0, 0, None)))(z, y, g)
    np.testing.assert_array_equal(d[0], 0.0)
    assert_all_finite(d, "gradient")
    ce = jnp.where(y == 1, P.softplus(-z), P.softplus(z))
    grad_loss = _jit(jax.grad(lambda v: jnp.sum(P.sigmoid_focal_weight(v, y, g) * ce)))(z)
    assert_all_finite(grad_loss, "gradient")


# --------------------------------------------------------------------------
# Poisson terms
# --------------------------------------------------------------------------


def test_poisson_terms_grads():
    rng = np.random.default_rng(17)
    x, t = rng.normal(size=5), rng.random(5) * 4 + 0.5
    r = rng.random(5) * 4 + 0.5
    check_grads_x64(_jit(P.exp_minus_mul), (x, t), eps=1e-6)
    check_grads_x64(_jit(P.poisson_deviance_log), (x, t), eps=1e-6)
    check_grads_x64(_jit(P.poisson_deviance_rate), (r, t), eps=1e-6)
    # exp_minus_mul also for t <= 0.
    check_grads_x64(_jit(P.exp_minus_mul), (x, np.array([0.0, -1.0, -3.0, 0.5, 0.0])), eps=1e-6)


def test_poisson_terms_values():
    x = np.array([-3.0, 0.2, 1.5, 20.0])
    t = np.array([0.5, 1.0, 4.0, 7.0])
    np.testing.assert_allclose(
        P.exp_minus_mul(jnp.asarray(x, jnp.float32), jnp.asarray(t, jnp.float32)), np.exp(x) - t * x, rtol=1e-6
    )
    np.testing.assert_allclose(
        P.poisson_deviance_log(jnp.asarray(x, jnp.float32), jnp.asarray(t, jnp.float32)),
        np.exp(x) - t - t * (x - np.log(t)),
        rtol=1e-5,
    )
    r = np.array([1e-3, 0.9, 4.2, 100.0])
    np.testing.assert_allclose(
        P.poisson_deviance_rate(jnp.asarray(r, jnp.float32), jnp.asarray(t, jnp.float32)),
        r - t - t * np.log(r / t),
        rtol=1e-5,
    )
    # A near fit keeps its digits: 1e6 (r / t - 1 - log(r / t)) ~ 5e-3 at r / t = 1 + 1e-4.
    with jax.enable_x64(True):
        t64, r64 = 1e6, 1e6 + 100.0
        expect = t64 * (r64 / t64 - 1 - np.log1p(100.0 / t64))
    np.testing.assert_allclose(P.poisson_deviance_rate(jnp.float32(r64), jnp.float32(t64)), expect, rtol=2e-3)


def test_poisson_terms_at_huge_arguments():
    x = jnp.array([1e30, 89.0, 88.0])
    t = jnp.array([1e30, 1e37, 3e36])
    # Both terms overflow in the first two: no inf - inf. The third is finite.
    np.testing.assert_array_equal(P.exp_minus_mul(x[:2], t[:2]), [INF, -INF])
    np.testing.assert_allclose(P.exp_minus_mul(x[2], t[2]), np.exp(88.0) - 3e36 * 88.0, rtol=1e-5)
    g = jax.vmap(jax.grad(P.exp_minus_mul, argnums=(0, 1)))(x, t)
    assert_all_finite(g, "gradient")
    np.testing.assert_allclose(g[1], -x)
    # 0 * -inf is the limit 0, and so is its derivative in t.
    assert float(P.exp_minus_mul(jnp.float32(-INF), jnp.float32(0.0))) == 0.0
    assert float(jax.grad(P.exp_minus_mul, argnums=1)(jnp.float32(-INF), jnp.float32(0.0))) == 0.0
    # Deviances at counts of 1e38: exactly 0 at a perfect fit, finite derivatives.
    big = jnp.float32(1e38)
    assert abs(float(P.poisson_deviance_log(jnp.log(big), big))) < 1e33  # 1e38 * ulp(log 1e38)**2
    assert float(P.poisson_deviance_rate(big, big)) == 0.0
    for f, a in ((P.poisson_deviance_log, jnp.log(big)), (P.poisson_deviance_rate, big)):
        assert_all_finite(jax.grad(f, argnums=(0, 1))(a, big), "gradient")
        assert_all_finite(jax.hessian(f, argnums=(0, 1))(a, big), "hessian")
    assert_all_finite(jax.hessian(P.exp_minus_mul, argnums=(0, 1))(jnp.float32(1e30), jnp.float32(1e30)), "hessian")
