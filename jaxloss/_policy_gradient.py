"""Policy-gradient losses for RL post-training: the GRPO family, PPO-clip, the k3 KL, group advantages.

Each function equals TRL 1.16's ``GRPOTrainer`` (``_compute_loss`` and the
advantage code of ``_generate_and_score_completions``) on the same inputs,
values and gradients with respect to the log-probs, and stays finite where
TRL's ``exp`` of a large log-ratio overflows.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo", "cispo", "sapo")
# The loss types whose per-token loss is the clipped surrogate.
_CLIPPED = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")
REWARD_SCALES = ("group", "batch", "none")
REWARD_AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


class PolicyGradientOutput(NamedTuple):
    """Per-token results of :func:`policy_gradient_token_loss`, each ``[..., T]`` and 0 where masked.

    Attributes:
      per_token_loss: the per-token loss ``L`` (policy term plus ``beta``
        times ``kl``), before any aggregation.
      ratio: the importance ratio ``r`` (per token, or the sequence's ratio
        on each of its tokens), before ``delta``.
      low_clipped: 1.0 where TRL counts the token as clipped below
        (``clip_ratio/low_*``: ``r < 1 - epsilon`` with ``A < 0``), else 0.0.
      high_clipped: 1.0 where TRL counts it as clipped above
        (``clip_ratio/high_*``: ``r > 1 + epsilon_high`` with ``A > 0``;
        for ``"cispo"`` TRL's ``cispo_clip_ratio``: ``r > epsilon_high``
        with ``A > 0``), else 0.0.
      kl: TRL's ``per_token_kl``: the k3 estimate, times ``ratio`` with
        ``use_bias_correction_kl``; 0 without ``ref_log_probs``.
    """

    per_token_loss: jax.Array
    ratio: jax.Array
    low_clipped: jax.Array
    high_clipped: jax.Array
    kl: jax.Array


# --------------------------------------------------------------------------
# stable pieces
# --------------------------------------------------------------------------


def _exp_limit(dtype: Any) -> float:
    """An ``x`` just below where ``exp(x)`` overflows (88.72 in float32)."""
    return float(np.log(np.finfo(dtype).max)) - 2.0**-8


def _ratio(log_ratio: jax.Array) -> jax.Array:
    # exp of the log-ratio clamped below the overflow point: the ratio stays
    # finite (TRL's is inf there and its gradient nan); beyond the clamp it is
    # flat (gradient 0), which only a ratio above ~3e38 (float32) reaches. A
    # where, not jnp.minimum, whose derivative multiplies an infinite
    # cotangent by 0.
    limit = _exp_limit(log_ratio.dtype)
    return jnp.exp(jnp.where(log_ratio < limit, log_ratio, limit))


# 1/k! for k = 2..14: the Taylor series of exp(d) - 1 - d to a relative error
# below 2e-16 for |d| < 1/2.
_K3_SERIES = tuple(1.0 / float(np.prod(np.arange(1, k + 1))) for k in range(2, 15))


@jax.custom_jvp
def _k3(d: jax.Array) -> jax.Array:
    """``exp(d) - d - 1``, saturating near the float maximum for large ``d``.

    ``expm1(d) - d`` away from 0, and its Taylor series ``d^2/2 + d^3/6 + ...``
    for ``|d| < 1/2``, where the subtraction would cancel (every digit is kept:
    TRL's ``exp(d) - d - 1`` is 0 or ``1.2e-7`` at ``d = 1e-4`` in float32).
    """
    small = jnp.abs(d) < 0.5
    ds = jnp.where(small, d, 0.0)
    acc = jnp.full_like(d, _K3_SERIES[-1])
    for c in reversed(_K3_SERIES[:-1]):
        acc = acc * ds + c
    return jnp.where(small, ds * ds * acc, jnp.expm1(jnp.minimum(d, _exp_limit(d.dtype))) - d)


@_k3.defjvp
def _k3_jvp(primals, tangents):
    # Exists so that the derivative keeps its sign past the saturation point
    # (autodiff of the clamped primal would give -1 there instead of ~max).
    (d,), (dd,) = primals, tangents
    return _k3(d), jnp.expm1(jnp.minimum(d, _exp_limit(d.dtype))) * dd


@jax.custom_jvp
def _k3_times_ratio(d: jax.Array, r: jax.Array) -> jax.Array:
    """``k3(d) * r``, the sequence-level bias-corrected KL, with a bounded partial derivative in ``d``."""
    return _k3(d) * r


@_k3_times_ratio.defjvp
def _k3_times_ratio_jvp(primals, tangents):
    # Exists because the two partials, expm1(d) * r (in d) and k3(d) * r (in
    # r), both overflow where d and r are huge and reach log_probs with
    # opposite signs (inf - inf = nan). The first is bounded, so the sum is
    # at worst infinite, never nan.
    d, r = primals
    dd, dr = tangents
    bound = float(np.finfo(d.dtype).max) * 2.0**-24
    k3 = _k3(d)
    d_d = jnp.clip(jnp.expm1(jnp.minimum(d, _exp_limit(d.dtype))) * r, -bound, bound)
    return k3 * r, d_d * dd + k3 * dr


@jax.custom_jvp
def _k3_ratio_token(lp: jax.Array, ref: jax.Array, old: jax.Array) -> jax.Array:
    """Token-level ``k3(ref - lp) * exp(lp - old)`` with its derivative in ``lp`` as one term."""
    return _k3(ref - lp) * _ratio(lp - old)


@_k3_ratio_token.defjvp
def _k3_ratio_token_jvp(primals, tangents):
    # Exists because the chain rule's two terms, -expm1(d) r and k3(d) r, cancel
    # to -d r: computed apart they lose every digit for large d and overflow to
    # inf - inf = nan even where -d r is finite. Partials are clamped to the
    # float range so that a zero tangent (ref and old are data) stays zero.
    lp, ref, old = primals
    dlp, dref, dold = tangents
    big = float(np.finfo(lp.dtype).max)
    limit = _exp_limit(lp.dtype)
    d, w = ref - lp, lp - old
    r, k3 = _ratio(w), _k3(d)
    live = w < limit  # beyond the clamp the ratio is flat
    p_ref = jnp.clip(jnp.expm1(jnp.minimum(d, limit)) * r, -big, big)
    p_old = jnp.where(live, -jnp.clip(k3 * r, -big, big), 0.0)
    p_lp = jnp.where(live, jnp.clip(-d * r, -big, big), -p_ref)
    return k3 * r, p_lp * dlp + p_ref * dref + p_old * dold


# --------------------------------------------------------------------------
# option and input checks
# --------------------------------------------------------------------------


def _check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _checks.error(ValueError, f"`{name}` must be one of {allowed}, got {value!r}.")
    return value


def _check_loss_type(loss_type: Any) -> str:
    if loss_type == "vespo":
        raise _checks.error(
            ValueError,
            f"`loss_type` 'vespo' (TRL's gamma-weighted VESPO) is not provided; `loss_type` must be one of "
            f"{LOSS_TYPES}, got {loss_type!r}.",
        )
    return _check_choice(loss_type, "loss_type", LOSS_TYPES)


def _clip_options(epsilon: Any, epsilon_high: Any, delta: Any) -> tuple[float, float, float | None]:
    _checks.check_range(epsilon, "epsilon", 0.0)
    if epsilon_high is None:
        epsilon_high = epsilon
    _checks.check_range(epsilon_high, "epsilon_high", 0.0)
    if delta is not None:
        _checks.check_range(delta, "delta", 0.0, low_open=True)
        delta = float(delta)
    return float(epsilon), float(epsilon_high), delta


def _log_probs_inputs(log_probs: ArrayLike, others: list[tuple[Any, str]]) -> tuple[jax.Array, list[Any]]:
    """``log_probs`` and the other log-prob arrays (None kept) in one float compute dtype."""
    present = [(x, n) for x, n in others if x is not None]
    cast = _checks.floats((log_probs, "log_probs"), *present)
    lp, rest = cast[0], iter(cast[1:])
    if lp.ndim == 0:
        raise _checks.error(
            ValueError, "`log_probs` must have at least one dimension (the token axis, last), got a scalar."
        )
    out: list[Any] = []
    for x, n in others:
        if x is None:
            out.append(None)
            continue
        arr = next(rest)
        _checks.check_broadcastable_to(arr, lp.shape, n, "log_probs")
        out.append(jnp.broadcast_to(arr, lp.shape))
    return lp, out


def _advantages(advantages: ArrayLike, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Advantages per sequence (``shape[:-1]``, returned as ``[..., 1]``) or per token (``shape``)."""
    a = _checks.as_numeric(advantages, "advantages")
    if a is None:
        raise _checks.error(TypeError, "`advantages` must be an array, got None.")
    a = a.astype(dtype)
    if a.ndim == len(shape) - 1:
        _checks.check_broadcastable_to(a, shape[:-1], "advantages", "log_probs without its token axis")
        return jnp.broadcast_to(a, shape[:-1])[..., None]
    _checks.check_broadcastable_to(a, shape, "advantages", "log_probs")
    return jnp.broadcast_to(a, shape)


def _mask(where: Any, shape: tuple[int, ...]) -> jax.Array:
    m = _checks.as_mask(where, shape, "log_probs")
    return jnp.ones(shape, jnp.bool_) if m is None else m


def _surrogate(
    r: jax.Array, a: jax.Array, epsilon: float, epsilon_high: float, delta: float | None
) -> tuple[jax.Array, jax.Array]:
    """``-min(r1 A, clip(r) A)`` with ``r1 = min(r, delta)``, and ``r1`` (TRL's clipping statistics use it)."""
    lo, hi = 1.0 - epsilon, 1.0 + epsilon_high
    # torch.clamp's derivative is 1 on the closed interval; jnp.clip would
    # halve it exactly at a bound.
    r2 = jnp.where(r < lo, lo, jnp.where(r > hi, hi, r))
    r1 = r if delta is None else jnp.where(r > delta, delta, r)
    return -jnp.minimum(r1 * a, r2 * a), r1


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------


def k3_kl(log_probs: ArrayLike, ref_log_probs: ArrayLike) -> jax.Array:
    r"""Per-token k3 estimate of ``KL(pi || pi_ref)`` from sampled tokens' log-probs.

    .. math:: k_3 = e^{d} - d - 1, \qquad d = \ell_{ref} - \ell

    (Schulman's "k3" estimator: unbiased, non-negative), elementwise; TRL
    1.16's ``per_token_kl`` in ``GRPOTrainer._compute_loss``. Computed as
    ``expm1(d) - d``, and as its Taylor series for ``|d| < 1/2``, where
    ``exp(d) - d - 1`` cancels (full relative precision for small ``d``,
    where TRL's float32 value is 0 or ``1.2e-7``). For ``d`` beyond the overflow point of ``exp`` (88.7 in
    float32) the value saturates at about the largest float (TRL's is
    ``inf``) and the derivative in ``log_probs``, ``1 - e^d``, at about minus
    that; for very negative ``d`` the value is ``-d - 1`` exactly. Finite for
    finite inputs, without ``nan`` in the gradients.

    Args:
      log_probs: float array of the policy's per-token log-probs.
      ref_log_probs: the reference policy's, broadcastable to ``log_probs``.

    Returns:
      ``k3`` per token, shaped like ``log_probs``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.k3_kl(jnp.array([-1.0, -2.0]), jnp.array([-1.0, -1.0])).round(4)
      Array([0.    , 0.7183], dtype=float32)
    """
    lp, ref = _checks.floats((log_probs, "log_probs"), (ref_log_probs, "ref_log_probs"))
    shape = _checks.elementwise_shape(lp, ref, "log_probs", "ref_log_probs")
    return _k3(jnp.broadcast_to(ref, shape) - jnp.broadcast_to(lp, shape))


def policy_gradient_token_loss(
    log_probs: ArrayLike,
    old_log_probs: ArrayLike | None,
    advantages: ArrayLike,
    *,
    where: ArrayLike | None = None,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
    ref_log_probs: ArrayLike | None = None,
    beta: float = 0.0,
    use_bias_correction_kl: bool = True,
) -> PolicyGradientOutput:
    r"""Per-token GRPO-family policy-gradient loss (TRL 1.16 ``GRPOTrainer``, before aggregation).

    With ``m`` the mask, ``A`` the advantages and ``l``, ``l_old`` the
    current and sampling policies' log-probs of the sampled tokens:

    1. The log-ratio ``w = l - l_old`` per token; with
       ``importance_sampling_level="sequence"`` (GSPO) one per sequence, the
       masked mean ``sum_t m (l - l_old) / max(sum_t m, 1)``, broadcast over
       its tokens. ``r = exp(w)``.
    2. The policy term:

       * ``"grpo"``, ``"bnpo"``, ``"dr_grpo"``, ``"dapo"``, ``"luspo"``: the
         clipped surrogate ``-min(r1 A, clip(r, 1 - epsilon, 1 + epsilon_high) A)``
         with ``r1 = min(r, delta)`` if ``delta`` is set (two-sided
         clipping), else ``r``;
       * ``"cispo"``: ``-sg(min(r, epsilon_high)) A l`` (``epsilon_high`` is
         the cap of the ratio here, e.g. 5.0);
       * ``"sapo"``: ``-(4 / tau) sigmoid(tau (r - 1)) A`` with
         ``tau = sapo_temperature_pos`` where ``A > 0``, else
         ``sapo_temperature_neg``.

    3. If ``beta != 0``: ``+ beta * kl`` with ``kl = k3(l_ref - l)``
       (:func:`k3_kl`), times ``r`` with ``use_bias_correction_kl``.

    This is TRL 1.16's ``per_token_loss`` in ``GRPOTrainer._compute_loss``
    (with ``mask = where``); :func:`aggregate_token_losses` is its
    aggregation and :func:`grpo` the two together. TRL's ``"vespo"`` is not
    provided.

    Only ``log_probs`` is differentiated: ``old_log_probs``,
    ``ref_log_probs`` and ``advantages`` are data (``stop_gradient``), as in
    TRL, and ``old_log_probs=None`` (on-policy) means
    ``stop_gradient(log_probs)``, so ``r == 1`` with the gradient of ``r``.

    Masked tokens give exactly 0 in every output and 0 gradient, even if the
    log-probs (or per-token advantages) hold ``nan`` or ``inf`` there, and
    they count in no sequence mean. The ratio is computed from the log-ratio
    clamped just below the overflow point of ``exp`` (88.7 in float32), so
    it stays finite where TRL's overflows to ``inf`` (and its gradient to
    ``nan``); beyond the clamp the ratio is flat. No ``nan`` reaches a value
    or a gradient for finite inputs. Where a term's exact value exceeds the
    float range (``|r A|`` or the bias-corrected KL above ~3e38 in float32)
    its value is ``inf``. At token level the bias-corrected KL's derivative
    in ``l``, ``-(l_ref - l) r``, is computed as one term, so it stays finite
    (and exact) where the two cancelling terms of the chain rule lose every
    digit or overflow to ``inf - inf``, which is what TRL computes; at
    sequence level that gradient can be ``inf`` where ``k3 * r`` overflows.

    Args:
      log_probs: float ``[..., T]`` per-token log-probs of the sampled
        tokens under the current policy (``[B, T]`` usually).
      old_log_probs: the sampling (old) policy's, broadcastable to
        ``log_probs``, or None for on-policy.
      advantages: ``[...]`` per sequence (``[B]``) or per token,
        broadcastable to ``log_probs`` (``[B, T]``, ``[B, 1]``).
      where: optional boolean completion mask broadcastable to
        ``log_probs`` (TRL's ``completion_mask * tool_mask``).
      loss_type: one of ``"grpo"``, ``"bnpo"``, ``"dr_grpo"``, ``"dapo"``,
        ``"luspo"``, ``"cispo"``, ``"sapo"``.
      epsilon: lower clipping range, ``>= 0``.
      epsilon_high: upper clipping range (None: ``epsilon``); the ratio cap
        for ``"cispo"``.
      delta: optional cap ``> 0`` of the ratio in the unclipped term.
      importance_sampling_level: ``"token"`` or ``"sequence"``.
      sapo_temperature_pos: SAPO temperature for positive advantages, ``> 0``.
      sapo_temperature_neg: SAPO temperature otherwise, ``> 0``.
      ref_log_probs: the reference policy's log-probs, broadcastable to
        ``log_probs``; required when ``beta != 0``.
      beta: KL coefficient, ``>= 0``.
      use_bias_correction_kl: multiply the KL by the ratio.

    Returns:
      A :class:`PolicyGradientOutput` ``(per_token_loss, ratio, low_clipped,
      high_clipped, kl)``, each shaped like ``log_probs``; float32 for
      16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> lp = jnp.array([[-1.0, -0.5], [-2.0, -1.0]])
      >>> old = jnp.array([[-1.0, -1.0], [-1.0, -1.0]])
      >>> out = jaxloss.policy_gradient_token_loss(lp, old, jnp.array([1.0, -1.0]), loss_type="grpo")
      >>> out.per_token_loss
      Array([[-1. , -1.2],
             [ 0.8,  1. ]], dtype=float32)
      >>> out.high_clipped
      Array([[0., 1.],
             [0., 0.]], dtype=float32)
    """
    loss_type = _check_loss_type(loss_type)
    level = _check_choice(importance_sampling_level, "importance_sampling_level", IMPORTANCE_SAMPLING_LEVELS)
    eps_lo, eps_hi, delta = _clip_options(epsilon, epsilon_high, delta)
    _checks.check_range(sapo_temperature_pos, "sapo_temperature_pos", 0.0, low_open=True)
    _checks.check_range(sapo_temperature_neg, "sapo_temperature_neg", 0.0, low_open=True)
    _checks.check_range(beta, "beta", 0.0)
    bias_correction = _checks.check_bool(use_bias_correction_kl, "use_bias_correction_kl")
    use_kl = not _checks.is_static_zero(beta)
    beta = float(beta)
    if use_kl and ref_log_probs is None:
        raise _checks.error(ValueError, f"`ref_log_probs` is required when `beta` is not 0, got `beta`={beta!r}.")
    lp, (old, ref) = _log_probs_inputs(log_probs, [(old_log_probs, "old_log_probs"), (ref_log_probs, "ref_log_probs")])
    shape = tuple(lp.shape)
    m = _mask(where, shape)
    a = lax.stop_gradient(_advantages(advantages, shape, lp.dtype))

    # First where of the double-where: masked entries hold nothing that can
    # leak into a value or a gradient (their outputs are zeroed at the end).
    lp = jnp.where(m, lp, 0.0)
    old = lax.stop_gradient(lp) if old is None else lax.stop_gradient(jnp.where(m, old, 0.0))
    if a.shape[-1] == 1:
        a = jnp.where(jnp.any(m, axis=-1, keepdims=True), a, 0.0)
    else:
        a = jnp.where(m, a, 0.0)

    log_ratio = jnp.where(m, lp - old, 0.0)
    if level == "sequence":
        count = jnp.sum(m, axis=-1, keepdims=True).astype(lp.dtype)
        log_ratio = jnp.sum(log_ratio, axis=-1, keepdims=True) / jnp.maximum(count, 1.0)
    r = _ratio(log_ratio)

    zeros = jnp.zeros(shape, lp.dtype)
    low = high = zeros
    if loss_type in _CLIPPED:
        loss, r1 = _surrogate(r, a, eps_lo, eps_hi, delta)
        # TRL counts clipping with the ratio after the delta cap.
        low = ((r1 < 1.0 - eps_lo) & (a < 0)).astype(lp.dtype)
        high = ((r1 > 1.0 + eps_hi) & (a > 0)).astype(lp.dtype)
    elif loss_type == "cispo":
        capped = lax.stop_gradient(jnp.minimum(r, eps_hi))
        loss = -capped * a * lp
        high = ((r > eps_hi) & (a > 0)).astype(lp.dtype)
    else:  # sapo
        tau = jnp.where(a > 0, jnp.asarray(sapo_temperature_pos, lp.dtype), jnp.asarray(sapo_temperature_neg, lp.dtype))
        loss = -(jax.nn.sigmoid(tau * (r - 1.0)) * 4.0 / tau) * a

    kl = zeros
    if ref is not None:
        ref = lax.stop_gradient(jnp.where(m, ref, 0.0))
        if not bias_correction:
            kl = _k3(ref - lp)
        elif level == "token":
            kl = _k3_ratio_token(lp, ref, old)
        else:
            kl = _k3_times_ratio(ref - lp, jnp.broadcast_to(r, shape))
        if use_kl:
            loss = loss + beta * kl

    def out(x: jax.Array) -> jax.Array:
        return jnp.where(m, jnp.broadcast_to(x, shape), 0.0)

    return PolicyGradientOutput(out(loss), out(r), out(low), out(high), out(kl))


def aggregate_token_losses(
    per_token_loss: ArrayLike,
    *,
    where: ArrayLike | None,
    loss_type: str = "dapo",
    max_completion_length: int = 512,
    num_items: ArrayLike | None = None,
) -> jax.Array:
    r"""Aggregates per-token policy-gradient losses into a scalar, as TRL 1.16's ``GRPOTrainer``.

    With ``m`` the mask and ``L`` the per-token losses ``[..., T]`` (each
    leading index a sequence, ``B`` sequences):

    ================================ ==========================================
    ``"grpo"``, ``"sapo"``           ``mean_b(sum_t m L / max(sum_t m, 1))``
    ``"bnpo"``                       ``sum m L / max(sum m, 1)``
    ``"dr_grpo"``                    ``sum m L / (B * max_completion_length)``
    ``"dapo"``, ``"cispo"``          ``sum m L / num_items``
    ``"luspo"``                      ``mean_b(sum_t m L)``
    ================================ ==========================================

    This is the aggregation in ``GRPOTrainer._compute_loss`` in evaluation
    mode: in training TRL also divides by the gradient-accumulation steps
    (for ``"dapo"``/``"cispo"`` it scales ``num_items`` instead), which a
    JAX loop does where it accumulates. ``num_items`` is TRL's
    ``num_items_in_batch / num_processes``: the active tokens of the whole
    generation batch per process; None means the active tokens of this
    batch, ``max(sum m, 1)``. A zero ``num_items`` gives 0. It is data (a
    traced scalar is fine) and is ignored by the other loss types.

    Masked entries contribute exactly 0 to the value and the gradient, even
    if they hold ``nan`` or ``inf``; an empty sequence adds 0 to the means.

    Args:
      per_token_loss: float ``[..., T]`` per-token losses (the
        ``per_token_loss`` of :func:`policy_gradient_token_loss`).
      where: boolean mask broadcastable to ``per_token_loss``, or None (all
        tokens).
      loss_type: one of ``"grpo"``, ``"bnpo"``, ``"dr_grpo"``, ``"dapo"``,
        ``"luspo"``, ``"cispo"``, ``"sapo"``.
      max_completion_length: the ``dr_grpo`` constant, an int ``>= 1``.
      num_items: optional scalar token count for ``"dapo"``/``"cispo"``.

    Returns:
      The scalar loss; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> L = jnp.array([[1.0, 2.0, 9.0], [3.0, 4.0, 5.0]])
      >>> m = jnp.array([[True, True, False], [True, True, True]])
      >>> float(jaxloss.aggregate_token_losses(L, where=m, loss_type="grpo"))
      2.75
      >>> float(jaxloss.aggregate_token_losses(L, where=m, loss_type="dapo"))
      3.0
    """
    loss_type = _check_loss_type(loss_type)
    mcl = int(_checks.check_int(max_completion_length, "max_completion_length", minimum=1) or 1)
    x = _checks.as_float(per_token_loss, "per_token_loss")
    x = x.astype(_checks.compute_dtype(x))
    if x.ndim == 0:
        raise _checks.error(
            ValueError, "`per_token_loss` must have at least one dimension (the token axis, last), got a scalar."
        )
    shape = tuple(x.shape)
    m = _checks.as_mask(where, shape, "per_token_loss")
    if m is None:
        m = jnp.ones(shape, jnp.bool_)
    x = jnp.where(m, x, 0.0)
    count = jnp.sum(m, axis=-1).astype(x.dtype)
    sequences = int(np.prod(shape[:-1]))
    if loss_type in ("grpo", "sapo"):
        return jnp.mean(jnp.sum(x, axis=-1) / jnp.maximum(count, 1.0))
    if loss_type == "bnpo":
        return jnp.sum(x) / jnp.maximum(jnp.sum(count), 1.0)
    if loss_type == "dr_grpo":
        return jnp.sum(x) / (sequences * mcl)
    if loss_type == "luspo":
        return jnp.mean(jnp.sum(x, axis=-1))
    # dapo, cispo
    if num_items is None:
        return jnp.sum(x) / jnp.maximum(jnp.sum(count), 1.0)
    if not isinstance(num_items, jax.core.Tracer):
        _checks.check_range(num_items, "num_items", 0.0)
    n = _checks.as_numeric(num_items, "num_items")
    if n.ndim != 0:
        raise _checks.error(ValueError, f"`num_items` must be a scalar, got an array of shape {tuple(n.shape)}.")
    n = lax.stop_gradient(n.astype(x.dtype))
    zero = n == 0
    return jnp.where(zero, 0.0, jnp.sum(x) / jnp.where(zero, 1.0, n))


def grpo(
    log_probs: ArrayLike,
    old_log_probs: ArrayLike | None,
    advantages: ArrayLike,
    *,
    where: ArrayLike | None = None,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
    ref_log_probs: ArrayLike | None = None,
    beta: float = 0.0,
    use_bias_correction_kl: bool = True,
    max_completion_length: int = 512,
    num_items: ArrayLike | None = None,
) -> jax.Array:
    r"""The GRPO-family loss as a scalar: TRL 1.16 ``GRPOTrainer._compute_loss``.

    ``aggregate_token_losses(policy_gradient_token_loss(...).per_token_loss,
    where=where, ...)``: see :func:`policy_gradient_token_loss` for the
    per-token loss (ratio, clipping, ``delta``, SAPO, CISPO, the k3 KL with
    ``beta``) and :func:`aggregate_token_losses` for the aggregation of each
    ``loss_type``. Equals ``GRPOTrainer._compute_loss`` in evaluation mode
    (no gradient-accumulation division) with ``num_items =
    num_items_in_batch / num_processes``, value and gradient with respect to
    ``log_probs``, which is the only input differentiated. Loss types
    ``"grpo"`` (GRPO), ``"dapo"`` (DAPO, the default), ``"dr_grpo"`` (Dr.
    GRPO), ``"bnpo"``, ``"luspo"``, ``"cispo"`` (CISPO), ``"sapo"`` (SAPO);
    ``importance_sampling_level="sequence"`` is GSPO. TRL's ``"vespo"`` is
    not provided. Masked tokens contribute 0 to the value and the gradient
    even if they hold ``nan``.

    Args:
      log_probs: float ``[..., T]`` per-token log-probs (current policy).
      old_log_probs: the sampling policy's, or None (on-policy).
      advantages: ``[...]`` per sequence or per token (``[..., T]``).
      where: optional boolean completion mask.
      loss_type: see :func:`aggregate_token_losses`.
      epsilon: lower clipping range.
      epsilon_high: upper clipping range (None: ``epsilon``).
      delta: optional two-sided clipping cap.
      importance_sampling_level: ``"token"`` or ``"sequence"``.
      sapo_temperature_pos: SAPO temperature for positive advantages.
      sapo_temperature_neg: SAPO temperature otherwise.
      ref_log_probs: reference log-probs, required when ``beta != 0``.
      beta: KL coefficient.
      use_bias_correction_kl: multiply the KL by the ratio.
      max_completion_length: the ``"dr_grpo"`` constant.
      num_items: ``"dapo"``/``"cispo"`` token count (None: this batch's).

    Returns:
      The scalar loss; float32 for 16-bit inputs.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> lp = jnp.array([[-1.0, -0.5], [-2.0, -1.0]])
      >>> adv = jnp.array([1.0, -1.0])
      >>> float(jaxloss.grpo(lp, None, adv, loss_type="grpo"))
      0.0
      >>> jax.grad(jaxloss.grpo)(lp, None, adv, loss_type="grpo")
      Array([[-0.25, -0.25],
             [ 0.25,  0.25]], dtype=float32)
    """
    out = policy_gradient_token_loss(
        log_probs,
        old_log_probs,
        advantages,
        where=where,
        loss_type=loss_type,
        epsilon=epsilon,
        epsilon_high=epsilon_high,
        delta=delta,
        importance_sampling_level=importance_sampling_level,
        sapo_temperature_pos=sapo_temperature_pos,
        sapo_temperature_neg=sapo_temperature_neg,
        ref_log_probs=ref_log_probs,
        beta=beta,
        use_bias_correction_kl=use_bias_correction_kl,
    )
    return aggregate_token_losses(
        out.per_token_loss,
        where=where,
        loss_type=loss_type,
        max_completion_length=max_completion_length,
        num_items=num_items,
    )


def ppo_clip(
    log_probs: ArrayLike,
    old_log_probs: ArrayLike | None,
    advantages: ArrayLike,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Per-token PPO clipped surrogate, as a loss to minimise.

    .. math:: L = -\min\bigl(r A,\ \mathrm{clip}(r, 1 - \epsilon, 1 + \epsilon_{high}) A\bigr),
              \qquad r = e^{\ell - \ell_{old}}

    elementwise (Schulman et al. 2017; the sign is the loss's, the negative
    of the PPO objective). This is the per-token loss of TRL 1.16's
    ``GRPOTrainer`` for the clipped loss types with token-level importance
    sampling and per-token advantages (TRL 1.16 has no ``PPOTrainer``), i.e.
    :func:`policy_gradient_token_loss` without ``delta`` and KL. Per-sequence
    advantages (``log_probs`` without its last axis) are broadcast over the
    tokens. Only ``log_probs`` is differentiated; ``old_log_probs=None``
    means ``stop_gradient(log_probs)``. The ratio is computed from the
    log-ratio clamped below the overflow point of ``exp``, so it stays
    finite. Masked entries give 0 and no gradient, even if they hold
    ``nan``.

    Args:
      log_probs: float array of the current policy's log-probs.
      old_log_probs: the sampling policy's, broadcastable to ``log_probs``,
        or None.
      advantages: per token (broadcastable to ``log_probs``) or per
        sequence (``log_probs.shape[:-1]``).
      epsilon: lower clipping range, ``>= 0``.
      epsilon_high: upper clipping range (None: ``epsilon``).
      where: optional boolean mask broadcastable to ``log_probs``.

    Returns:
      The per-token loss, shaped like ``log_probs``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> lp, old = jnp.log(jnp.array([0.5, 0.3])), jnp.log(jnp.array([0.25, 0.6]))
      >>> jaxloss.ppo_clip(lp, old, jnp.array([1.0, -1.0]))
      Array([-1.2,  0.8], dtype=float32)
    """
    eps_lo, eps_hi, _ = _clip_options(epsilon, epsilon_high, None)
    lp, (old,) = _log_probs_inputs(log_probs, [(old_log_probs, "old_log_probs")])
    shape = tuple(lp.shape)
    m = _mask(where, shape)
    a = lax.stop_gradient(_advantages(advantages, shape, lp.dtype))
    lp = jnp.where(m, lp, 0.0)
    old = lax.stop_gradient(lp) if old is None else lax.stop_gradient(jnp.where(m, old, 0.0))
    a = jnp.where(m, jnp.broadcast_to(a, shape), 0.0)
    loss, _ = _surrogate(_ratio(lp - old), a, eps_lo, eps_hi, None)
    return jnp.where(m, loss, 0.0)


def _nan_mean(x: jax.Array, axis: Any = None, keepdims: bool = False) -> tuple[jax.Array, jax.Array]:
    """torch.nanmean (nan where nothing is left) and the count of non-nan entries."""
    valid = ~jnp.isnan(x)
    count = jnp.sum(valid, axis=axis, keepdims=keepdims).astype(x.dtype)
    total = jnp.sum(jnp.where(valid, x, 0.0), axis=axis, keepdims=keepdims)
    return total / count, count


def _nan_std(x: jax.Array, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """TRL's ``nanstd``: the unbiased std over non-nan entries, nan for fewer than two."""
    mean, _ = _nan_mean(x, axis=axis, keepdims=True)
    var, count = _nan_mean((x - mean) ** 2, axis=axis, keepdims=keepdims)
    correction = jnp.where(count > 1, count / jnp.where(count > 1, count - 1.0, 1.0), jnp.nan)
    return jnp.sqrt(var * correction)


def _nan_sum(x: jax.Array, axis: int) -> jax.Array:
    return jnp.sum(jnp.where(jnp.isnan(x), 0.0, x), axis=axis)


def group_advantages(
    rewards: ArrayLike,
    *,
    group_size: int,
    scale: str | bool = "group",
    epsilon: float = 1e-4,
    reward_weights: ArrayLike | None = None,
    aggregation: str = "sum_then_normalize",
) -> jax.Array:
    r"""Group-relative advantages from rewards, as TRL 1.16's ``GRPOTrainer``.

    ``rewards`` are ``[B]`` (one reward function) or ``[B, K]`` (``K``
    functions), for ``B / group_size`` prompts with ``group_size``
    consecutive completions each (TRL's ``num_generations``).

    With ``aggregation="sum_then_normalize"`` (TRL's default
    ``multi_objective_aggregation``) the rewards are first summed,
    ``R = nansum_k w_k R_k``, then

    .. math:: A = \frac{R - \mathrm{mean}_{group}(R)}{\mathrm{std} + \epsilon}

    with the **unbiased** std, taken per ``scale``: ``"group"`` (or
    ``True``) within each group, ``"batch"`` over the whole batch (the mean
    stays per group), ``"none"`` (or ``False``) no division. With
    ``"normalize_then_sum"`` (GDPO) each ``R_k`` is normalised within its
    group first, ``(R_k - mean) / (std + epsilon)``, the weighted results are
    summed and the sum is normalised over the batch; ``scale`` is then
    ignored, as in TRL.

    ``nan`` rewards (a reward function that does not apply, TRL's None)
    are left out of every sum, mean and std; a completion whose rewards are
    all ``nan`` is left out of its group's statistics and gets advantage 0,
    and so does every ``nan`` that results (a group with a single scored
    completion, whose std is undefined). A group of equal rewards gets 0.
    A batch of one group of one completion gets 0 (TRL's std is 0 there).

    The advantages are constants of the policy-gradient loss: the result is
    ``stop_gradient``-ed (no gradient reaches ``rewards``).

    Args:
      rewards: ``[B]`` or ``[B, K]`` rewards, any real dtype.
      group_size: completions per prompt, an int ``>= 1`` that divides ``B``.
      scale: ``"group"``, ``"batch"`` or ``"none"`` (``True``/``False``
        as TRL's ``scale_rewards``).
      epsilon: added to the std, ``>= 0`` (TRL: 1e-4).
      reward_weights: optional ``[K]`` weights of the reward functions
        (TRL's ``reward_weights``; None: all 1).
      aggregation: ``"sum_then_normalize"`` or ``"normalize_then_sum"``.

    Returns:
      The ``[B]`` advantages; float32 for integer or 16-bit rewards.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> r = jnp.array([1.0, 0.0, 0.0, 0.0])
      >>> [round(float(x), 4) for x in jaxloss.group_advantages(r, group_size=2)]
      [0.707, -0.707, 0.0, 0.0]
      >>> jaxloss.group_advantages(r, group_size=2, scale="none")
      Array([ 0.5, -0.5,  0. ,  0. ], dtype=float32)
    """
    g = int(_checks.check_int(group_size, "group_size", minimum=1) or 1)
    if isinstance(scale, (bool, np.bool_)):
        scale = "group" if scale else "none"
    scale = _check_choice(scale, "scale", REWARD_SCALES)
    aggregation = _check_choice(aggregation, "aggregation", REWARD_AGGREGATIONS)
    _checks.check_range(epsilon, "epsilon", 0.0)
    epsilon = float(epsilon)
    r = _checks.as_numeric(rewards, "rewards")
    if r is None:
        raise _checks.error(TypeError, "`rewards` must be an array, got None.")
    r = r.astype(_checks.compute_dtype(r))
    if r.ndim == 1:
        r = r[:, None]
    elif r.ndim != 2:
        raise _checks.error(ValueError, f"`rewards` must be [B] or [B, K], got shape {tuple(r.shape)}.")
    b, k = r.shape
    if b % g:
        raise _checks.error(
            ValueError, f"`group_size`={g} must divide the batch of `rewards`, {b} (shape {tuple(r.shape)})."
        )
    if reward_weights is None:
        w = jnp.ones((k,), r.dtype)
    else:
        w = _checks.as_numeric(reward_weights, "reward_weights").astype(r.dtype)
        if tuple(w.shape) != (k,):
            raise _checks.error(
                ValueError,
                f"`reward_weights` must have shape ({k},) (one per reward function), got {tuple(w.shape)}.",
            )
    unscorable = jnp.all(jnp.isnan(r), axis=1)

    if aggregation == "sum_then_normalize":
        total = jnp.where(unscorable, jnp.nan, _nan_sum(r * w[None, :], axis=1))
        grouped = total.reshape(-1, g)
        mean = jnp.repeat(_nan_mean(grouped, axis=1)[0], g)
        if scale == "batch":
            std = _nan_std(total) if b > 1 else jnp.zeros((), r.dtype)
        else:
            std = jnp.repeat(_nan_std(grouped, axis=1), g) if g > 1 else jnp.zeros((b,), r.dtype)
        adv = total - mean
        if scale != "none":
            adv = adv / (std + epsilon)
    else:
        grouped3 = r.reshape(-1, g, k)
        mean_k, _ = _nan_mean(grouped3, axis=1, keepdims=True)
        std_k = _nan_std(grouped3, axis=1, keepdims=True) if g > 1 else jnp.zeros_like(mean_k)
        normed = ((grouped3 - mean_k) / (std_k + epsilon)).reshape(b, k)
        total = jnp.where(unscorable, jnp.nan, _nan_sum(normed * w[None, :], axis=1))
        std = _nan_std(total) if b > 1 else jnp.zeros((), r.dtype)
        adv = (total - _nan_mean(total)[0]) / (std + epsilon)
    return lax.stop_gradient(jnp.nan_to_num(adv, nan=0.0))
