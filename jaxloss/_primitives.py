"""Numerically stable building blocks with hand-written derivatives.

Each primitive is a guarded primal plus, where automatic differentiation of
the primal would give ``nan``, zero or an imprecise value, a ``custom_jvp``
whose rule reuses the primal output. Forward-mode rules are used (not
``custom_vjp``) so that every loss built on them supports ``jvp``,
``jacfwd``, ``grad`` and ``hessian`` alike.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "clip_straight_through",
    "exp_minus_mul",
    "inverse_scale",
    "log1mexp",
    "log_sum_exp",
    "log_sum_exp_shifted",
    "log_clipped",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "log_cosh",
    "normalize",
    "poly1_cross_entropy_rows",
    "poisson_deviance_log",
    "poisson_deviance_rate",
    "power",
    "ratio",
    "row_max",
    "safe_mul",
    "sigmoid_focal_weight",
    "softplus",
    "xlogx",
    "xlogy",
]


# --------------------------------------------------------------------------
# log-sum-exp and log-softmax over a masked axis
# --------------------------------------------------------------------------


def row_max(x: jax.Array, axis: int) -> jax.Array:
    """The max along ``axis`` (kept), as a constant shift: 0 for an all ``-inf`` or empty row."""
    # initial=-inf: an empty axis (a batch of 0 references, 0 classes) is an
    # empty sum downstream (-inf), not an error.
    m = jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf)
    return lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def log_sum_exp_shifted(x: jax.Array, shift: jax.Array, axis: int, keep_exp: bool = False) -> jax.Array:
    """``log(sum(exp(x - shift)))`` along ``axis`` (kept), for a row-constant ``shift``.

    With ``shift = row_max(x)`` every term is at most 1, so nothing overflows;
    and callers that need ``x - logsumexp(x)`` compute ``(x - shift) -
    log_sum_exp_shifted(...)``, which keeps the precision that
    ``x - (shift + log s)`` would lose to cancellation when one logit
    dominates. ``-inf`` entries are "masked": they add exp(-inf) = 0. A row
    that is all ``-inf`` gives ``-inf`` (an empty sum), never ``nan``.

    ``keep_exp`` (static) only changes how the derivative is computed, never
    a value: with it, the exponentials of the forward pass are kept and
    divided by their sum to give the softmax (one exponential per entry, and
    XLA turns the kept ``[..., C]`` array into the gradient in place); without
    it, the softmax is recomputed from ``x`` (two exponentials per entry, but
    no ``[..., C]`` array beyond ``x``). Pass it when ``x`` is the caller's own
    array (not a float32 copy of 16-bit logits, which would then be a second
    temporary).
    """
    # Written x + (-shift), not x - shift: the backward pass forms x - shift
    # too, and XLA:CPU materialises a [..., C] subexpression shared by the
    # two instead of fusing it into each (measured: 5-10 % slower).
    return jnp.log(jnp.sum(jnp.exp(x + (-shift)), axis=axis, keepdims=True))


@log_sum_exp_shifted.defjvp
def _log_sum_exp_shifted_jvp(axis, keep_exp, primals, tangents):
    # d = sum(softmax * (dx - dshift)). softmax is 0 on -inf entries; a row
    # whose out is -inf gets a zero softmax instead of the nan that autodiff
    # gives there (jax#6811).
    x, shift = primals
    dx, dshift = tangents
    if keep_exp:
        # One exponential per entry: 4096 x 32768 float32 forward + backward
        # 0.96x optax's time against 1.13x recomputing (benchmarks/).
        e = jnp.exp(x + (-shift))
        total = jnp.sum(e, axis=axis, keepdims=True)
        out = jnp.log(total)
        p = e / jnp.where(total > 0, total, 1.0)
    else:
        out = log_sum_exp_shifted(x, shift, axis)
        p = _softmax_shifted(x, shift, out)
    return out, jnp.sum(p * (dx - dshift), axis=axis, keepdims=True)


def _softmax_shifted(x: jax.Array, shift: jax.Array, log_s: jax.Array) -> jax.Array:
    # exp(-inf - finite) is already 0; only a row whose log-sum is -inf
    # (everything masked) needs it replaced, which is a per-row select.
    # (x - shift) first keeps the softmax normalised when logits are huge
    # ([1e30, 1e30] -> [0.5, 0.5]).
    return jnp.exp((x - shift) - jnp.where(jnp.isfinite(log_s), log_s, 0.0))


def _apply_mask(x: jax.Array, where: jax.Array | None) -> jax.Array:
    if where is None:
        return x
    # The first `where` of the double-where pattern: a masked entry becomes
    # -inf before anything else touches it, so a nan or inf there cannot leak
    # into values or gradients.
    return jnp.where(where, x, -jnp.inf)


def logsumexp(x: jax.Array, axis: int = -1, *, where: jax.Array | None = None, keepdims: bool = False) -> jax.Array:
    """``log(sum(exp(x)))`` along ``axis`` over unmasked entries.

    ``-inf`` entries and entries where ``where`` is False are left out of the
    sum. A row with nothing left gives ``-inf`` and a zero gradient (not
    ``nan``).
    """
    x = _apply_mask(x, where)
    shift = row_max(x, axis)
    out = shift + log_sum_exp_shifted(x, shift, axis)
    return out if keepdims else jnp.squeeze(out, axis=axis)


def log_softmax(x: jax.Array, axis: int = -1, *, where: jax.Array | None = None) -> jax.Array:
    """``x - logsumexp(x)`` along ``axis``; masked entries give ``-inf``.

    Computed as ``(x - max) - log(sum(exp(x - max)))`` so that a dominant
    logit keeps full precision. A fully masked row gives ``-inf`` everywhere
    with zero gradients.
    """
    x = _apply_mask(x, where)
    shift = row_max(x, axis)
    log_s = log_sum_exp_shifted(x, shift, axis)
    safe_log_s = jnp.where(jnp.isfinite(log_s), log_s, 0.0)
    return jnp.where(x > -jnp.inf, (x - shift) - safe_log_s, -jnp.inf)


def softmax(x: jax.Array, axis: int = -1, *, where: jax.Array | None = None) -> jax.Array:
    """Softmax along ``axis``; masked entries and empty rows give 0."""
    x = _apply_mask(x, where)
    shift = row_max(x, axis)
    return _softmax_shifted(x, shift, log_sum_exp_shifted(x, shift, axis))


# --------------------------------------------------------------------------
# products with a log that must vanish where the coefficient is zero
# --------------------------------------------------------------------------


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def poly1_cross_entropy_rows(x: jax.Array, y: jax.Array, epsilon: float) -> jax.Array:
    """``-sum(y log p) + epsilon * sum(y (1 - p))`` over the last axis, ``p = softmax(x)``.

    Custom JVP because autodiff keeps the softmax as a ``[..., C]`` array that
    the forward sums and the gradient share (two float32 temporaries at
    4096 x 32768); the rule recomputes it inside the gradient's one pass.
    ``-inf`` logits are masked classes (``p = 0``); a zero label there adds 0.
    """
    log_p = log_softmax(x, -1)
    # One reduction, so that nothing [..., C] has two readers.
    return jnp.sum(epsilon * (y * (1.0 - jnp.exp(log_p))) - safe_mul(y, log_p), axis=-1)


@poly1_cross_entropy_rows.defjvp
def _poly1_cross_entropy_rows_jvp(epsilon, primals, tangents):
    # d/dx_j = p_j (S - epsilon (y_j - p_t)) - y_j with S = sum(y), p_t = sum(y p);
    # d/dy_j = -log p_j + epsilon (1 - p_j), with safe_mul's 0 at (y = 0, p = 0).
    x, y = primals
    dx, dy = tangents
    out = poly1_cross_entropy_rows(x, y, epsilon)
    log_p = log_softmax(x, -1)
    p = jnp.exp(log_p)
    total = jnp.sum(y, axis=-1, keepdims=True)
    p_t = jnp.sum(y * p, axis=-1, keepdims=True)
    d_x = p * (total - epsilon * (y - p_t)) - y
    d_y = -jnp.where((y == 0) & ~jnp.isfinite(log_p), 0.0, log_p) + epsilon * (1.0 - p)
    return out, jnp.sum(d_x * dx + d_y * dy, axis=-1)


def safe_mul(coef: jax.Array, value: jax.Array) -> jax.Array:
    """``coef * value`` that is 0 where ``coef == 0`` even if ``value`` is infinite.

    Double ``where``: the infinite value is replaced before the product, so
    neither the value nor any gradient sees ``0 * inf``. Where ``value`` is
    finite the product and both partial derivatives are the ordinary ones.
    """
    drop = (coef == 0) & ~jnp.isfinite(value)
    return coef * jnp.where(drop, 0.0, value)


@jax.custom_jvp
def xlogy(x: jax.Array, y: jax.Array) -> jax.Array:
    """``x * log(y)``, defined as 0 where ``x == 0`` (also at ``y == 0``)."""
    safe_y = jnp.where(x == 0, 1.0, y)
    return jnp.where(x == 0, 0.0, x * jnp.log(safe_y))


@xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    # jax.scipy.special.xlogy's rule gives nan at (0, 0); this one gives the
    # one-sided derivative log(y) in x (0 where y == 0) and x / y in y.
    (x, y), (dx, dy) = primals, tangents
    out = xlogy(x, y)
    pos = y > 0
    log_y = jnp.log(jnp.where(pos, y, 1.0))
    d_x = jnp.where(pos, log_y, 0.0)
    # x / y written so that its own derivative in x (1 / y) survives at x == 0;
    # only the 0 / 0 corner is guarded.
    d_y = x / jnp.where((x == 0) & (y == 0), 1.0, y)
    return out, d_x * dx + d_y * dy


@jax.custom_jvp
def xlogx(x: jax.Array) -> jax.Array:
    """``x * log(x)``, 0 at ``x == 0``, with a finite derivative there."""
    return xlogy(x, x)


@xlogx.defjvp
def _xlogx_jvp(primals, tangents):
    # The true derivative log(x) + 1 is -inf at 0; the smallest normal number
    # keeps it finite (and large, with the right sign).
    (x,), (dx,) = primals, tangents
    tiny = jnp.finfo(x.dtype).tiny
    return xlogx(x), (jnp.log(jnp.maximum(x, tiny)) + 1.0) * dx


# --------------------------------------------------------------------------
# clipped probabilities whose gradient survives the clip
# --------------------------------------------------------------------------


@jax.custom_jvp
def clip_straight_through(x: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """``clip(x, low, high)`` whose derivative in ``x`` is 1 everywhere.

    Keras and tflearn clip probabilities to ``[eps, 1 - eps]`` before taking
    a log; with an ordinary clip the gradient is exactly 0 outside the range
    and training stalls. Passing the tangent straight through makes the
    derivative of ``f(clip(x))`` equal ``f'(clip(x))``: the derivative of the
    formula at the clipped point, finite and of the right sign.
    """
    return jnp.clip(x, low, high)


@clip_straight_through.defjvp
def _clip_st_jvp(primals, tangents):
    # Exists because jnp.clip's derivative is 0 outside [low, high] (training stalls at p == 0 or 1).
    x, low, high = primals
    dx, _, _ = tangents
    return clip_straight_through(x, low, high), dx


def log_clipped(p: jax.Array, epsilon: float) -> jax.Array:
    """``log(clip(p, epsilon, 1 - epsilon))`` with derivative ``1 / clip(p)``."""
    one = jnp.asarray(1.0, p.dtype)
    eps = jnp.asarray(epsilon, p.dtype)
    return jnp.log(clip_straight_through(p, eps, one - eps))


# --------------------------------------------------------------------------
# softplus, log-sigmoid, log-cosh
# --------------------------------------------------------------------------


@jax.custom_jvp
def softplus(x: jax.Array) -> jax.Array:
    """``log(1 + exp(x))``, exact for any magnitude, ``inf`` at ``+inf``."""
    # max(x, 0) + log1p(exp(-|x|)) never overflows; the derivative is set
    # below because autodiff of |x| gives a wrong second derivative at 0.
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    # Exists because autodiff of |x| in the primal gives a wrong second derivative at 0.
    (x,), (dx,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * dx


def log_sigmoid(x: jax.Array) -> jax.Array:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for finite ``x``."""
    return -softplus(-x)


