"""Preference-optimisation losses: DPO and its variants, CPO/SimPO/AlphaPO, ORPO and KTO.

Every loss takes sequence log-probabilities ``[B]`` (one per completion, see
:func:`sequence_log_probs`) and returns its loss per pair or per example,
with the rewards TRL 1.16 logs (stop-gradient). The batch loss is the mean
of ``losses``, which equals TRL 1.16's trainers' loss, value and gradient.
The NLL terms some trainers add (CPO's ``cpo_alpha``, ORPO's) are the job of
:func:`jaxloss.fused_linear_cross_entropy` (``reduction="mean"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import clip_straight_through, log1mexp, log_sigmoid, safe_mul, softplus

__all__ = [
    "KTOOutput",
    "ORPOOutput",
    "PreferenceOutput",
    "cpo",
    "dpo",
    "kto",
    "kto_kl",
    "ld_dpo_weights",
    "orpo",
    "sequence_log_probs",
    "simpo",
]


class PreferenceOutput(NamedTuple):
    """What :func:`dpo`, :func:`cpo` and :func:`simpo` return.

    Attributes:
      losses: the loss per pair, ``[B]``; the batch loss is its mean.
      chosen_rewards: the implicit reward of each chosen completion
        (stop-gradient), ``[B]``.
      rejected_rewards: the implicit reward of each rejected completion
        (stop-gradient), ``[B]``.
    """

    losses: jax.Array
    chosen_rewards: jax.Array
    rejected_rewards: jax.Array


class ORPOOutput(NamedTuple):
    """What :func:`orpo` returns: :class:`PreferenceOutput`'s fields and the log odds ratio.

    Attributes:
      losses: ``-beta * log_sigmoid(log_odds)`` per pair, ``[B]``.
      chosen_rewards: ``beta * chosen_avg_logps`` (stop-gradient).
      rejected_rewards: ``beta * rejected_avg_logps`` (stop-gradient).
      log_odds: the log odds ratio of chosen over rejected per pair
        (differentiable; TRL logs its mean).
    """

    losses: jax.Array
    chosen_rewards: jax.Array
    rejected_rewards: jax.Array
    log_odds: jax.Array


class KTOOutput(NamedTuple):
    """What :func:`kto` returns.

    Attributes:
      losses: the weighted loss per example, ``[B]``; the batch loss is its
        mean.
      rewards: ``beta * (policy_logps - ref_logps)`` per example
        (stop-gradient).
    """

    losses: jax.Array
    rewards: jax.Array


# An exponent is clamped here before ``exp`` (TRL 1.16 clamps the
# alpha-divergence's at 80 in float32): ``e**80`` ~ 5.5e34 leaves room for the
# products the loss and its gradient form.
_EXP_CAP = 80.0

_DPO_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
)
# The loss types built on the chosen-rejected score difference: the only ones
# with an f-divergence generalization (TRL 1.16 also lists "sft").
_F_DIVERGENCE_LOSS_TYPES = ("sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop")
_F_DIVERGENCES = ("reverse_kl", "forward_kl", "js_divergence", "alpha_divergence")
_LENGTH_LOSS_TYPES = ("ipo", "sigmoid_norm")
_CPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "simpo")
_KTO_LOSS_TYPES = ("kto", "apo_zero_unpaired")


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------


def _choice(value: Any, name: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _checks.error(ValueError, f"`{name}` must be one of {tuple(allowed)}, got {value!r}.")
    return value


def _scalar(value: Any, name: str, low: float | None = None, high: float | None = None, **open_: bool) -> float:
    _checks.check_range(value, name, low, high, **open_)
    out = float(value)
    if not math.isfinite(out):
        raise _checks.error(ValueError, f"`{name}` must be finite, got {value!r}.")
    return out


def _beta(beta: Any) -> float:
    return _scalar(beta, "beta", 0.0, low_open=True)


def _bool_array(x: Any, name: str) -> jax.Array:
    if x is None:
        raise _checks.error(TypeError, f"`{name}` must be a boolean array, got None.")
    x = jnp.asarray(x)
    if x.dtype != jnp.bool_:
        raise _checks.error(
            TypeError,
            f"`{name}` must be a boolean array, got an array of dtype {x.dtype} and shape {tuple(x.shape)}. "
            f"Convert it, e.g. `{name}.astype(bool)`.",
        )
    return x


def _pairs(*named: tuple[ArrayLike, str]) -> tuple[tuple[int, ...], list[jax.Array]]:
    """Checked float inputs in one compute dtype, broadcast to the first one's shape."""
    arrays = _checks.floats(*named)
    shape = tuple(arrays[0].shape)
    for a, (_, name) in zip(arrays[1:], named[1:], strict=True):
        _checks.elementwise_shape(arrays[0], a, named[0][1], name)
    return shape, [jnp.broadcast_to(a, shape) for a in arrays]


def _capped_exp_arg(t: jax.Array) -> jax.Array:
    """``min(t, 80)`` whose derivative is 1 everywhere (the formula's derivative at the clamp)."""
    return clip_straight_through(t, jnp.asarray(-jnp.inf, t.dtype), jnp.asarray(_EXP_CAP, t.dtype))


