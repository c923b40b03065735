"""Core tests of wmw_auc_loss (jax + numpy only)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import assert_all_finite, check_grads_x64


def _np_wmw(scores, labels, gamma=0.2, p=3, where=None):
    """The pairwise loop of Yan et al. (2003), in float64."""
    s = np.float64(np.ravel(scores))
    pos = np.ravel(labels) != 0
    keep = np.ones_like(pos) if where is None else np.ravel(np.broadcast_to(where, np.shape(scores)))
    total = 0.0
    for i, j in itertools.product(range(s.size), repeat=2):
        if keep[i] and keep[j] and pos[j] and not pos[i]:
            d = s[j] - s[i] - gamma
            if d < 0:
                total += (-d) ** p
    return total


def _inputs(seed=0, shape=(12,)):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    return s, y


def test_values_match_pair_loop():
    s, y = _inputs()
    out = jaxloss.wmw_auc_loss(s, y)
    assert out.shape == () and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_wmw(s, y), rtol=1e-6)


@pytest.mark.parametrize("gamma,p", [(0.0, 1), (0.5, 2), (0.2, 2.5), (1.0, 3.0)])
def test_options(gamma, p):
    s, y = _inputs(1)
    out = jaxloss.wmw_auc_loss(s, y, gamma=gamma, p=p)
    np.testing.assert_allclose(out, _np_wmw(s, y, gamma, p), rtol=1e-6)


def test_any_shape_and_label_dtypes():
    s, y = _inputs(2, (3, 4))
    ref = _np_wmw(s, y)
    np.testing.assert_allclose(jaxloss.wmw_auc_loss(s, y), ref, rtol=1e-6)
    np.testing.assert_allclose(jaxloss.wmw_auc_loss(s, y.astype(bool)), ref, rtol=1e-6)
    # Any nonzero label is positive (tflearn casts labels to bool).
    np.testing.assert_allclose(jaxloss.wmw_auc_loss(s, (y * 7).astype(np.int32)), ref, rtol=1e-6)


def test_no_pairs_gives_zero():
    s = jnp.array([0.3, -1.0, 2.0])
    for y in (jnp.zeros(3), jnp.ones(3)):
        assert float(jaxloss.wmw_auc_loss(s, y)) == 0.0
        np.testing.assert_array_equal(jax.grad(jaxloss.wmw_auc_loss)(s, y), 0.0)
    # Perfectly separated by more than gamma: 0.
    assert float(jaxloss.wmw_auc_loss(jnp.array([1.0, 0.0]), jnp.array([1, 0]))) == 0.0


def test_gradient_pushes_positives_up():
    s = jnp.array([0.0, 0.1])
    y = jnp.array([1, 0])
    g = jax.grad(jaxloss.wmw_auc_loss)(s, y)
    # d = 0 - 0.1 - 0.2 = -0.3: loss 0.3**3, derivative 3 * 0.09 in the negative.
    np.testing.assert_allclose(g, [-0.27, 0.27], rtol=1e-6)


def test_where_drops_elements_even_if_nan():
    s, y = _inputs(3)
    where = np.arange(12) % 3 != 0
    s_bad = np.where(where, s, np.nan).astype(np.float32)
    y_bad = np.where(where, y, np.nan).astype(np.float32)
    out = jaxloss.wmw_auc_loss(s_bad, y_bad, where=where)
    np.testing.assert_allclose(out, _np_wmw(s, y, where=where), rtol=1e-6)
    g = jax.grad(jaxloss.wmw_auc_loss)(s_bad, y_bad, where=where)
    assert_all_finite(g, "gradient")
    np.testing.assert_array_equal(np.asarray(g)[~where], 0.0)
    h = jax.jit(jax.hessian(jaxloss.wmw_auc_loss))(s_bad, y_bad, where=jnp.asarray(where))
    assert_all_finite(h, "hessian")
    # A broadcastable mask.
    w2 = np.array([[True], [False], [True]])
    s2, y2 = _inputs(4, (3, 4))
    np.testing.assert_allclose(jaxloss.wmw_auc_loss(s2, y2, where=w2), _np_wmw(s2, y2, where=w2), rtol=1e-6)


def test_fractional_exponent_is_finite_at_boundary():
    # p < 1 has an unbounded derivative as d -> 0-, but at d == 0 (inactive
    # pair) and elsewhere the gradient is finite.
    s = jnp.array([0.0, -0.2, 0.5])
    y = jnp.array([1, 0, 0])
    g = jax.grad(lambda x: jaxloss.wmw_auc_loss(x, y, p=0.5))(s)
    assert_all_finite(g)


def test_extreme_scores():
    s = jnp.array([-1e30, -1e4, 0.0, 1e4, 1e30, 3.0])
    y = jnp.array([1, 0, 1, 0, 0, 1])
    # p = 1 keeps the value representable: finite everywhere.
    v, g = jax.value_and_grad(lambda x: jaxloss.wmw_auc_loss(x, y, p=1))(s)
    assert_all_finite((v, g))
    assert_all_finite(jax.jit(jax.hessian(lambda x: jaxloss.wmw_auc_loss(x, y, p=1)))(s))
    # p = 3: a gap of 1e30 cubed overflows float32 (the true value is 1e90):
    # inf, never nan.
    v, g = jax.value_and_grad(jaxloss.wmw_auc_loss)(s, y)
    assert float(v) == np.inf
    assert not np.any(np.isnan(np.asarray(g)))


def test_grads_x64():
    s, y = _inputs(5, (6,))
    check_grads_x64(jax.jit(lambda x: jaxloss.wmw_auc_loss(x, y)), (s,))
    check_grads_x64(jax.jit(lambda x: jaxloss.wmw_auc_loss(x, y, gamma=0.3, p=2.5)), (s,))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit_computes_in_float32(dtype):
    s, y = _inputs(6)
    s16 = jnp.asarray(s, dtype)
    out = jaxloss.wmw_auc_loss(s16, y)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jaxloss.wmw_auc_loss(s16.astype(jnp.float32), y), rtol=1e-6)


def test_float64_stays_float64():
    with jax.enable_x64(True):
        assert jaxloss.wmw_auc_loss(jnp.zeros(3, jnp.float64), jnp.array([1, 0, 1])).dtype == jnp.float64


def test_jit_and_vmap():
    s, y = _inputs(7, (4, 10))
    eager = np.array([jaxloss.wmw_auc_loss(a, b) for a, b in zip(s, y, strict=True)])
    np.testing.assert_allclose(jax.vmap(jaxloss.wmw_auc_loss)(s, y), eager, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(jaxloss.wmw_auc_loss))(s, y), eager, rtol=1e-6)
    w = s > -0.5
    eager_w = np.array([jaxloss.wmw_auc_loss(a, b, where=c) for a, b, c in zip(s, y, w, strict=True)])
    out = jax.jit(jax.vmap(lambda a, b, c: jaxloss.wmw_auc_loss(a, b, where=c)))(s, y, w)
    np.testing.assert_allclose(out, eager_w, rtol=1e-6)


def test_errors():
    s = jnp.zeros(4)
    with pytest.raises(ValueError, match="`scores`.*`labels`"):
        jaxloss.wmw_auc_loss(s, jnp.zeros(5))
    with pytest.raises(ValueError, match="`scores`.*`labels`"):
        jaxloss.wmw_auc_loss(jnp.zeros((2, 2)), jnp.zeros(4))
    with pytest.raises(TypeError, match="`scores`"):
        jaxloss.wmw_auc_loss(jnp.zeros(4, jnp.int32), jnp.zeros(4))
    with pytest.raises(ValueError, match="`gamma`"):
        jaxloss.wmw_auc_loss(s, s, gamma=-0.1)
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="`p`"):
            jaxloss.wmw_auc_loss(s, s, p=bad)
    with pytest.raises(TypeError, match="`where`"):
        jaxloss.wmw_auc_loss(s, s, where=jnp.ones(4))
    with pytest.raises(ValueError, match="`where`"):
        jaxloss.wmw_auc_loss(s, s, where=jnp.ones(3, bool))
