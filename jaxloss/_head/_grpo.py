"""The GRPO loss over a linear head, without its logits: fused log-probs, then :func:`jaxloss.grpo`.

Every quantity of the GRPO family is a function of the per-token
log-probabilities of the sampled tokens (and of the old policy's and the
reference model's, which come in as arrays). The policy's log-probs are
formed by :func:`jaxloss.fused_linear_log_probs` (a chunk of tokens' logits
live at a time, the gradient recomputed chunk by chunk), so the
``[tokens, V]`` logits of a materialised GRPO step are never held; the
loss on top is :func:`jaxloss.grpo` itself, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._head._log_probs import fused_linear_log_probs
from jaxloss._policy_gradient import grpo

# The label a masked token is given, so that the head treats it as ignored
# (no value, no gradient, even where its hidden state holds nan); never a class.
_MASKED = -1


def _one_sequence(x, name: str, tokens: int, per_sequence_ok: bool):
    """A ``[T]`` (or, where allowed, scalar) array of a single sequence as ``[1, T]`` (``[1]``)."""
    if x is None:
        return None
    x = jnp.asarray(x)
    if per_sequence_ok and x.ndim == 0:
        return x[None]
    if x.ndim != 1 or x.shape[0] != tokens:
        raise _checks.error(
            ValueError,
            f"`{name}` of a single sequence (`hidden` [T, D] with T={tokens}) must have shape [{tokens}]"
            + (" or ()" if per_sequence_ok else "")
            + f", got {tuple(x.shape)}.",
        )
    return x[None]


def fused_linear_grpo(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    old_log_probs: ArrayLike | None,
    advantages: ArrayLike,
    *,
    where: ArrayLike | None = None,
    ref_log_probs: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    temperature: float = 1.0,
    chunk_size: int | None = None,
    weight_layout: str = "DV",
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
    beta: float = 0.0,
    use_bias_correction_kl: bool = True,
    max_completion_length: int = 512,
    num_items: Any = None,
) -> jax.Array:
    r"""The GRPO loss of a linear head's sampled tokens, without the ``[tokens, V]`` logits.

    Equals ``jaxloss.grpo(log_probs, old_log_probs, advantages, where=where,
    ...)`` with ``log_probs = log_softmax((hidden @ weight + bias) /
    temperature)[labels]`` (the log-probability of each sampled token, TRL's
    ``logits / temperature``), but the log-probs come from
    :func:`jaxloss.fused_linear_log_probs`: a chunk of tokens' logits live at
    a time in the forward pass and again in the backward pass, so the
    step's temporary memory does not grow with ``tokens x V``. The
    gradients with respect to ``hidden``, ``weight`` and ``bias`` are those
    of the materialised computation; ``old_log_probs`` and
    ``ref_log_probs`` (the sampling policy's and the reference model's
    per-token log-probs, computed beforehand, e.g. with
    ``fused_linear_log_probs`` under ``jax.lax.stop_gradient``) get none.

    Tokens outside ``where`` (prompt, padding) contribute exactly 0 to the
    value and to every gradient, even where their hidden states or labels
    are garbage (a ``-100`` label, ``nan``): they are handed to the head as
    ignored tokens. Every option of :func:`jaxloss.grpo` is accepted with
    its meaning and default (``loss_type="dapo"``, ``epsilon=0.2``,
    ``beta=0.0``, ...); see there for each loss type's formula and
    aggregation (TRL 1.16's ``GRPOTrainer`` in evaluation mode). Works
    under ``jit``, ``vmap``, ``jax.checkpoint``, ``lax.scan`` and inside a
    user's ``shard_map``, as the head does.

    Args:
      hidden: float ``[B, T, D]`` hidden states of the completion tokens
        (already shifted: the state that predicts ``labels[b, t]``), or
        ``[T, D]`` for a single sequence.
      weight: ``[D, V]`` kernel, or a ``[V, D]`` table with ``weight_layout="VD"``.
      labels: integer ``[B, T]`` (``[T]``): the sampled tokens.
      old_log_probs: ``[B, T]`` log-probs of the policy that sampled, or
        ``None`` (on-policy: the current log-probs without gradient).
      advantages: ``[B]`` per sequence or ``[B, T]`` per token (for one
        sequence: ``()`` or ``[T]``).
      where: optional boolean ``[B, T]`` completion mask.
      ref_log_probs: ``[B, T]`` reference log-probs, needed when ``beta != 0``.
      bias: optional ``[V]``.
      temperature: ``> 0``; the logits are divided by it.
      chunk_size: tokens whose logits are live at once (``None``: automatic).
      weight_layout: ``"DV"`` or ``"VD"``.
      loss_type: as in :func:`jaxloss.grpo`, and so are ``epsilon``,
        ``epsilon_high``, ``delta``, ``importance_sampling_level``,
        ``sapo_temperature_pos``, ``sapo_temperature_neg``, ``beta``,
        ``use_bias_correction_kl``, ``max_completion_length`` and ``num_items``.

    Returns:
      The scalar loss (float32; float64 for float64 inputs).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> hidden = jax.random.normal(jax.random.key(0), (2, 3, 4))
      >>> weight = jax.random.normal(jax.random.key(1), (4, 16))
      >>> labels = jnp.array([[1, 2, 3], [4, 5, 0]])
      >>> mask = jnp.array([[True, True, True], [True, True, False]])
      >>> adv = jnp.array([1.0, -1.0])
      >>> loss = jaxloss.fused_linear_grpo(hidden, weight, labels, None, adv, where=mask)
      >>> lp = jax.nn.log_softmax(hidden @ weight)
      >>> lp = jnp.take_along_axis(lp, labels[..., None], -1)[..., 0]
      >>> bool(jnp.allclose(loss, jaxloss.grpo(lp, None, adv, where=mask)))
      True
      >>> dw = jax.grad(jaxloss.fused_linear_grpo, argnums=1)(hidden, weight, labels, None, adv, where=mask)
      >>> dw.shape
      (4, 16)
    """
    hidden = _checks.as_float(hidden, "hidden")
    labels = _checks.as_integer(labels, "labels")
    if hidden.ndim not in (2, 3):
        raise _checks.error(ValueError, f"`hidden` must be [B, T, D] (or [T, D]), got shape {tuple(hidden.shape)}.")
    if labels.shape != hidden.shape[:-1]:
        raise _checks.error(
            ValueError,
            f"`labels` must have the shape of `hidden` without its last axis, {tuple(hidden.shape[:-1])}; "
            f"got {tuple(labels.shape)}.",
        )
    mask = _checks.as_mask(where, labels.shape, "labels")
    if mask is not None:  # (labels are widened to a signed dtype by as_integer)
        labels = jnp.where(mask, labels, jnp.asarray(_MASKED, labels.dtype))
    log_probs = fused_linear_log_probs(
        hidden,
        weight,
        labels,
        bias=bias,
        temperature=temperature,
        ignore_index=None if mask is None else _MASKED,
        chunk_size=chunk_size,
        weight_layout=weight_layout,
    )
    if hidden.ndim == 2:
        tokens = labels.shape[0]
        log_probs = log_probs[None]
        old_log_probs = _one_sequence(old_log_probs, "old_log_probs", tokens, False)
        ref_log_probs = _one_sequence(ref_log_probs, "ref_log_probs", tokens, False)
        advantages = _one_sequence(advantages, "advantages", tokens, True)
        mask = None if mask is None else mask[None]
    return grpo(
        log_probs,
        old_log_probs,
        advantages,
        where=mask,
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
        max_completion_length=max_completion_length,
        num_items=num_items,
    )