def _smoothed_sigmoid_loss(x: jax.Array, label_smoothing: float) -> jax.Array:
    """``-(1 - e) log_sigmoid(x) - e log_sigmoid(-x)``, the term dropped when ``e == 0``."""
    out = softplus(-x)
    if label_smoothing:
        out = (1.0 - label_smoothing) * out + label_smoothing * softplus(x)
    return out


# --------------------------------------------------------------------------
# sequence helpers
# --------------------------------------------------------------------------


def sequence_log_probs(
    token_log_probs: ArrayLike,
    *,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    average: bool = False,
) -> jax.Array:
    r"""The log-probability of each sequence from its tokens': a (weighted) sum or average over the last axis.

    .. math:: \log \pi = \sum_t w_t \ell_t \quad\text{or}\quad
        \frac{\sum_t w_t \ell_t}{\sum_t w_t}\ (\texttt{average=True})

    with ``w`` the ``weights`` (1 by default) times the ``where`` mask. This
    is TRL 1.16's ``get_batch_logps`` (CPO, ORPO) on the label mask, and the
    sum DPO and KTO form; ``weights`` from :func:`ld_dpo_weights` give
    LD-DPO's. A masked token (or one of weight 0) contributes exactly 0 to
    the value and to every gradient, even if it holds ``nan`` or ``-inf``.
    An average over no token is 0 (TRL divides 0 by 0).

    Args:
      token_log_probs: float ``[..., T]``, the log-prob of each token.
      where: optional boolean mask broadcastable to ``token_log_probs``
        (the completion tokens).
      weights: optional per-token weights (any real dtype) broadcastable to
        ``token_log_probs``.
      average: divide by ``sum(w)`` (the token count) instead of summing.

    Returns:
      ``[...]``, one value per sequence; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> lp = jnp.array([[-1.0, -2.0, -3.0], [-0.5, -0.5, jnp.nan]])
      >>> m = jnp.array([[True, True, False], [True, True, False]])
      >>> jaxloss.sequence_log_probs(lp, where=m)
      Array([-3., -1.], dtype=float32)
      >>> jaxloss.sequence_log_probs(lp, where=m, average=True)
      Array([-1.5, -0.5], dtype=float32)
    """
    (lp,) = _checks.floats((token_log_probs, "token_log_probs"))
    if lp.ndim == 0:
        raise _checks.error(
            ValueError, "`token_log_probs` must have at least one dimension (the token axis, last), got a scalar."
        )
    average = _checks.check_bool(average, "average")
    mask = _checks.as_mask(where, lp.shape, "token_log_probs")
    if weights is None:
        w = jnp.ones(lp.shape, lp.dtype)
    else:
        w = _checks.as_numeric(weights, "weights")
        _checks.check_broadcastable_to(w, lp.shape, "weights", "token_log_probs")
        w = jnp.broadcast_to(w.astype(lp.dtype), lp.shape)
    if mask is not None:
        w = jnp.where(mask, w, 0.0)
        lp = jnp.where(mask, lp, 0.0)
    total = jnp.sum(safe_mul(w, lp), axis=-1)
    if not average:
        return total
    count = jnp.sum(w, axis=-1)
    empty = count == 0
    return jnp.where(empty, 0.0, total / jnp.where(empty, 1.0, count))


def ld_dpo_weights(chosen_mask: ArrayLike, rejected_mask: ArrayLike, *, alpha: float) -> tuple[jax.Array, jax.Array]:
    r"""LD-DPO's per-token weights: 1 over the length both completions share, ``alpha`` beyond.

    A completion token at position ``k`` (counted over the mask's True
    tokens, from 1) weighs 1 if ``k <= min(n_c, n_r)`` and ``alpha``
    otherwise, where ``n_c``, ``n_r`` are the chosen and rejected completion
    lengths; a token off the mask weighs 0. TRL 1.16's ``DPOTrainer`` with
    ``ld_alpha=alpha`` weighs the policy's and the reference's token
    log-probs so: pass the weights to :func:`sequence_log_probs` for both,
    then to :func:`dpo`.

    Args:
      chosen_mask: boolean ``[..., Tc]``, the chosen completion tokens.
      rejected_mask: boolean ``[..., Tr]`` with the same leading shape.
      alpha: the weight of the tokens past the shared length, in
        ``[0, 1]`` (1 is plain DPO, 0 drops them).

    Returns:
      ``(w_c, w_r)``, float arrays shaped like the masks (the default float
      dtype: float32, or float64 under ``jax_enable_x64``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> c = jnp.array([[False, True, True, True]])
      >>> r = jnp.array([[True, True, False, False]])
      >>> w_c, w_r = jaxloss.ld_dpo_weights(c, r, alpha=0.5)
      >>> w_c
      Array([[0. , 1. , 1. , 0.5]], dtype=float32)
      >>> w_r
      Array([[1., 1., 0., 0.]], dtype=float32)
    """
    alpha = _scalar(alpha, "alpha", 0.0, 1.0)
    cm = _bool_array(chosen_mask, "chosen_mask")
    rm = _bool_array(rejected_mask, "rejected_mask")
    for m, name in ((cm, "chosen_mask"), (rm, "rejected_mask")):
        if m.ndim == 0:
            raise _checks.error(
                ValueError, f"`{name}` must have at least one dimension (the token axis), got a scalar."
            )
    if cm.shape[:-1] != rm.shape[:-1]:
        raise _checks.error(
            ValueError,
            f"`chosen_mask` and `rejected_mask` must have the same leading shape (all but the token axis), "
            f"got {tuple(cm.shape)} and {tuple(rm.shape)}.",
        )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    pos_c = jnp.cumsum(cm.astype(jnp.int32), axis=-1)
    pos_r = jnp.cumsum(rm.astype(jnp.int32), axis=-1)
    shared = jnp.minimum(jnp.sum(cm, axis=-1, dtype=jnp.int32), jnp.sum(rm, axis=-1, dtype=jnp.int32))[..., None]
    one, tail, zero = (jnp.asarray(v, dtype) for v in (1.0, alpha, 0.0))

    def weights(mask: jax.Array, pos: jax.Array) -> jax.Array:
        return jnp.where(mask, jnp.where(pos <= shared, one, tail), zero)

    return weights(cm, pos_c), weights(rm, pos_r)


