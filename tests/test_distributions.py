"""Core tests of kl_divergence and poisson_nll (jax + numpy only)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import (
    assert_all_finite,
    assert_transform_invariant,
    check_grads_x64,
    value_grad_hessian,
)


def _vgh(fn, x):
    """``value_grad_hessian`` under one ``jit`` (eager Hessians are slow to dispatch)."""
    return jax.jit(lambda z: value_grad_hessian(fn, z))(x)


def _dist(rng, shape):
    x = rng.random(shape) + 0.05
    return (x / x.sum(-1, keepdims=True)).astype(np.float32)


def _np_kl(log_p, t, axis=-1):
    log_p, t = np.float64(log_p), np.float64(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t == 0, 0.0, t * (np.log(np.where(t == 0, 1.0, t)) - log_p))
    return terms.sum(axis)


# --------------------------------------------------------------------------
# kl_divergence
# --------------------------------------------------------------------------


def test_kl_matches_numpy():
    rng = np.random.default_rng(0)
    p, t = _dist(rng, (4, 5)), _dist(rng, (4, 5))
    t[0, :2] = 0.0  # zero-mass classes
    log_p = np.log(p)
    out = jaxloss.kl_divergence(log_p, t)
    assert out.shape == (4,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_kl(log_p, t), rtol=1e-6, atol=1e-7)
    # Identical distributions give 0; KL is non-negative.
    np.testing.assert_allclose(jaxloss.kl_divergence(log_p, p), 0.0, atol=1e-6)
    assert np.all(np.asarray(out) >= 0)


def test_kl_axis_and_broadcast_targets():
    rng = np.random.default_rng(1)
    p, t = _dist(rng, (3, 6)), _dist(rng, (6,))
    out = jaxloss.kl_divergence(np.log(p).T, t[:, None], axis=0)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, _np_kl(np.log(p), t[None]), rtol=1e-6, atol=1e-7)


def test_kl_log_targets_equals_linear_targets():
    rng = np.random.default_rng(2)
    p, t = _dist(rng, (4, 5)), _dist(rng, (4, 5))
    t[1, 3] = 0.0
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    a = jaxloss.kl_divergence(np.log(p), log_t, log_targets=True)
    b = jaxloss.kl_divergence(np.log(p), t)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a, _np_kl(np.log(p), t), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("log_targets", [False, True])
def test_kl_zero_target_with_neg_inf_log_prediction(log_targets):
    log_p = jnp.array([[-jnp.inf, math.log(0.5), math.log(0.5)]])
    t = jnp.array([[0.0, 0.5, 0.5]])
    tgt = jnp.log(t) if log_targets else t
    fn = lambda lp, tt: jnp.sum(jaxloss.kl_divergence(lp, tt, log_targets=log_targets))  # noqa: E731
    assert float(fn(log_p, tgt)) == 0.0
    g_lp, g_t = jax.grad(fn, argnums=(0, 1))(log_p, tgt)
    np.testing.assert_array_equal(g_lp, [[0.0, -0.5, -0.5]])
    assert_all_finite(g_t, "target gradient")
    h = jax.jit(jax.hessian(fn, argnums=(0, 1)))(log_p, tgt)
    assert_all_finite(h, "hessian")


def test_kl_positive_target_with_neg_inf_is_inf():
    out = jaxloss.kl_divergence(jnp.array([-jnp.inf, 0.0]), jnp.array([0.5, 0.5]))
    assert float(out) == np.inf


def test_kl_underflowing_log_target_with_neg_inf():
    # exp(-200) is 0 in float32: the term is dropped, not 0 * inf.
    out = jaxloss.kl_divergence(jnp.array([-jnp.inf, 0.0]), jnp.array([-200.0, 0.0]), log_targets=True)
    assert float(out) == 0.0


def test_kl_where_masks_nan():
    rng = np.random.default_rng(3)
    p, t = _dist(rng, (2, 4)), _dist(rng, (2, 4))
    log_p = np.log(p)
    where = np.array([[True, True, False, True], [False, True, True, True]])
    lp_bad = np.where(where, log_p, np.nan).astype(np.float32)
    t_bad = np.where(where, t, np.inf).astype(np.float32)
    for log_targets in (False, True):
        tt = np.log(t_bad) if log_targets else t_bad
        fn = lambda lp, tgt: jnp.sum(jaxloss.kl_divergence(lp, tgt, log_targets=log_targets, where=where))  # noqa: E731,B023
        expected = _np_kl(np.where(where, log_p, 0.0), np.where(where, t, 0.0)).sum()
        np.testing.assert_allclose(fn(lp_bad, tt), expected, rtol=1e-6)
        g_lp, g_t = jax.grad(fn, argnums=(0, 1))(lp_bad, tt)
        assert_all_finite((g_lp, g_t), "gradient")
        np.testing.assert_array_equal(np.asarray(g_lp)[~where], 0.0)
        np.testing.assert_array_equal(np.asarray(g_t)[~where], 0.0)


def test_kl_extreme_log_predictions_finite():
    t = jnp.full((9,), 1.0 / 9)
    lp = jnp.asarray(np.array([-1e30, -1e4, -30, -1, 0, 1, 30, 1e4, 1e30], np.float32))
    v, g, h = _vgh(lambda x: jaxloss.kl_divergence(x, t), lp)
    assert_all_finite((v, g, h))


def test_kl_grads_x64():
    rng = np.random.default_rng(4)
    p, t = _dist(rng, (2, 3)), _dist(rng, (2, 3))
    t0 = t.copy()
    t0[:, 0] = 0.0  # zero targets held fixed: derivative in log_predictions only

    def all_forms(lp, tt, lt):
        return (
            jaxloss.kl_divergence(lp, tt)
            + jaxloss.kl_divergence(lp, lt, log_targets=True)
            + jaxloss.kl_divergence(lp, t0)
        )

    check_grads_x64(jax.jit(all_forms), (np.log(p), t, np.log(t)))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_kl_16bit_computes_in_float32(dtype):
    rng = np.random.default_rng(5)
    lp = jnp.log(jnp.asarray(_dist(rng, (3, 4)))).astype(dtype)
    t = jnp.asarray(_dist(rng, (3, 4))).astype(dtype)
    out = jaxloss.kl_divergence(lp, t)
    assert out.dtype == jnp.float32
    ref = jaxloss.kl_divergence(lp.astype(jnp.float32), t.astype(jnp.float32))
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_kl_float64_stays_float64():
    with jax.enable_x64(True):
        out = jaxloss.kl_divergence(jnp.zeros((2, 3), jnp.float64), jnp.full((2, 3), 1 / 3, jnp.float64))
        assert out.dtype == jnp.float64


def test_kl_jit_vmap():
    rng = np.random.default_rng(6)
    lp, t = np.log(_dist(rng, (5, 4))), _dist(rng, (5, 4))
    assert_transform_invariant(jaxloss.kl_divergence, lp, t)


def test_kl_errors():
    lp, t = jnp.zeros((2, 3)), jnp.zeros((2, 4))
    with pytest.raises(ValueError, match="`targets`"):
        jaxloss.kl_divergence(lp, t)
    with pytest.raises(TypeError, match="`log_predictions`"):
        jaxloss.kl_divergence(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="`axis`"):
        jaxloss.kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="`where`"):
        jaxloss.kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="`where`"):
        jaxloss.kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones((2,), bool))
    with pytest.raises(TypeError, match="`log_targets`"):
        jaxloss.kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3)), log_targets="yes")


# --------------------------------------------------------------------------
# poisson_nll
# --------------------------------------------------------------------------


def _np_poisson(x, t, log_input, full, eps=1e-8):
    x, t = np.float64(x), np.float64(t)
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
    if full:
        st = np.where(t > 1, t, 2.0)
        stirling = st * np.log(st) - st + 0.5 * np.log(2 * np.pi * st)
        loss = loss + np.where(t > 1, stirling, 0.0)
    return loss


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_matches_numpy(log_input, full):
    rng = np.random.default_rng(7)
    t = rng.poisson(2.0, (4, 5)).astype(np.float32)
    t[0, :3] = [0.0, 1.0, 1.5]  # the Stirling term starts strictly above 1
    x = (rng.normal(size=(4, 5)) if log_input else rng.random((4, 5)) * 4).astype(np.float32)
    out = jaxloss.poisson_nll(x, t, log_input=log_input, full=full)
    assert out.shape == (4, 5) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_poisson(x, t, log_input, full), rtol=1e-6, atol=1e-6)


def test_poisson_stirling_only_above_one():
    x = jnp.zeros(4)
    t = jnp.array([0.0, 0.5, 1.0, 2.0])
    diff = jaxloss.poisson_nll(x, t, full=True) - jaxloss.poisson_nll(x, t)
    expected = 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi)
    np.testing.assert_allclose(diff, [0, 0, 0, expected], rtol=1e-6)


def test_poisson_zero_target_limits():
    # t == 0 with log-rate -inf (log_input) or rate -epsilon: the limit 0, not nan.
    assert float(jaxloss.poisson_nll(jnp.array(-jnp.inf), jnp.array(0.0))) == 0.0
    out = jaxloss.poisson_nll(jnp.array(0.0), jnp.array(0.0), log_input=False, epsilon=0.0)
    assert float(out) == 0.0
    g = jax.grad(lambda r: jaxloss.poisson_nll(r, jnp.array(0.0), log_input=False, epsilon=0.0))(0.0)
    assert float(g) == 1.0


@pytest.mark.parametrize("full", [False, True])
def test_poisson_extreme_inputs(full):
    x = jnp.asarray(np.array([-1e30, -1e4, -30, 0, 30, 80], np.float32))
    t = jnp.array([0.0, 3.0, 1.0, 2.0, 0.0, 5.0])
    v, g, h = _vgh(lambda z: jaxloss.poisson_nll(z, t, full=full), x)
    assert_all_finite((v, g, h))
    # exp(1e4) is beyond float32: the value is inf (the true value
    # overflows), never nan; the derivative exp(x) - t is clamped to the
    # float range (finite, large, positive), so forward mode with a zero
    # tangent gives 0, not inf * 0 = nan.
    big = jnp.array([1e4, 1e30])
    v, g = jax.value_and_grad(lambda z: jnp.sum(jaxloss.poisson_nll(z, jnp.ones(2), full=full)))(big)
    assert float(v) == np.inf
    assert_all_finite(g, "gradient")
    assert np.all(np.asarray(g) > 1e38)
    # Rates of any positive magnitude are finite in value and derivatives.
    r = jnp.asarray(np.array([0.0, 1e-30, 1.0, 1e4, 1e30], np.float32))
    t5 = jnp.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v, g, h = _vgh(lambda z: jaxloss.poisson_nll(z, t5, log_input=False, full=full), r)
    assert_all_finite((v, g, h))


def test_poisson_grads_x64():
    rng = np.random.default_rng(8)
    t = np.array([0.0, 0.7, 3.3])  # zero, below and above the Stirling switch

    def both(x, r, tt):
        return jaxloss.poisson_nll(x, tt, full=True) + jaxloss.poisson_nll(r, tt, log_input=False, full=True)

    check_grads_x64(jax.jit(both), (rng.normal(size=3), rng.random(3) + 0.5, t))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_poisson_16bit(dtype):
    x = jnp.array([-1.0, 0.0, 2.0], dtype)
    t = jnp.array([0.0, 1.0, 4.0], dtype)
    out = jaxloss.poisson_nll(x, t, full=True)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(
        out, jaxloss.poisson_nll(x.astype(jnp.float32), t.astype(jnp.float32), full=True), rtol=1e-6
    )


def test_poisson_broadcast_jit_vmap():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    t = rng.poisson(2.0, (5, 3)).astype(np.int32)  # integer counts are fine
    assert_transform_invariant(lambda a, b: jaxloss.poisson_nll(a, b, full=True), x, t)
    assert jaxloss.poisson_nll(x, t[:1]).shape == (5, 3)


def test_poisson_errors():
    with pytest.raises(ValueError, match="`targets`.*must broadcast to the shape of `predictions`"):
        jaxloss.poisson_nll(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(TypeError, match="`predictions`"):
        jaxloss.poisson_nll(jnp.zeros(3, jnp.int32), jnp.zeros(3))
    with pytest.raises(ValueError, match="`epsilon`"):
        jaxloss.poisson_nll(jnp.zeros(3), jnp.zeros(3), epsilon=-1e-8)
    with pytest.raises(TypeError, match="`full`"):
        jaxloss.poisson_nll(jnp.zeros(3), jnp.zeros(3), full=1)
    with pytest.raises(TypeError, match="`log_input`"):
        jaxloss.poisson_nll(jnp.zeros(3), jnp.zeros(3), log_input=None)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_huge_rates_and_counts(log_input, full):
    # (1e30, 1e30): with log_input exp(1e30) and t * x both overflow (inf - inf
    # was nan); the true values are inf there, and finite for rates.
    x, t = jnp.float32(1e30), jnp.float32(1e30)
    expected = {
        (True, False): np.inf,
        (True, True): np.inf,
        (False, False): 1e30 - 1e30 * np.log(1e30),
        (False, True): 0.5 * np.log(2 * np.pi * 1e30),  # the deviance is 0 at r == t
    }[log_input, full]
    f = lambda a, b: jaxloss.poisson_nll(a, b, log_input=log_input, full=full)  # noqa: E731
    np.testing.assert_allclose(f(x, t), expected, rtol=1e-5)
    for derivative in (jax.grad(f, argnums=(0, 1)), jax.jacfwd(f, argnums=(0, 1))):
        assert_all_finite(jax.jit(derivative)(x, t), "derivative")
    np.testing.assert_allclose(
        jax.grad(f, argnums=1)(x, t), -1e30 if log_input else (0.5e-30 if full else -np.log(1e30)), rtol=1e-5
    )
    # Counts of 1e38 at a perfect fit: the NLL terms (t log t ~ 9e39) overflow
    # against each other, but with full=True the value is Stirling's 0.5 log(2 pi t).
    big = jnp.float32(1e38)
    rate = jnp.log(big) if log_input else big
    if full:
        np.testing.assert_allclose(f(rate, big), 0.5 * np.log(2 * np.pi * 1e38), rtol=1e-3 if log_input else 1e-6)
    assert not np.isnan(float(f(rate, big)))
    assert_all_finite(jax.grad(f, argnums=(0, 1))(rate, big), "gradient")
