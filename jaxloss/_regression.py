"""Regression losses: squared, absolute, percentage, log, Huber, log-cosh, pairwise and cosine."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _primitives


def _errors(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """``predictions - targets`` after the checks, in the compute dtype."""
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(p, t, "predictions", "targets")
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


def huber(predictions: ArrayLike, targets: ArrayLike, *, delta: ArrayLike = 1.0) -> jax.Array:
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

    The vector is scaled before squaring: ``y = x * r`` with ``r`` the power
    of two that brings ``max|x|`` into ``[1, 2)`` (exact, held constant), and
    the map is ``y / max(||y||, sqrt(eps) * r)``, the same quotient. So
    ``sum(x**2)`` neither overflows at ``1e30`` nor underflows at ``1e-30``,
    and nothing is divided by a norm near the float maximum (XLA divides by
    a broadcast norm through its reciprocal, which flushes to 0 above ~8.5e37
    in float32). At a zero vector the root is replaced before ``sqrt``
    (double-where), whose derivative at 0 would be ``inf * 0 = nan``; there
    the map is ``x / sqrt(eps)``, as in TensorFlow and Keras.
    """
    r = _primitives.inverse_scale(lax.stop_gradient(jnp.max(jnp.abs(x), axis=axis, keepdims=True)))
    y = x * r
    s = jnp.sum(jnp.square(y), axis=axis, keepdims=True)
    nonzero = s > 0
    root = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, s, 1.0)), 0.0)
    return y / jnp.maximum(root, jnp.sqrt(epsilon) * r)


def cosine_distance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-12,
    normalize: bool = True,
) -> jax.Array:
    r"""Cosine distance :math:`1 - \cos(p, t)` along ``axis``.

    Each vector is normalised as ``tf.math.l2_normalize`` does:
    ``x / sqrt(max(sum(x**2), epsilon))``, so a zero vector normalises to 0
    (distance 1) with a finite gradient. The value is 1 plus Keras
    ``cosine_similarity`` (which uses ``epsilon = 1e-14`` in this form) and
    ``optax.cosine_distance`` with ``epsilon = sqrt(ours)``. Vectors of any
    magnitude (``1e30`` or ``1e-30``) are normalised without overflow.

    With ``normalize=False`` the inputs are taken as unit vectors already and
    the value is ``1 - sum(p * t, axis)``, TensorFlow 1's
    ``tf.compat.v1.losses.cosine_distance`` before its weighting (``epsilon``
    is then unused); for vectors that are not unit vectors it is not in
    ``[0, 2]``.

    Args:
      predictions: float array ``[..., D, ...]``.
      targets: array broadcastable to ``predictions``.
      axis: the vector axis.
      epsilon: lower bound on the squared norm, ``> 0``.
      normalize: L2-normalise both inputs along ``axis`` first (default); if
        False, they must be unit vectors already.

    Returns:
      The distance per vector, in ``[0, 2]``: ``predictions`` without
      ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.cosine_distance(jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.array([[0.0, 2.0], [1.0, 1.0]]))
      Array([1., 1.], dtype=float32)
      >>> jaxloss.cosine_distance(jnp.array([[0.6, 0.8]]), jnp.array([[2.0, 0.0]]), normalize=False)
      Array([-0.2], dtype=float32)
    """
    _checks.check_range(epsilon, "epsilon", 0.0, low_open=True)
    _checks.check_bool(normalize, "normalize")
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    ax = _checks.check_axis(p, axis, "predictions")
    _checks.check_broadcastable_to(t, p.shape, "targets", "predictions")
    t = jnp.broadcast_to(t, p.shape)
    if not normalize:
        return 1.0 - jnp.sum(p * t, axis=ax)
    eps = jnp.asarray(epsilon, p.dtype)
    cos = jnp.sum(_l2_normalize(p, ax, eps) * _l2_normalize(t, ax, eps), axis=ax)
    return 1.0 - cos