# --------------------------------------------------------------------------
# DPO
# --------------------------------------------------------------------------


def _loss_types(loss_type: Any) -> tuple[str, ...]:
    types = (loss_type,) if isinstance(loss_type, str) else loss_type
    if not isinstance(types, (list, tuple)) or not types:
        raise _checks.error(
            ValueError,
            f"`loss_type` must be one of {_DPO_LOSS_TYPES} or a non-empty list of them, got {loss_type!r}.",
        )
    for t in types:
        _choice(t, "loss_type", _DPO_LOSS_TYPES)
    return tuple(types)


def _loss_weights(loss_weights: Any, n: int) -> tuple[float, ...]:
    if loss_weights is None:
        return (1.0,) * n
    if not isinstance(loss_weights, (list, tuple)):
        raise _checks.error(TypeError, f"`loss_weights` must be a list of numbers or None, got {loss_weights!r}.")
    if len(loss_weights) != n:
        raise _checks.error(
            ValueError,
            f"`loss_weights` must have the same length as `loss_type`: got {len(loss_weights)} weights for "
            f"{n} loss types.",
        )
    return tuple(_scalar(w, "loss_weights") for w in loss_weights)


def _f_score(rho: jax.Array, f_divergence: str, f_alpha: float) -> jax.Array:
    """The f-divergence's score of a log-ratio (``rho`` itself for the reverse KL)."""
    if f_divergence == "forward_kl":  # f'(t) = 1 - 1/t
        return -jnp.expm1(_capped_exp_arg(-rho))
    if f_divergence == "js_divergence":  # f'(t) = log(2t / (t + 1))
        return math.log(2.0) + log_sigmoid(rho)
    if f_divergence == "alpha_divergence" and abs(f_alpha - 1.0) >= 1e-6:  # f'(t) = (t^(a-1) - 1) / (a - 1)
        return jnp.expm1(_capped_exp_arg((f_alpha - 1.0) * rho)) / (f_alpha - 1.0)
    return rho  # reverse_kl, and the alpha -> 1 limit