@jax.custom_jvp
def log_cosh(x: jax.Array) -> jax.Array:
    """``log(cosh(x)) = |x| + softplus(-2|x|) - log 2``: no overflow for large ``x``."""
    a = jnp.abs(x)
    return a + softplus(-2.0 * a) - jnp.log(jnp.asarray(2.0, x.dtype))


@log_cosh.defjvp
def _log_cosh_jvp(primals, tangents):
    # d log cosh = tanh: exact at 0 and saturating at +-1 for large |x|.
    (x,), (dx,) = primals, tangents
    return log_cosh(x), jnp.tanh(x) * dx


# --------------------------------------------------------------------------
# exact rescaling: ratios and normalisations of tiny or huge numbers
# --------------------------------------------------------------------------


def inverse_scale(m: jax.Array) -> jax.Array:
    """A power of two ``r`` with ``m * r`` in ``[1, 2)``, held constant (no gradient).

    Multiplying by ``r`` is exact, so a formula that is homogeneous in its
    inputs gives the same bits on ``x * r`` as on ``x``, while every
    intermediate (and every derivative autodiff forms, such as ``y ** -2``
    for ``x / y``) is of order 1 instead of overflowing or flushing to 0.
    ``r`` is clamped so that ``r`` and ``1 / r`` are normal numbers (``m * r``
    is then below 4 at the top of the range); it is 1 where ``m`` is 0 or not
    finite. It multiplies, never divides: XLA computes a division by a
    broadcast value as a product with its reciprocal, which flushes to 0 for
    divisors above ~8.5e37 in float32.
    """
    finfo = jnp.finfo(m.dtype)
    _, e = jnp.frexp(m)  # m = f * 2**e, f in [0.5, 1)
    e = jnp.clip(e - 1, finfo.minexp, -finfo.minexp)
    r = jnp.ldexp(jnp.ones((), m.dtype), -e)
    return lax.stop_gradient(jnp.where((m > 0) & jnp.isfinite(m), r, jnp.ones((), m.dtype)))