def absolute_percentage_error(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Elementwise absolute percentage error :math:`100\,|t - p| / \max(|t|, \epsilon)`.

    Keras's ``mean_absolute_percentage_error`` is its mean over the last
    axis (same formula, same ``epsilon``). The gradient in ``predictions`` is
    ``-100 sign(t - p) / max(|t|, epsilon)``, 0 at ``p == t``; a zero target
    gives the finite ``100 |p| / epsilon``.

    Args:
      predictions: float array.
      targets: array broadcastable with ``predictions``.
      epsilon: lower bound on ``|t|``, ``> 0``.

    Returns:
      The elementwise loss (in percent), the broadcast shape; float32 for
      16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.absolute_percentage_error(jnp.array([1.1, 0.5, 3.0]), jnp.array([1.0, -1.0, 3.0]))
      Array([ 10.000002, 150.      ,   0.      ], dtype=float32)
    """
    _checks.check_range(epsilon, "epsilon", 0.0, low_open=True)
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(p, t, "predictions", "targets")
    p, t = jnp.broadcast_to(p, shape), jnp.broadcast_to(t, shape)
    # max(|t|, eps) as a select, not jnp.maximum: a huge error over a target below eps has
    # an overflowing cotangent in the denominator, which the select drops and the
    # maximum's derivative would multiply by 0 (nan). The scaled quotient keeps
    # autodiff's 1 / denominator**2 in range for huge targets.
    abs_t = jnp.abs(t)
    eps = jnp.asarray(epsilon, p.dtype)
    ratio = _primitives.ratio(t - p, jnp.where(abs_t > eps, abs_t, eps))
    # |r| as r * sign(r): derivative sign(r), 0 at p == t (as absolute_error).
    return 100.0 * (ratio * jnp.sign(ratio))


def squared_log_error(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Elementwise squared log error :math:`(\log(1 + \bar p) - \log(1 + \bar t))^2`.

    with ``bar x = max(x, epsilon)``: Keras's
    ``mean_squared_logarithmic_error`` before its mean over the last axis
    (computed with ``log1p``, where Keras writes ``log(x + 1)``: the same up
    to float32 rounding, more accurate for small values). Where Keras's
    ``max`` makes the gradient exactly 0 (``p < epsilon``), ours is the
    formula's derivative at the clipped point, ``2 (log1p(eps) - log1p(bar
    t)) / (1 + eps)``: finite, and negative when the target is larger, so a
    negative prediction is pushed up. The same holds for ``targets``.

    Args:
      predictions: float array (meant to be ``>= 0``).
      targets: array broadcastable with ``predictions``.
      epsilon: lower clip of both inputs, ``>= 0``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> jaxloss.squared_log_error(jnp.array([1.0, 0.0]), jnp.array([3.0, 0.0]))
      Array([0.48045, 0.     ], dtype=float32)
      >>> float(jax.grad(lambda p: jaxloss.squared_log_error(p, 1.0))(-2.0))  # Keras: 0.0
      -1.38629
    """
    _checks.check_range(epsilon, "epsilon", 0.0)
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(p, t, "predictions", "targets")
    eps = jnp.asarray(epsilon, p.dtype)
    big = jnp.asarray(jnp.inf, p.dtype)
    # clip_straight_through: max(x, eps) whose derivative is 1 below eps too.
    log_p = jnp.log1p(_primitives.clip_straight_through(jnp.broadcast_to(p, shape), eps, big))
    log_t = jnp.log1p(_primitives.clip_straight_through(jnp.broadcast_to(t, shape), eps, big))
    return jnp.square(log_p - log_t)


def pairwise_squared_error(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: ArrayLike | None = None,
    count: ArrayLike | None = None,
) -> jax.Array:
    r"""Mean over pairs of the squared difference of pairwise differences along ``axis``.

    With ``d = p - t`` over the ``n`` entries of ``axis``:

    .. math:: \ell = \frac{2}{n (n - 1)} \sum_{i < j} \big((p_i - p_j) - (t_i - t_j)\big)^2
              = \frac{2}{n - 1}\Big(\sum_i d_i^2 - \frac{(\sum_i d_i)^2}{n}\Big)

    which is invariant to a constant shift of the predictions (TensorFlow 1's
    ``mean_pairwise_squared_error`` per example, before its weighting; TF
    reduces every axis but the first: pass ``axis=tuple(range(1, ndim))``).
    It is computed as ``2/(n-1) sum (d_i - mean d)^2``, with no cancellation
    and no overflow in the gradient for errors of any magnitude. ``n <= 1``
    gives 0.

    ``where`` masks entries out of the sums and of ``n`` (a masked entry
    contributes exactly 0, even if it holds ``nan``). ``count`` replaces ``n``
    in the formula on the right while the sums still run over every unmasked
    entry: TensorFlow 1 counts only the entries with a non-zero weight (per
    example, ``count = sum(broadcast(weights != 0), axis)``) but sums over
    all of them, and :mod:`jaxloss.compat.tf_v1` reproduces that with it.

    Args:
      predictions: float array.
      targets: array broadcastable to ``predictions``.
      axis: an int, a tuple of ints, or ``None`` for all axes: the entries
        paired.
      where: optional boolean mask broadcastable to ``predictions``.
      count: optional ``n`` per result, broadcastable to the result shape
        (``predictions`` without ``axis``).

    Returns:
      The loss, ``predictions`` without ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[0.0, 1.0, 4.0], [2.0, 3.0, 4.0]])
      >>> t = jnp.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
      >>> jaxloss.pairwise_squared_error(p, t)
      Array([2.66667, 0.     ], dtype=float32)
    """
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    _checks.check_broadcastable_to(t, p.shape, "targets", "predictions")
    axes = _checks.reduce_axes(p, axis, "predictions")
    d = p - jnp.broadcast_to(t, p.shape)
    out_shape = tuple(n for i, n in enumerate(p.shape) if i not in axes)
    mask = _checks.as_mask(where, p.shape, "predictions")
    if mask is None:
        size = 1
        for a in axes:
            size *= p.shape[a]
        entries = jnp.asarray(float(size), p.dtype)
    else:
        # First where of the double where: a masked nan never enters a sum.
        d = jnp.where(mask, d, 0.0)
        entries = jnp.sum(mask, axis=axes).astype(p.dtype)
    nonempty = entries > 0
    # The mean as c + mean(d - c) with c an entry (the largest, held
    # constant): exact for a constant row, so its deviations are exactly 0
    # even at 1e30, where rounding the plain mean would square to inf.
    c = jnp.max(d if mask is None else jnp.where(mask, d, -jnp.inf), axis=axes, keepdims=True)
    c = lax.stop_gradient(jnp.where(jnp.isfinite(c), c, 0.0))
    shifted = d - c if mask is None else jnp.where(mask, d - c, 0.0)
    mean = jnp.squeeze(c, axes) + jnp.sum(shifted, axis=axes) / jnp.where(nonempty, entries, 1.0)
    dev = d - jnp.expand_dims(mean, axes)
    if mask is not None:
        dev = jnp.where(mask, dev, 0.0)
    core = jnp.sum(jnp.square(dev), axis=axes)
    if count is None:
        n = entries
    else:
        n = _checks.as_numeric(count, "count").astype(p.dtype)
        _checks.check_broadcastable_to(n, out_shape, "count", "the result")
        n = jnp.broadcast_to(n, out_shape)
        # sum d^2 - (sum d)^2 / n = sum (d - mean)^2 + N mean^2 (1 - N / n),
        # N the entries summed; safe_mul keeps an overflowing mean^2 from
        # meeting a zero coefficient (n == N) as inf * 0.
        ratio = entries / jnp.where(n > 0, n, 1.0)
        core = core + _primitives.safe_mul(entries * (1.0 - ratio), jnp.square(mean))
    paired = n > 1
    return jnp.where(paired, 2.0 * core / jnp.where(paired, n - 1.0, 1.0), 0.0)


def smooth_l1(predictions: ArrayLike, targets: ArrayLike, *, beta: float = 1.0) -> jax.Array:
    r"""Elementwise smooth L1 loss, with ``d = predictions - targets``:

    .. math:: \ell = \begin{cases} \tfrac12 d^2 / \beta & |d| < \beta \\
              |d| - \tfrac12 \beta & \text{otherwise} \end{cases}

    Equals ``torch.nn.functional.smooth_l1_loss(..., reduction='none')``
    (``beta == 0`` is the absolute error); :func:`huber` is ``beta`` times
    it with ``delta = beta``. The quadratic branch never sees a large ``d``
    (double where), so huge errors have finite gradients of every order.

    Args:
      predictions: float array.
      targets: array broadcastable to ``predictions``.
      beta: the switch point, ``>= 0``.

    Returns:
      The elementwise loss, the shape of ``predictions``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.smooth_l1(jnp.array([0.5, 3.0, -2.0]), jnp.array([0.0, 0.0, 0.0]))
      Array([0.125, 2.5  , 1.5  ], dtype=float32)
    """
    _checks.check_range(beta, "beta", 0.0)
    d = _errors(predictions, targets)
    # |d| with torch's derivative sign(d), 0 at d == 0 (jnp.abs gives 1 there).
    a = jnp.where(d == 0, 0.0, jnp.abs(d))
    if _checks.is_static_zero(beta):
        return a
    b = jnp.asarray(beta, d.dtype)
    small = a < b
    ds = jnp.where(small, d, 0.0)
    return jnp.where(small, 0.5 * ds * ds / b, a - 0.5 * b)


def gaussian_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    variance: ArrayLike,
    *,
    full: bool = False,
    eps: float = 1e-6,
) -> jax.Array:
    r"""Elementwise Gaussian negative log-likelihood with a predicted variance.

    .. math:: \ell = \tfrac12 \big(\log v + (x - t)^2 / v\big)
              \;[+\ \tfrac12 \log 2\pi \text{ if } \texttt{full}],
              \quad v = \max(\texttt{variance}, \texttt{eps})

    Equals ``torch.nn.functional.gaussian_nll_loss(..., reduction='none')``
    for a ``var`` of ``predictions``' shape (torch's homoscedastic forms,
    ``var`` one axis short or with a size-1 axis, broadcast here as usual:
    pass ``variance[..., None]`` for the first). As in torch, the clamp to
    ``eps`` is invisible to autodiff: where the variance is below ``eps``
    its gradient is the formula's derivative at ``eps`` (finite, non-zero),
    not 0. torch raises for a negative variance (a data-dependent check);
    here it is clamped like any other variance below ``eps``.

    Args:
      predictions: float array of means.
      targets: array broadcastable to ``predictions``.
      variance: float array of variances broadcastable to ``predictions``.
      full: add the constant ``0.5 * log(2 * pi)``.
      eps: the variance floor, ``> 0``.

    Returns:
      The elementwise loss, the shape of ``predictions``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.gaussian_nll(jnp.array([1.0, 2.0]), jnp.array([0.0, 2.0]), jnp.array([1.0, 0.5]))
      Array([ 0.5    , -0.34657], dtype=float32)
    """
    _checks.check_bool(full, "full")
    _checks.check_range(eps, "eps", 0.0, low_open=True)
    p, v, t = _checks.floats((predictions, "predictions"), (variance, "variance"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(p, t, "predictions", "targets")
    _checks.elementwise_shape(p, v, "predictions", "variance")
    d = p - jnp.broadcast_to(t, shape)
    v = jnp.broadcast_to(v, shape)
    # torch clamps under no_grad: the derivative passes the clamp unchanged.
    v = _primitives.clip_straight_through(v, jnp.asarray(eps, v.dtype), jnp.asarray(jnp.inf, v.dtype))
    loss = 0.5 * (jnp.log(v) + jnp.square(d) / v)
    if full:
        loss = loss + 0.9189385332046727  # 0.5 * log(2 * pi)
    return loss