def dpo(
    chosen_logps: ArrayLike,
    rejected_logps: ArrayLike,
    ref_chosen_logps: ArrayLike,
    ref_rejected_logps: ArrayLike,
    *,
    beta: float = 0.1,
    loss_type: str | Sequence[str] = "sigmoid",
    label_smoothing: float = 0.0,
    discopop_tau: float = 0.05,
    chosen_lengths: ArrayLike | None = None,
    rejected_lengths: ArrayLike | None = None,
    f_divergence: str = "reverse_kl",
    f_alpha: float = 0.5,
    loss_weights: Sequence[float] | None = None,
) -> PreferenceOutput:
    r"""Direct Preference Optimization and its variants, per pair: TRL 1.16's ``DPOTrainer`` loss.

    With the log-ratios :math:`\rho_c = c - c_0`, :math:`\rho_r = r - r_0`
    (policy minus reference sequence log-probs), the scores
    :math:`s = f(\rho)` of the ``f_divergence``, :math:`x = \beta (s_c - s_r)`,
    :math:`\varepsilon` = ``label_smoothing`` and the lengths
    :math:`n = \max(\text{length}, 1)`:

    * ``sigmoid``: :math:`-\log\sigma(x)` (``label_smoothing`` is ignored, as in TRL 1.16)
    * ``hinge``: :math:`\max(0, 1 - x)`
    * ``ipo``: :math:`(s_c/n_c - s_r/n_r - 1/(2\beta))^2`
    * ``exo_pair``: :math:`\sigma(x)(\log\sigma(x) - \log(1-\varepsilon))
      + \sigma(-x)(\log\sigma(-x) - \log\varepsilon)`
    * ``nca_pair``: :math:`-\log\sigma(\beta\rho_c) - \tfrac12\log\sigma(-\beta\rho_c)
      - \tfrac12\log\sigma(-\beta\rho_r)`
    * ``robust``: :math:`(-(1-\varepsilon)\log\sigma(x) + \varepsilon\log\sigma(-x)) / (1 - 2\varepsilon)`
    * ``bco_pair``: :math:`-\log\sigma(\beta\rho_c) - \log\sigma(-\beta\rho_r)`
    * ``sppo_hard``: :math:`(\rho_c - 1/(2\beta))^2 + (\rho_r + 1/(2\beta))^2`
    * ``aot``: :math:`-(1-\varepsilon)\log\sigma(\beta d) - \varepsilon\log\sigma(-\beta d)` with
      :math:`d = \mathrm{sort}(c - r) - \mathrm{sort}(c_0 - r_0)`
    * ``aot_unpaired``: the same with :math:`d = \mathrm{sort}(\rho_c) - \mathrm{sort}(\rho_r)`
    * ``apo_zero``: :math:`1 - \sigma(\beta\rho_c) + \sigma(\beta\rho_r)`
    * ``apo_down``: :math:`\sigma(\beta\rho_c) + 1 - \sigma(\beta(\rho_c - \rho_r))`
    * ``discopop``: :math:`-\log\sigma(x)(1 - \mu) + e^{-x}\mu` with :math:`\mu = \sigma(x/\tau)`
    * ``sigmoid_norm``: :math:`-\log\sigma(\beta(s_c/n_c - s_r/n_r))`

    ``f_divergence`` (only for sigmoid, sigmoid_norm, hinge, ipo, exo_pair,
    robust and discopop, as in TRL 1.16) replaces :math:`\rho` by
    :math:`s(\rho)`: ``reverse_kl`` :math:`\rho`, ``forward_kl``
    :math:`1 - e^{-\rho}`, ``js_divergence`` :math:`\log 2 + \log\sigma(\rho)`,
    ``alpha_divergence`` :math:`(e^{(\alpha-1)\rho} - 1)/(\alpha - 1)`
    (:math:`\rho` itself for :math:`|\alpha - 1| < 10^{-6}`). The exponent is
    clamped at 80, as TRL 1.16 clamps the alpha-divergence's (for the forward
    KL too, where TRL overflows); beyond the clamp the derivative is the
    formula's at the clamp (TRL's clamp gives 0 there), so values and
    gradients stay finite for log-ratios of any magnitude. ``e^{-x}\mu`` of
    discopop is formed as :math:`e^{-x + \log\sigma(x/\tau)}` (no
    ``inf * 0``).

    A list of loss types gives :math:`\sum_k w_k \text{loss}_k` per pair
    (weights ``loss_weights``, 1 by default), so ``mean(losses)`` is TRL's
    :math:`\sum_k w_k \,\text{mean}(\text{loss}_k)`. TRL's ``sft`` loss is
    not a pair loss: it is ``jaxloss.reduce(-token_log_probs,
    where=chosen_mask)``. aot and aot_unpaired sort over the batch (axis 0):
    their entry ``i`` pairs the ``i``-th smallest margins, and only their
    mean has a meaning.

    Equals TRL 1.16 ``DPOTrainer._compute_loss`` (``loss_type=[...]``,
    ``loss_weights``, ``f_divergence_type``, ``f_alpha_divergence_coef``),
    value and gradient, ``mean(losses)`` against its loss; with
    ``ld_alpha``, through :func:`ld_dpo_weights`.

    Args:
      chosen_logps: float ``[B]``, the policy's chosen sequence log-probs
        (sums over the completion, :func:`sequence_log_probs`).
      rejected_logps: the policy's rejected sequence log-probs.
      ref_chosen_logps: the reference model's chosen sequence log-probs.
      ref_rejected_logps: the reference model's rejected sequence log-probs.
        Each broadcasts to ``chosen_logps``' shape.
      beta: the inverse temperature, ``> 0`` (IPO's regularisation ``tau``).
      loss_type: a name from the table, or a list of names.
      label_smoothing: ``epsilon`` in ``[0, 1]``, for exo_pair (``(0, 1)``),
        robust (``[0, 0.5)``; TRL only warns), aot and aot_unpaired.
      discopop_tau: discopop's ``tau``, ``> 0``.
      chosen_lengths: completion token counts of the chosen sequences
        (clamped to >= 1), required for ipo and sigmoid_norm.
      rejected_lengths: those of the rejected sequences.
      f_divergence: ``"reverse_kl"``, ``"forward_kl"``, ``"js_divergence"``
        or ``"alpha_divergence"``.
      f_alpha: the alpha of ``"alpha_divergence"``.
      loss_weights: one weight per entry of a list ``loss_type``.

    Returns:
      :class:`PreferenceOutput`: ``losses`` per pair, ``chosen_rewards =
      beta * rho_c`` and ``rejected_rewards = beta * rho_r`` (stop-gradient),
      each shaped like ``chosen_logps``; float32 for 16-bit inputs.

    Raises:
      ValueError: an unknown ``loss_type`` or ``f_divergence``, an
        ``f_divergence`` other than ``"reverse_kl"`` with a loss type that
        has none, exo_pair with ``label_smoothing`` not in ``(0, 1)``, robust
        with ``label_smoothing >= 0.5``, ipo or sigmoid_norm without
        lengths, ``loss_weights`` of the wrong length.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> out = jaxloss.dpo(jnp.array([-10.0, -12.0]), jnp.array([-14.0, -11.0]),
      ...                   jnp.array([-11.0, -12.0]), jnp.array([-13.0, -12.0]))
      >>> out.losses
      Array([0.5981, 0.7444], dtype=float32)
      >>> out.chosen_rewards
      Array([0.1, 0. ], dtype=float32)
    """
    shape, (c, r, c0, r0) = _pairs(
        (chosen_logps, "chosen_logps"),
        (rejected_logps, "rejected_logps"),
        (ref_chosen_logps, "ref_chosen_logps"),
        (ref_rejected_logps, "ref_rejected_logps"),
    )
    beta = _beta(beta)
    types = _loss_types(loss_type)
    weights = _loss_weights(loss_weights, len(types))
    eps = _scalar(label_smoothing, "label_smoothing", 0.0, 1.0)
    tau = _scalar(discopop_tau, "discopop_tau", 0.0, low_open=True)
    f_divergence = _choice(f_divergence, "f_divergence", _F_DIVERGENCES)
    f_alpha = _scalar(f_alpha, "f_alpha")
    if f_divergence != "reverse_kl":
        unsupported = sorted(set(types) - set(_F_DIVERGENCE_LOSS_TYPES))
        if unsupported:
            raise _checks.error(
                ValueError,
                f"`f_divergence`={f_divergence!r} is only defined for the loss types {_F_DIVERGENCE_LOSS_TYPES}, "
                f"got `loss_type` {unsupported}. Use `f_divergence`='reverse_kl' with these losses.",
            )
    if "exo_pair" in types and not 0.0 < eps < 1.0:
        raise _checks.error(
            ValueError,
            f"`label_smoothing` must lie in (0, 1) for the 'exo_pair' loss (the EXO paper recommends 1e-3), "
            f"got {label_smoothing!r}.",
        )
    if "robust" in types and not eps < 0.5:
        raise _checks.error(
            ValueError, f"`label_smoothing` must lie in [0, 0.5) for the 'robust' loss, got {label_smoothing!r}."
        )
    if any(t in ("aot", "aot_unpaired") for t in types) and len(shape) == 0:
        raise _checks.error(ValueError, "`chosen_logps` must have a batch axis (axis 0) for the 'aot' losses.")
    n_c = n_r = None
    needs_lengths = [t for t in types if t in _LENGTH_LOSS_TYPES]
    if needs_lengths:
        if chosen_lengths is None or rejected_lengths is None:
            raise _checks.error(
                ValueError,
                f"`loss_type` {needs_lengths[0]!r} needs `chosen_lengths` and `rejected_lengths` "
                f"(the completion token counts), got chosen_lengths={'None' if chosen_lengths is None else '...'} "
                f"and rejected_lengths={'None' if rejected_lengths is None else '...'}.",
            )
        lengths = []
        for x, name in ((chosen_lengths, "chosen_lengths"), (rejected_lengths, "rejected_lengths")):
            n = _checks.as_numeric(x, name)
            _checks.elementwise_shape(c, n, "chosen_logps", name)
            lengths.append(jnp.maximum(jnp.broadcast_to(n.astype(c.dtype), shape), 1.0))
        n_c, n_r = lengths

    rho_c, rho_r = c - c0, r - r0
    s_c, s_r = _f_score(rho_c, f_divergence, f_alpha), _f_score(rho_r, f_divergence, f_alpha)
    x = beta * (s_c - s_r)
    half_inv_beta = 0.5 / beta

    def pair_loss(t: str) -> jax.Array:
        if t == "sigmoid":
            return softplus(-x)
        if t == "hinge":
            return jax.nn.relu(1.0 - x)
        if t == "ipo":
            assert n_c is not None and n_r is not None
            return jnp.square(s_c / n_c - s_r / n_r - half_inv_beta)
        if t == "exo_pair":
            return jax.nn.sigmoid(x) * (log_sigmoid(x) - math.log1p(-eps)) + jax.nn.sigmoid(-x) * (
                log_sigmoid(-x) - math.log(eps)
            )
        if t == "nca_pair":
            return softplus(-beta * rho_c) + 0.5 * softplus(beta * rho_c) + 0.5 * softplus(beta * rho_r)
        if t == "robust":
            return ((1.0 - eps) * softplus(-x) - eps * softplus(x)) / (1.0 - 2.0 * eps)
        if t == "bco_pair":
            return softplus(-beta * rho_c) + softplus(beta * rho_r)
        if t == "sppo_hard":
            return jnp.square(rho_c - half_inv_beta) + jnp.square(rho_r + half_inv_beta)
        if t == "aot":
            d = jnp.sort(c - r, axis=0) - jnp.sort(c0 - r0, axis=0)
            return _smoothed_sigmoid_loss(beta * d, eps)
        if t == "aot_unpaired":
            d = jnp.sort(rho_c, axis=0) - jnp.sort(rho_r, axis=0)
            return _smoothed_sigmoid_loss(beta * d, eps)
        if t == "apo_zero":
            return jax.nn.sigmoid(-beta * rho_c) + jax.nn.sigmoid(beta * rho_r)
        if t == "apo_down":
            return jax.nn.sigmoid(beta * rho_c) + jax.nn.sigmoid(-beta * (rho_c - rho_r))
        if t == "discopop":
            return softplus(-x) * jax.nn.sigmoid(-x / tau) + jnp.exp(log_sigmoid(x / tau) - x)
        assert t == "sigmoid_norm" and n_c is not None and n_r is not None
        return softplus(-beta * (s_c / n_c - s_r / n_r))

    # A term of weight 0 is left out (its loss may be infinite: no 0 * inf).
    losses = jnp.zeros(shape, c.dtype)
    for t, w in zip(types, weights, strict=True):
        if w != 0.0:
            losses = losses + (pair_loss(t) if w == 1.0 else w * pair_loss(t))
    return PreferenceOutput(losses, lax.stop_gradient(beta * rho_c), lax.stop_gradient(beta * rho_r))