def ratio(x: jax.Array, y: jax.Array) -> jax.Array:
    """``x / y`` whose derivatives of every order stay in range for tiny or huge ``y``.

    Both are first multiplied by the power of two that brings ``|y|`` into
    ``[1, 2)`` (:func:`inverse_scale`), which leaves the quotient's bits
    unchanged; then the ``y ** -2`` of autodiff is formed of a number near 1,
    where for ``y ~ 1e-20`` it would overflow (and meet a zero tangent as
    ``inf * 0``). Multiplied, not divided: XLA rewrites ``(x / c) / (y / c)``
    as ``(x * c) / (c * y)``, which underflows.
    """
    r = inverse_scale(jnp.abs(y))
    return (x * r) / (y * r)


def normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x / sum(x)`` along ``axis``; a row that sums to 0 is returned unchanged.

    The row is first multiplied by a power of two near the inverse of its sum
    (:func:`inverse_scale`, exact), so the quotient is bitwise ``x / sum(x)``
    while autodiff's ``sum ** -2`` is of order 1: a row of ``1e-20`` (whose
    squared sum flushes to 0) or of ``1e38`` has finite derivatives of every
    order, and no custom rule is needed.
    """
    total = jnp.sum(x, axis=axis, keepdims=True)
    r = inverse_scale(jnp.abs(total))
    scaled_total = total * r
    return (x * r) / jnp.where(scaled_total == 0, jnp.ones((), x.dtype), scaled_total)


# --------------------------------------------------------------------------
# powers of probabilities and log(1 - p)
# --------------------------------------------------------------------------


def _power_floor(dtype) -> float:
    """``sqrt(tiny)``: about 1e-19 in float32, 1.5e-154 in float64."""
    return float(np.sqrt(np.finfo(dtype).tiny))


@jax.custom_jvp
def power(x: jax.Array, q: jax.Array) -> jax.Array:
    """``x ** q`` for ``x >= 0``, ``q >= 0``, with derivatives finite at ``x == 0``.

    The derivative ``q x**(q - 1)`` is infinite at ``x == 0`` for ``q < 1``
    (autodiff gives ``inf``, and ``nan`` once multiplied by a zero); here it
    is taken at ``max(x, sqrt(tiny))``, so the first derivative is at most
    ``1 / sqrt(tiny)`` and the second at most ``1 / tiny``: finite to the
    Hessian in every float dtype, and exact for ``x >= sqrt(tiny)``.
    """
    return jnp.power(x, q)


@power.defjvp
def _power_jvp(primals, tangents):
    # Exists because autodiff of x ** q is inf (then nan) at x == 0 for q < 1.
    x, q = primals
    dx, dq = tangents
    out = power(x, q)
    floor = _power_floor(x.dtype)
    above = x > floor
    xf = jnp.where(above, x, floor)
    d_x = q * jnp.power(xf, q - 1.0)
    # d/dq x**q = x**q log x: 0 at x == 0 (the limit), double where on the log.
    pos = x > 0
    d_q = jnp.where(pos, out * jnp.log(jnp.where(pos, x, 1.0)), 0.0)
    return out, d_x * dx + d_q * dq


def log1mexp(log_p: jax.Array) -> jax.Array:
    """``log(1 - exp(log_p))`` for ``log_p <= 0``, finite even where ``p == 1``."""
    # Maechler's split: expm1 near 0, log1p further out. Where p rounds to 1
    # the result is pinned to log(tiny) by a double where, so that neither the
    # -inf of log(0) nor the ~1/tiny derivatives of the split (whose second
    # derivative overflows) reach any order of differentiation.
    tiny = jnp.finfo(log_p.dtype).tiny
    at_one = log_p >= -tiny
    v = jnp.where(at_one, -1.0, log_p)
    near = v > -0.6931472
    out = jnp.where(
        near,
        jnp.log(-jnp.expm1(jnp.where(near, v, -1.0))),
        jnp.log1p(-jnp.exp(jnp.where(near, -1.0, v))),
    )
    return jnp.where(at_one, jnp.log(tiny), out)


# --------------------------------------------------------------------------
# log-sum-exp for recursions (plain autodiff, no custom rule)
# --------------------------------------------------------------------------


def log_sum_exp(x: jax.Array, axis: int = -1) -> jax.Array:
    """``log(sum(exp(x)))`` along ``axis``; ``-inf`` where every entry is ``-inf``.

    Written so that plain autodiff of any order is finite (double where: the
    log only ever sees a sum >= 1), rather than through the custom-JVP
    :func:`logsumexp`: inside ``lax.scan`` the primal of a custom rule is
    inlined when the scan is linearised, so a second derivative would
    differentiate ``log(0)`` at unreachable states (the CTC recursion).
    """
    m = lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    reachable = m > -jnp.inf
    m = jnp.where(reachable, m, jnp.zeros((), x.dtype))
    s = jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)  # in [1, n] where reachable
    out = jnp.where(reachable, m + jnp.log(jnp.where(reachable, s, jnp.ones((), x.dtype))), -jnp.inf)
    return jnp.squeeze(out, axis=axis)


# --------------------------------------------------------------------------
# the focal modulating factor of a sigmoid
# --------------------------------------------------------------------------


def _log_one_minus_pt(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """``log(y sigmoid(-z) + (1 - y) sigmoid(z))`` from log-sigmoids, finite for finite ``z``."""
    # A -inf term (y == 0 or y == 1) is dropped before it can meet a zero.
    has_pos = labels > 0
    has_neg = labels < 1
    log_y = jnp.log(jnp.where(has_pos, labels, 1.0))
    log_1my = jnp.log(jnp.where(has_neg, 1.0 - labels, 1.0))
    log_pos = jnp.where(has_pos, log_y + log_sigmoid(-logits), -jnp.inf)
    log_neg = jnp.where(has_neg, log_1my + log_sigmoid(logits), -jnp.inf)
    return logsumexp(jnp.stack([log_pos, log_neg], axis=-1), -1)


@jax.custom_jvp
def sigmoid_focal_weight(logits: jax.Array, labels: jax.Array, gamma: jax.Array) -> jax.Array:
    """``(1 - p_t) ** gamma`` with ``1 - p_t = y sigmoid(-z) + (1 - y) sigmoid(z)``.

    Computed in log space, so it is exact for logits of any magnitude and any
    ``gamma >= 0`` (1 where ``gamma == 0``). Its derivative in ``z``,
    ``gamma (1 - 2y) sigmoid(z) sigmoid(-z) (1 - p_t) ** (gamma - 1)``, is
    formed as one bounded number (at most ``gamma |1 - 2y|`` in size).
    """
    return jnp.exp(safe_mul(gamma, _log_one_minus_pt(logits, labels)))


@sigmoid_focal_weight.defjvp
def _sigmoid_focal_weight_jvp(primals, tangents):
    # Exists because autodiff meets gamma * weight * cotangent (inf at |z| ~ 1e38) with dlog(1-p_t)/dz = 0: nan.
    z, y, gamma = primals
    dz, dy, dgamma = tangents
    log_q = _log_one_minus_pt(z, y)
    out = jnp.exp(safe_mul(gamma, log_q))
    finite = jnp.isfinite(log_q)
    safe_log_q = jnp.where(finite, log_q, 0.0)
    scaled = (gamma - 1.0) * safe_log_q  # log of (1 - p_t) ** (gamma - 1)
    ls_pos, ls_neg = log_sigmoid(z), log_sigmoid(-z)
    # gamma sigmoid(z) sigmoid(-z) (1 - p_t) ** (gamma - 1) as one exp (its
    # log is <= log(2 gamma)), so that no product of large factors forms first.
    keep = finite & (gamma > 0)
    log_gamma = jnp.log(jnp.where(gamma > 0, gamma, 1.0))
    d_z = (1.0 - 2.0 * y) * jnp.exp(jnp.where(keep, log_gamma + scaled + ls_pos + ls_neg, -jnp.inf))
    # d(1 - p_t)/dy = sigmoid(-z) - sigmoid(z); infinite (clamped to the float
    # range) only where 1 - p_t == 0 and gamma < 1, like the derivative of x ** gamma at 0.
    big = jnp.finfo(out.dtype).max
    d_y = jnp.exp(jnp.where(finite, scaled + ls_neg, -jnp.inf)) - jnp.exp(jnp.where(finite, scaled + ls_pos, -jnp.inf))
    d_y = jnp.clip(safe_mul(gamma, d_y), -big, big)
    d_gamma = jnp.clip(safe_mul(out, log_q), -big, big)
    return out, d_z * dz + d_y * dy + d_gamma * dgamma


# --------------------------------------------------------------------------
# Poisson negative log-likelihood terms
# --------------------------------------------------------------------------


def _exp_limit(dtype) -> float:
    """An ``x`` just below where ``exp(x)`` overflows (88.72 in float32)."""
    return float(np.log(np.finfo(dtype).max)) - 2.0**-8


@jax.custom_jvp
def exp_minus_mul(x: jax.Array, t: jax.Array) -> jax.Array:
    """``exp(x) - t * x`` (the Poisson NLL of a log-rate), never ``inf - inf``.

    ``t * x`` is 0 where ``t == 0``, also at ``x == -inf``. Where both terms
    overflow (``x`` beyond ~88.7 in float32 and ``t * x`` too) the value is
    taken as ``t * (exp(x - log t) - x)``, which is ``inf`` or ``-inf`` by the
    larger term unless the two nearly cancel. The derivative in ``x``,
    ``exp(x) - t``, is clamped to the float range.
    """
    tx = safe_mul(t, x)
    e = jnp.exp(x)
    clash = jnp.isinf(e) & (tx == jnp.inf)  # then x > 0 and t >= 1
    safe_t = jnp.where(clash, t, 1.0)
    scaled = safe_t * (jnp.exp(x - jnp.log(safe_t)) - x)
    return jnp.where(clash, scaled, e - jnp.where(clash, 0.0, tx))


@exp_minus_mul.defjvp
def _exp_minus_mul_jvp(primals, tangents):
    # Exists because autodiff's exp(x) is inf beyond x ~ 88.7 and a zero tangent then gives inf * 0 = nan.
    x, t = primals
    dx, dt = tangents
    big = jnp.finfo(x.dtype).max
    d_x = jnp.clip(jnp.exp(jnp.minimum(x, _exp_limit(x.dtype))) - t, -big, big)
    d_t = -jnp.where((t == 0) & ~jnp.isfinite(x), 0.0, x)
    return exp_minus_mul(x, t), d_x * dx + d_t * dt


@jax.custom_jvp
def poisson_deviance_log(x: jax.Array, t: jax.Array) -> jax.Array:
    """``exp(x) - t - t (x - log t)`` for ``t > 0``: the Poisson deviance of a log-rate.

    The terms of the NLL with Stirling's ``t log t - t`` added cancel where
    the rate fits (``exp(x) ~ t``) and overflow for large counts (``1e38 log
    1e38``); written as ``t h(d)``, ``d = x - log t``, with ``h(d) = expm1(d)
    - d >= 0`` where ``|d| < 1`` (or ``exp(x)`` overflows), and as ``(exp(x)
    - t) - t d`` elsewhere (where ``exp(x)`` keeps the digits that
    ``expm1(d)`` loses to the rounding of ``d``), nothing cancels and only a
    true overflow gives ``inf``.
    """
    d = x - jnp.log(t)
    e = jnp.exp(x)
    near = (jnp.abs(d) < 1.0) | jnp.isinf(e)
    return jnp.where(near, t * (jnp.expm1(d) - d), (e - t) - t * d)


@poisson_deviance_log.defjvp
def _poisson_deviance_log_jvp(primals, tangents):
    # Exists because the chain rule through d = x - log t forms h(d) - expm1(d): inf - inf for d > 88.
    x, t = primals
    dx, dt = tangents
    big = jnp.finfo(x.dtype).max
    d = x - jnp.log(t)
    d_x = jnp.clip(t * jnp.expm1(jnp.minimum(d, _exp_limit(x.dtype))), -big, big)
    return poisson_deviance_log(x, t), d_x * dx - jnp.clip(d, -big, big) * dt


@jax.custom_jvp
def poisson_deviance_rate(r: jax.Array, t: jax.Array) -> jax.Array:
    """``r - t - t log(r / t)`` for ``r > 0``, ``t > 0``: the Poisson deviance of a rate.

    ``log(r / t)`` is ``log1p((r - t) / t)`` where ``r`` and ``t`` are within
    a factor 1.5 (``r - t`` is then exact), so a good fit keeps its digits;
    for huge counts nothing overflows unless the value does.
    """
    return r - t - t * _log_rate_ratio(r, t)


def _log_rate_ratio(r: jax.Array, t: jax.Array) -> jax.Array:
    """``log(r / t)``; the quotients go through :func:`ratio` so that second derivatives stay in range."""
    close = jnp.abs(r - t) < 0.5 * t
    return jnp.where(close, jnp.log1p(ratio(jnp.where(close, r - t, 0.0), t)), jnp.log(ratio(r, t)))


@poisson_deviance_rate.defjvp
def _poisson_deviance_rate_jvp(primals, tangents):
    # Exists because autodiff of (r - t) / t forms t ** -2, which overflows (and drops a term) above t ~ 1e19.
    r, t = primals
    dr, dt = tangents
    big = jnp.finfo(r.dtype).max
    d_r = jnp.clip(ratio(r - t, r), -big, big)  # 1 - t / r
    return poisson_deviance_rate(r, t), d_r * dr - _log_rate_ratio(r, t) * dt


# --------------------------------------------------------------------------
# p-norms that survive zero vectors and huge entries
# --------------------------------------------------------------------------


def p_norm(v: jax.Array, p: float, axis: int = -1) -> jax.Array:
    """``(sum |v|**p) ** (1 / p)`` along ``axis`` for a static ``p > 0``.

    The vector is first multiplied by the power of two that brings its
    largest entry into ``[1, 2)`` (:func:`inverse_scale`, exact), so entries
    of ``1e30`` do not overflow and ``1e-30`` do not underflow; a zero
    vector gives 0 with a zero gradient (double where around the root), and
    ``|v| ** p`` goes through :func:`power`, whose derivative stays finite
    at 0 for ``p < 1``.
    """
    m = jnp.max(jnp.abs(v), axis=axis, keepdims=True)
    r = inverse_scale(m)
    # |v| with derivative sign(v), 0 at v == 0 (torch's; jnp.abs gives 1 there).
    u = jnp.where(v == 0, 0.0, jnp.abs(v * r))
    if p == 1:
        n = jnp.sum(u, axis=axis)
    else:
        s = jnp.sum(jnp.square(u) if p == 2 else power(u, jnp.asarray(p, u.dtype)), axis=axis)
        pos = s > 0
        safe = jnp.where(pos, s, 1.0)
        root = jnp.sqrt(safe) if p == 2 else power(safe, jnp.asarray(1.0 / p, u.dtype))
        n = jnp.where(pos, root, 0.0)
    return n / jnp.squeeze(r, axis)


# --------------------------------------------------------------------------
# sparsemax: the Euclidean projection onto the simplex, and its loss pieces
# --------------------------------------------------------------------------


def sparse_plus(x: jax.Array) -> jax.Array:
    """``0`` for ``x <= -1``, ``(x + 1)**2 / 4`` for ``|x| < 1``, ``x`` for ``x >= 1``.

    ``jax.nn.sparse_plus`` with a double ``where``: the quadratic branch sees
    ``x`` clipped to ``[-1, 1]``, so ``x = +-inf`` gives ``inf``/``0`` with the
    derivative ``1``/``0`` (not ``nan``); second derivative ``1/2`` inside.
    """
    inside = jnp.clip(x, -1.0, 1.0)
    quad = 0.25 * jnp.square(inside + 1.0)
    return jnp.where(x >= 1.0, jnp.where(x >= 1.0, x, 1.0), jnp.where(x <= -1.0, 0.0, quad))


def sparsemax(x: jax.Array) -> jax.Array:
    """Sparsemax along the last axis: the Euclidean projection of ``x`` onto the simplex.

    ``max(x - tau, 0)`` with the threshold ``tau`` found by a descending sort
    (static shapes). Computed on ``x - max(x)`` (the projection is
    shift-invariant, ``J 1 = 0``), so huge scores keep their precision.
    ``-inf`` entries get 0 and zero derivatives; differentiable to any order
    (piecewise linear).
    """
    z = x - row_max(x, -1)
    z_sorted = -jnp.sort(-z, axis=-1)
    k = lax.broadcasted_iota(z.dtype, z.shape, z.ndim - 1) + 1.0
    cs = jnp.cumsum(z_sorted, axis=-1)
    # The support is a prefix of the sorted scores; -inf entries are never in it.
    support = 1.0 + k * z_sorted > cs
    k_star = jnp.maximum(jnp.sum(support, axis=-1, keepdims=True), 1)
    cs_k = jnp.take_along_axis(cs, (k_star - 1).astype(jnp.int32), axis=-1)
    tau = (cs_k - 1.0) / k_star.astype(z.dtype)
    return jnp.where(z > tau, z - tau, 0.0)


@jax.custom_jvp
def sparsemax_fy_loss(x: jax.Array, labels: jax.Array) -> jax.Array:
    """The multiclass sparsemax (Fenchel-Young) loss along the last axis.

    ``<p, x - x_y> + (1 - |p|^2) / 2`` with ``p = sparsemax(x)`` and integer
    ``labels`` (``x`` without its last axis, in range). Its derivative is
    ``p - onehot(y)`` (a custom rule: classes outside the support, ``-inf``
    included, contribute nothing, where the product form would meet
    ``0 * inf``); second derivatives are those of ``p``.
    """
    z = x - row_max(x, -1)
    is_target = labels[..., None] == lax.broadcasted_iota(labels.dtype, z.shape, z.ndim - 1)
    z_y = jnp.sum(jnp.where(is_target, z, 0.0), axis=-1, keepdims=True)
    p = sparsemax(z)
    on = p > 0
    gap = jnp.where(on, z - jnp.where(on, z_y, 0.0), 0.0)
    return jnp.sum(p * gap, axis=-1) + 0.5 * (1.0 - jnp.sum(jnp.square(p), axis=-1))


@sparsemax_fy_loss.defjvp
def _sparsemax_fy_loss_jvp(primals, tangents):
    x, labels = primals
    dx, _ = tangents
    is_target = labels[..., None] == lax.broadcasted_iota(labels.dtype, x.shape, x.ndim - 1)
    grad = sparsemax(x) - is_target.astype(x.dtype)
    return sparsemax_fy_loss(x, labels), jnp.sum(grad * dx, axis=-1)
