"""Core tests of the contrastive loss (jax + numpy only)."""

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


def _np_contrastive(d, y, margin=1.0):
    d, y = np.float64(d), np.float64(y)
    return y * d**2 + (1 - y) * np.maximum(margin - d, 0.0) ** 2


def _inputs(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    d = (rng.random(shape) * 2).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    return d, y


@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, 2.0])
def test_values(margin):
    d, y = _inputs()
    out = jaxloss.contrastive(d, y, margin=margin)
    assert out.shape == d.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_contrastive(d, y, margin), rtol=1e-6)


def test_soft_and_integer_labels_broadcast():
    d, _ = _inputs(1, (3, 4))
    y = np.array([0.0, 0.25, 1.0, 0.5], np.float32)
    np.testing.assert_allclose(jaxloss.contrastive(d, y), _np_contrastive(d, y[None]), rtol=1e-6)
    yi = np.array([0, 1, 1, 0], np.int32)
    np.testing.assert_allclose(jaxloss.contrastive(d, yi), _np_contrastive(d, yi[None]), rtol=1e-6)


def test_gradient():
    d = jnp.array([0.5, 0.5, 2.0, 0.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.contrastive(x, y)))(d)
    np.testing.assert_allclose(g, [1.0, -1.0, 0.0, 0.0])


def test_huge_distances_no_nan():
    # A dissimilar pair at 1e30 contributes 0 (not 0 * inf); a similar pair's
    # square overflows float32 (the true value), with finite derivatives.
    d = jnp.array([1e30, -1e30, 1e30, 0.3])
    y = jnp.array([0.0, 1.0, 1.0, 0.0])

    def vgh(fn, x):
        return jax.jit(lambda z: value_grad_hessian(fn, z))(x)

    out = jaxloss.contrastive(d, y)
    np.testing.assert_allclose(out, [0.0, np.inf, np.inf, 0.49], rtol=1e-6)
    v, g, h = vgh(lambda x: jaxloss.contrastive(x, y), d)
    assert not np.isnan(float(v))
    assert_all_finite((g, h))
    # Dissimilar pairs at any non-negative distance: finite everywhere.
    v, g, h = vgh(lambda x: jaxloss.contrastive(x, jnp.zeros(4)), jnp.abs(d))
    assert_all_finite((v, g, h))


def test_grads_x64():
    d, y = _inputs(2, (2, 3))
    d = d + 0.05 * (np.abs(d - 1.0) < 0.05)  # away from the margin kink
    y[0, 0] = 0.3
    check_grads_x64(jax.jit(lambda a, b: jaxloss.contrastive(a, b, margin=1.0)), (d, y))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit(dtype):
    d, y = _inputs(3)
    d16 = jnp.asarray(d, dtype)
    out = jaxloss.contrastive(d16, jnp.asarray(y, dtype))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jaxloss.contrastive(d16.astype(jnp.float32), y), rtol=1e-6)


def test_float64_stays_float64():
    with jax.enable_x64(True):
        assert jaxloss.contrastive(jnp.ones(3, jnp.float64), jnp.ones(3)).dtype == jnp.float64


def test_jit_vmap():
    d, y = _inputs(4)
    assert_transform_invariant(lambda a, b: jaxloss.contrastive(a, b, margin=1.5), d, y)
    out = jax.jit(lambda m: jaxloss.contrastive(d, y, margin=m))(1.5)
    np.testing.assert_allclose(out, _np_contrastive(d, y, 1.5), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="`distances`.*`labels`"):
        jaxloss.contrastive(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(TypeError, match="`distances`"):
        jaxloss.contrastive(jnp.zeros(3, jnp.int32), jnp.zeros(3))
    with pytest.raises(ValueError, match="`margin`"):
        jaxloss.contrastive(jnp.zeros(3), jnp.zeros(3), margin=-1.0)
    with pytest.raises(TypeError, match="`labels`"):
        jaxloss.contrastive(jnp.zeros(3), None)
