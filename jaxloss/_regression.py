"""Regression losses: squared, absolute, Huber, log-cosh and cosine distance."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss import _checks, _primitives

ArrayLike = Any


def _errors(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """``predictions - targets`` after the checks, in the compute dtype."""
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.check_broadcast(p, t, "predictions", "targets")
    return jnp.broadcast_to(p, shape) - jnp.broadcast_to(t, shape)


def squared_error(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Elementwise squared error :math:`(p - t)^2`.

    ``mean`` of it is the MSE (``torch.nn.functional.mse_loss``, Keras
    ``mean_squared_error`` over the last axis); optax's ``l2_loss`` is half of
    it. Finite inputs whose square exceeds the float range give ``inf`` (the
    true value), with a finite gradient ``2 (p - t)``.

    Args:
      predictions: float array.
      targets: array broadcastable with ``predictions``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
      Array([1., 4.], dtype=float32)
    """
    return jnp.square(_errors(predictions, targets))


def absolute_error(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Elementwise absolute error :math:`|p - t|` (its mean is the MAE).

    The gradient at ``p == t`` is 0, the subgradient TensorFlow and torch use
    (``jnp.abs`` alone would give 1 there).

    Args:
      predictions: float array.
      targets: array broadcastable with ``predictions``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.absolute_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
      Array([1., 2.], dtype=float32)
    """
    error = _errors(predictions, targets)
    # |e| written as e * sign(e): the same value, and derivative sign(e), which
    # is 0 at e == 0 (the derivative of jnp.abs there is 1).
    return error * jnp.sign(error)


def huber(predictions: ArrayLike, targets: ArrayLike, *, delta: float = 1.0) -> jax.Array:
    r"""Elementwise Huber loss: quadratic within ``delta``, linear beyond.

    .. math:: \ell = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
              \delta (|e| - \tfrac12 \delta) & |e| > \delta \end{cases},
              \quad e = p - t

    the values of ``torch.nn.functional.huber_loss(..., reduction="none")``
    and ``optax.huber_loss`` (Keras ``huber`` is its mean over the last
    axis). Computed as ``0.5 q^2 + delta (|e| - q)`` with ``q = min(|e|,
    delta)``, so no ``e^2`` is ever formed: finite for errors of any
    magnitude, gradient ``clip(e, -delta, delta)``.

    Args:
      predictions: float array.
      targets: array broadcastable with ``predictions``.
      delta: the switch point, ``> 0``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.huber(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]))
      Array([0.125, 2.5  ], dtype=float32)

    References:
      Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist.
      35(1), 1964.
    """
    _checks.check_range(delta, "delta", 0.0, low_open=True)
    errors = _errors(predictions, targets)
    delta = jnp.asarray(delta, errors.dtype)
    abs_errors = jnp.abs(errors)
    quadratic = jnp.minimum(abs_errors, delta)
    # |e| - min(|e|, delta) = max(|e| - delta, 0) without an overflowing square.
    return 0.5 * jnp.square(quadratic) + delta * (abs_errors - quadratic)


def log_cosh(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Elementwise log-cosh loss :math:`\log\cosh(p - t)`.

    About ``e^2 / 2`` for small errors and ``|e| - log 2`` for large ones.
    Computed as ``|e| + softplus(-2|e|) - log 2``, which never overflows
    (``cosh`` does beyond ``|e| ~ 89`` in float32), with derivative
    ``tanh(e)``. Keras ``log_cosh`` is its mean over the last axis.

    Args:
      predictions: float array.
      targets: array broadcastable with ``predictions``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.log_cosh(jnp.array([0.0, 1000.0]), jnp.array([0.0, 0.0])).round(3)
      Array([  0.   , 999.307], dtype=float32)

    References:
      Chen et al., "Log Hyperbolic Cosine Loss Improves Variational
      Auto-Encoder", 2019.
    """
    return _primitives.log_cosh(_errors(predictions, targets))


def _l2_normalize(x: jax.Array, axis: int, epsilon: jax.Array) -> jax.Array:
    """``x / sqrt(max(sum(x**2), epsilon))`` along ``axis``, for any magnitude.

    ``sqrt(max(s, eps)) = max(sqrt(s), sqrt(eps))``, and ``sqrt(s)`` is taken
    as ``m * ||x / m||`` with ``m = max|x|`` held constant (a scale the norm
    does not depend on), so ``sum(x**2)`` neither overflows at ``1e30`` nor
    underflows at ``1e-30``. At a zero vector the root is replaced before
    ``sqrt`` (double-where), whose derivative at 0 would be ``inf * 0 =
    nan``; there the map is ``x / sqrt(eps)``, as in TensorFlow and Keras.
    """
    m = lax.stop_gradient(jnp.max(jnp.abs(x), axis=axis, keepdims=True))
    m = jnp.where((m > 0) & jnp.isfinite(m), m, 1.0)
    y = x / m
    s = jnp.sum(jnp.square(y), axis=axis, keepdims=True)
    nonzero = s > 0
    root = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, s, 1.0)), 0.0)
    return x / jnp.maximum(m * root, jnp.sqrt(epsilon))


def cosine_distance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-12,
) -> jax.Array:
    r"""Cosine distance :math:`1 - \cos(p, t)` along ``axis``.

    Each vector is normalised as ``tf.math.l2_normalize`` does:
    ``x / sqrt(max(sum(x**2), epsilon))``, so a zero vector normalises to 0
    (distance 1) with a finite gradient. The value is 1 plus Keras
    ``cosine_similarity`` (which uses ``epsilon = 1e-14`` in this form) and
    ``optax.cosine_distance`` with ``epsilon = sqrt(ours)``. Vectors of any
    magnitude (``1e30`` or ``1e-30``) are normalised without overflow.

    Args:
      predictions: float array ``[..., D, ...]``.
      targets: array broadcastable to ``predictions``.
      axis: the vector axis.
      epsilon: lower bound on the squared norm, ``> 0``.

    Returns:
      The distance per vector, in ``[0, 2]``: ``predictions`` without
      ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.cosine_distance(jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.array([[0.0, 2.0], [1.0, 1.0]]))
      Array([1., 1.], dtype=float32)
    """
    _checks.check_range(epsilon, "epsilon", 0.0, low_open=True)
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    ax = _checks.check_axis(p, axis, "predictions")
    _checks.check_broadcastable_to(t, p.shape, "targets", "predictions")
    t = jnp.broadcast_to(t, p.shape)
    eps = jnp.asarray(epsilon, p.dtype)
    cos = jnp.sum(_l2_normalize(p, ax, eps) * _l2_normalize(t, ax, eps), axis=ax)
    return 1.0 - cos