# --------------------------------------------------------------------------
# CPO, SimPO, AlphaPO, ORPO
# --------------------------------------------------------------------------


def _cpo(
    chosen: ArrayLike,
    rejected: ArrayLike,
    names: tuple[str, str],
    beta: Any,
    loss_type: Any,
    label_smoothing: Any,
    simpo_gamma: Any,
    gamma_name: str,
    alpha: Any,
) -> PreferenceOutput:
    _, (c, r) = _pairs((chosen, names[0]), (rejected, names[1]))
    beta = _beta(beta)
    loss_type = _choice(loss_type, "loss_type", _CPO_LOSS_TYPES)
    eps = _scalar(label_smoothing, "label_smoothing", 0.0, 1.0)
    gamma = _scalar(simpo_gamma, gamma_name)
    alpha = _scalar(alpha, "alpha")
    if alpha != 0.0:
        # AlphaPO's reward (1 - p^-alpha) / alpha from log p, with the exponent
        # clamped at 80 (derivative kept), so that no p underflows and no
        # p^-alpha overflows.
        c = -jnp.expm1(_capped_exp_arg(-alpha * c)) / alpha
        r = -jnp.expm1(_capped_exp_arg(-alpha * r)) / alpha
    d = c - r
    if loss_type == "simpo":
        d = d - gamma / beta
    if loss_type in ("sigmoid", "simpo"):
        losses = _smoothed_sigmoid_loss(beta * d, eps)
    elif loss_type == "hinge":
        losses = jax.nn.relu(1.0 - beta * d)
    else:
        losses = jnp.square(d - 0.5 / beta)
    return PreferenceOutput(losses, lax.stop_gradient(beta * c), lax.stop_gradient(beta * r))


