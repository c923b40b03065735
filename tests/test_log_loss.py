"""jaxloss.log_loss: TensorFlow's additive-epsilon log loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import assert_all_finite, check_grads_x64


def test_log_loss_adds_epsilon_and_keeps_gradients_at_zero_and_one():
    p = jnp.array([0.0, 1.0, 0.3, 1.0, 0.0])
    y = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0])
    eps = 1e-7
    expected = -(
        np.asarray(y) * np.log(np.asarray(p, np.float64) + eps)
        + (1 - np.asarray(y)) * np.log(1 - np.asarray(p, np.float64) + eps)
    )
    np.testing.assert_allclose(jaxloss.log_loss(p, y), expected, rtol=1e-6, atol=1e-7)
    g = jax.grad(lambda q: jnp.sum(jaxloss.log_loss(q, y)))(p)
    assert_all_finite(g, "gradient")
    assert g[0] < 0 and g[1] > 0  # pushes towards the label at the edges
    # epsilon == 0: a zero-label term with log(0) stays 0, no nan.
    assert float(jaxloss.log_loss(jnp.array(0.0), jnp.array(0.0), epsilon=0.0)) == 0.0
    with pytest.raises(ValueError, match="`epsilon`"):
        jaxloss.log_loss(p, y, epsilon=-1.0)


def test_log_loss_derivatives_and_transforms():
    p = np.array([0.1, 0.5, 0.9], np.float32)
    y = np.array([1.0, 0.0, 0.3], np.float32)
    check_grads_x64(lambda q: jaxloss.log_loss(q, y), (p,))
    np.testing.assert_allclose(jax.jit(jaxloss.log_loss)(p, y), jaxloss.log_loss(p, y), rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(jaxloss.log_loss)(p, y), jaxloss.log_loss(p, y), rtol=1e-6)
    out = jaxloss.log_loss(p.astype(jnp.bfloat16), y)
    assert out.dtype == jnp.float32