def cpo(
    chosen_logps: ArrayLike,
    rejected_logps: ArrayLike,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    simpo_gamma: float = 0.5,
    alpha: float = 0.0,
) -> PreferenceOutput:
    r"""Contrastive Preference Optimization (reference-free), with SimPO and AlphaPO: TRL 1.16's ``cpo_loss``.

    With :math:`u = \log\pi` (or AlphaPO's :math:`u = (1 - \pi^{-\alpha})/\alpha`
    for ``alpha != 0``), :math:`d = u_c - u_r` (minus ``simpo_gamma / beta``
    for ``"simpo"``) and :math:`\varepsilon` = ``label_smoothing``:

    * ``sigmoid``, ``simpo``: :math:`-(1-\varepsilon)\log\sigma(\beta d) - \varepsilon\log\sigma(-\beta d)`
    * ``hinge``: :math:`\max(0, 1 - \beta d)`
    * ``ipo``: :math:`(d - 1/(2\beta))^2`

    (``label_smoothing`` is ignored by hinge and ipo, as in TRL.) TRL
    computes the log-probs as sums, averages for ipo and simpo
    (:func:`sequence_log_probs` with ``average=True``). TRL's ``"alphapo"``
    is ``loss_type="simpo"`` with ``alpha != 0`` (and no NLL term). The
    CPO trainer's loss is ``mean(losses) + cpo_alpha * NLL`` over the chosen
    completion tokens. AlphaPO's exponent :math:`-\alpha\log\pi` is clamped
    at 80, with the derivative at the clamp beyond (TRL overflows there).

    Equals TRL 1.16 ``CPOTrainer.cpo_loss`` elementwise, value and gradient.

    Args:
      chosen_logps: float ``[B]``, the policy's chosen sequence log-probs.
      rejected_logps: the rejected ones, broadcastable to ``chosen_logps``.
      beta: the inverse temperature, ``> 0``.
      loss_type: ``"sigmoid"``, ``"hinge"``, ``"ipo"`` or ``"simpo"``.
      label_smoothing: ``epsilon`` in ``[0, 1]``.
      simpo_gamma: SimPO's target margin (``"simpo"`` only).
      alpha: AlphaPO's alpha; 0 is plain CPO/SimPO.

    Returns:
      :class:`PreferenceOutput`: ``losses``, ``chosen_rewards = beta * u_c``
      and ``rejected_rewards = beta * u_r`` (stop-gradient); float32 for
      16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.cpo(jnp.array([-10.0]), jnp.array([-14.0])).losses
      Array([0.5130], dtype=float32)
    """
    return _cpo(
        chosen_logps,
        rejected_logps,
        ("chosen_logps", "rejected_logps"),
        beta,
        loss_type,
        label_smoothing,
        simpo_gamma,
        "simpo_gamma",
        alpha,
    )


def simpo(
    chosen_avg_logps: ArrayLike,
    rejected_avg_logps: ArrayLike,
    *,
    beta: float = 0.1,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
) -> PreferenceOutput:
    r"""Simple Preference Optimization: :func:`cpo` with ``loss_type="simpo"``.

    .. math:: -(1-\varepsilon)\log\sigma(\beta(c - r) - \gamma) - \varepsilon\log\sigma(\gamma - \beta(c - r))

    on the average token log-probs ``c``, ``r`` (:func:`sequence_log_probs`
    with ``average=True``). Equals TRL 1.16 ``CPOTrainer.cpo_loss`` with
    ``loss_type="simpo"``, ``simpo_gamma=gamma``, and Liger-Kernel's
    ``LigerFusedLinearSimPOLoss`` preference term.

    Args:
      chosen_avg_logps: float ``[B]``, the chosen completions' average token
        log-probs.
      rejected_avg_logps: the rejected ones.
      beta: the inverse temperature, ``> 0``.
      gamma: the target reward margin.
      label_smoothing: ``epsilon`` in ``[0, 1]``.

    Returns:
      :class:`PreferenceOutput`, rewards ``beta * c`` and ``beta * r``
      (stop-gradient).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.simpo(jnp.array([-1.0]), jnp.array([-1.5]), beta=2.0).losses
      Array([0.4741], dtype=float32)
    """
    return _cpo(
        chosen_avg_logps,
        rejected_avg_logps,
        ("chosen_avg_logps", "rejected_avg_logps"),
        beta,
        "simpo",
        label_smoothing,
        gamma,
        "gamma",
        0.0,
    )


def orpo(chosen_avg_logps: ArrayLike, rejected_avg_logps: ArrayLike, *, beta: float = 0.1) -> ORPOOutput:
    r"""Odds Ratio Preference Optimization's odds-ratio term, per pair.

    .. math:: \text{lo} = (c - r) - (\log(1 - e^{c}) - \log(1 - e^{r})),
        \qquad \text{loss} = -\beta \log\sigma(\text{lo})

    on the average token log-probs ``c``, ``r`` (:func:`sequence_log_probs`
    with ``average=True``). ``losses`` is **minus** TRL 1.16's
    ``ORPOTrainer.odds_ratio_loss()[0]`` (TRL returns ``beta *
    log_sigmoid(lo)`` and subtracts its mean), so the ORPO trainer's loss is
    ``NLL + mean(losses)``, the NLL over the chosen prompt and completion
    tokens; ``log_odds`` is ``lo``, whose mean TRL logs.

    ``log(1 - e^c)`` is computed stably; at ``c >= -tiny`` (a probability
    of 1, e.g. a log-prob of exactly 0) it is pinned at ``log(tiny)``
    (about -87.3 in float32, -708.4 in float64) with a zero derivative, where
    TRL's is ``-inf`` (its loss 0 or ``nan``, its gradient ``nan``): the
    values and gradients here stay finite (the loss ~0 against any
    ``r < 0``, ``beta * log 2`` at ``c == r == 0``).

    Equals TRL 1.16 ``ORPOTrainer.odds_ratio_loss`` (negated), value and
    gradient.

    Args:
      chosen_avg_logps: float ``[B]``, the chosen completions' average token
        log-probs (``<= 0``).
      rejected_avg_logps: the rejected ones.
      beta: the odds-ratio term's weight, ``> 0``.

    Returns:
      :class:`ORPOOutput`: ``losses``, ``chosen_rewards = beta * c``,
      ``rejected_rewards = beta * r`` (stop-gradient) and ``log_odds``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> out = jaxloss.orpo(jnp.array([-0.5]), jnp.array([-1.5]))
      >>> out.losses, out.log_odds
      (Array([0.0171], dtype=float32), Array([1.6803], dtype=float32))
    """
    _, (c, r) = _pairs((chosen_avg_logps, "chosen_avg_logps"), (rejected_avg_logps, "rejected_avg_logps"))
    beta = _beta(beta)
    log_odds = (c - r) - (log1mexp(c) - log1mexp(r))
    losses = beta * softplus(-log_odds)
    return ORPOOutput(losses, lax.stop_gradient(beta * c), lax.stop_gradient(beta * r), log_odds)


# --------------------------------------------------------------------------
# KTO
# --------------------------------------------------------------------------


def kto(
    policy_logps: ArrayLike,
    ref_logps: ArrayLike,
    desirable: ArrayLike,
    *,
    kl: ArrayLike | None,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    loss_type: str = "kto",
) -> KTOOutput:
    r"""Kahneman-Tversky Optimization on unpaired examples: TRL 1.16's ``KTOTrainer`` loss.

    With :math:`\rho = \log\pi - \log\pi_{\text{ref}}` (sequence sums) and
    the reference point :math:`z_0` = ``kl`` (held constant, see
    :func:`kto_kl`):

    * ``"kto"``: :math:`w_d(1 - \sigma(\beta(\rho - z_0)))` for a desirable
      example, :math:`w_u(1 - \sigma(\beta(z_0 - \rho)))` for an undesirable
      one;
    * ``"apo_zero_unpaired"``: :math:`w_d(1 - \sigma(\beta\rho))` and
      :math:`w_u\sigma(\beta\rho)` (no ``kl``; it may be None).

    ``mean(losses)`` equals TRL 1.16 ``KTOTrainer._compute_loss``, value and
    gradient (TRL orders the desirable examples first; the mean is the same).

    Args:
      policy_logps: float ``[B]``, the policy's completion log-probs.
      ref_logps: the reference model's, broadcastable to ``policy_logps``.
      desirable: boolean ``[B]``: True for a desirable completion.
      kl: the KL reference point :math:`z_0`, a scalar or an array
        broadcastable to ``policy_logps`` (stop-gradient is applied);
        required for ``"kto"``.
      beta: the inverse temperature, ``> 0``.
      desirable_weight: :math:`w_d`, ``>= 0``.
      undesirable_weight: :math:`w_u`, ``>= 0``.
      loss_type: ``"kto"`` or ``"apo_zero_unpaired"``.

    Returns:
      :class:`KTOOutput`: ``losses`` per example and ``rewards = beta * rho``
      (stop-gradient); float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> lp, ref = jnp.array([-10.0, -12.0]), jnp.array([-11.0, -11.0])
      >>> kl = jaxloss.kto_kl(jnp.array([-20.0, -21.0]), jnp.array([-21.0, -21.0]))
      >>> jaxloss.kto(lp, ref, jnp.array([True, False]), kl=kl).losses
      Array([0.4875, 0.4626], dtype=float32)
    """
    shape, (p, p0) = _pairs((policy_logps, "policy_logps"), (ref_logps, "ref_logps"))
    loss_type = _choice(loss_type, "loss_type", _KTO_LOSS_TYPES)
    beta = _beta(beta)
    w_d = _scalar(desirable_weight, "desirable_weight", 0.0)
    w_u = _scalar(undesirable_weight, "undesirable_weight", 0.0)
    des = _bool_array(desirable, "desirable")
    _checks.check_broadcastable_to(des, shape, "desirable", "policy_logps")
    des = jnp.broadcast_to(des, shape)
    rho = p - p0
    if loss_type == "kto":
        if kl is None:
            raise _checks.error(
                ValueError, "`kl` is required for `loss_type`='kto' (the reference point, e.g. from `kto_kl`)."
            )
        z = _checks.as_numeric(kl, "kl")
        _checks.check_broadcastable_to(z, shape, "kl", "policy_logps")
        margin = rho - lax.stop_gradient(jnp.broadcast_to(z.astype(p.dtype), shape))
    else:
        margin = rho
    losses = jnp.where(des, w_d * jax.nn.sigmoid(-beta * margin), w_u * jax.nn.sigmoid(beta * margin))
    return KTOOutput(losses, lax.stop_gradient(beta * rho))


def kto_kl(kl_policy_logps: ArrayLike, kl_ref_logps: ArrayLike, *, where: ArrayLike | None = None) -> jax.Array:
    r"""KTO's reference point: :math:`z_0 = \mathrm{sg}(\max(0, \mathrm{mean}(\log\pi - \log\pi_{\text{ref}})))`.

    The mean, over the (unmasked) examples, of the policy-minus-reference
    log-probs of mismatched completions (each prompt with another example's
    completion), clamped at 0 and held constant: TRL 1.16's ``KTOTrainer``
    ``kl`` on one process. A masked entry contributes nothing, even if it
    holds ``nan``; an empty mask gives 0.

    Args:
      kl_policy_logps: float ``[B]``, the policy's sequence log-probs of the
        mismatched completions.
      kl_ref_logps: the reference model's, broadcastable to
        ``kl_policy_logps``.
      where: optional boolean mask broadcastable to ``kl_policy_logps``.

    Returns:
      A scalar (stop-gradient), for :func:`kto`'s ``kl``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.kto_kl(jnp.array([-20.0, -21.0]), jnp.array([-21.0, -21.0]))
      Array(0.5, dtype=float32)
    """
    shape, (p, p0) = _pairs((kl_policy_logps, "kl_policy_logps"), (kl_ref_logps, "kl_ref_logps"))
    mask = _checks.as_mask(where, shape, "kl_policy_logps")
    diff = p - p0
    if mask is None:
        count = jnp.asarray(max(math.prod(shape), 1), p.dtype)
    else:
        diff = jnp.where(mask, diff, 0.0)
        count = jnp.maximum(jnp.sum(mask, dtype=p.dtype), 1.0)
    return lax.stop_gradient(jnp.maximum(jnp.sum(diff) / count, 0.0))
