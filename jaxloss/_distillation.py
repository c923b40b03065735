"""Distillation losses between a student's and a teacher's logits.

Per token: the generalized Jensen-Shannon divergence of TRL 1.16's GKD
trainer (``GKDTrainer.generalized_jsd_loss``), and the forward and reverse
Kullback-Leibler divergences it uses at ``beta = 0`` and ``beta = 1``.

Everything is computed in log space from ``log_softmax(logits /
temperature)``: a class with a ``-inf`` logit (a masked vocabulary entry) has
probability exactly 0, and every ``0 * log 0`` term is dropped, with a zero
gradient, before it can become ``nan``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import log_softmax, row_max

__all__ = ["forward_kl", "generalized_jsd", "reverse_kl"]


def _log_probs(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    temperature: float,
    axis: int,
    where: ArrayLike | None,
) -> tuple[jax.Array, jax.Array]:
    """Checked inputs -> ``(log p_s, log p_t)`` at ``temperature``, with the class axis last."""
    _checks.check_range(temperature, "temperature", 0.0, math.inf, low_open=True, high_open=True)
    student, teacher = _checks.floats((student_logits, "student_logits"), (teacher_logits, "teacher_logits"))
    ax = _checks.check_axis(student, axis, "student_logits")
    _checks.check_broadcastable_to(teacher, student.shape, "teacher_logits", "student_logits")
    teacher = jnp.broadcast_to(teacher, student.shape)
    mask = _checks.as_mask(where, student.shape, "student_logits")
    student, teacher = jnp.moveaxis(student, ax, -1), jnp.moveaxis(teacher, ax, -1)
    if mask is not None:
        mask = jnp.moveaxis(mask, ax, -1)
    t = jnp.asarray(temperature, student.dtype)
    return _scaled_log_softmax(student, t, mask), _scaled_log_softmax(teacher, t, mask)


def _scaled_log_softmax(z: jax.Array, t: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``log_softmax(z / t)`` over the last axis, shifted by the row max *before* the division.

    Under ``jit`` XLA turns ``z / t`` into a product and may recompute it in
    each fusion that reads it, contracted into a fused multiply-add with the
    subtraction of the row max in some and rounded in others: at ``|z / t|``
    of 1e6 the softmax in the gradient was off by 6 %, at 1e30 it was 0.
    ``(z - max z) / t`` is 0 at the max in every fusion, and its rounding is
    relative to the shifted value. (log-softmax is shift-invariant.)
    """
    if mask is not None:
        # The first where of the double-where: a masked entry is -inf before
        # anything reads it, so nan or inf there reaches nothing.
        z = jnp.where(mask, z, -jnp.inf)
    return log_softmax((z - row_max(z, -1)) / t, -1)


def _kl_terms(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    """Per class ``p * (log p - log q)`` with ``p = exp(log p)``, guarded.

    0 (value and gradient) where ``p == 0``, even if ``log q == -inf``;
    ``+inf`` where ``q == 0 < p`` (the divergence is infinite), as a constant
    with a zero gradient, so the gradient of the sum is that of its finite
    terms instead of ``inf - inf``.
    """
    absent = log_p == -jnp.inf
    ruled_out = (log_q == -jnp.inf) & ~absent
    drop = absent | ruled_out
    safe_p = jnp.where(drop, 0.0, log_p)
    safe_q = jnp.where(drop, 0.0, log_q)
    terms = jnp.exp(safe_p) * (safe_p - safe_q)
    return jnp.where(absent, 0.0, jnp.where(ruled_out, jnp.inf, terms))


def _kl(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    return jnp.sum(_kl_terms(log_p, log_q), axis=-1)


def generalized_jsd(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized Jensen-Shannon divergence between student and teacher, per token.

    With :math:`p_s = \mathrm{softmax}(z_s / T)`,
    :math:`p_t = \mathrm{softmax}(z_t / T)` and
    :math:`M = (1 - \beta) p_s + \beta p_t`,

    .. math:: J_\beta = \beta\, \mathrm{KL}(p_t \| M)
              + (1 - \beta)\, \mathrm{KL}(p_s \| M)

    summed over ``axis``, with the two endpoints of TRL 1.16 kept as they
    are: ``beta = 0`` gives :math:`\mathrm{KL}(p_t \| p_s)`
    (:func:`forward_kl`) and ``beta = 1`` gives :math:`\mathrm{KL}(p_s \|
    p_t)` (:func:`reverse_kl`), although :math:`J_\beta \to 0` as
    :math:`\beta \to 0` or :math:`1`. There is no :math:`T^2` factor. This is
    TRL 1.16's ``GKDTrainer.generalized_jsd_loss(student_logits,
    teacher_logits, labels, beta, temperature, reduction="none")`` summed
    over the vocabulary, so that with ``mask = labels != -100``:

    * ``jaxloss.reduce(out, where=mask, reduction="mean")`` is TRL's default
      ``reduction="batchmean"``, and ``jaxloss.reduce(out, reduction="sum")
      / out.shape[0]`` its ``"batchmean"`` without labels;
    * ``jaxloss.reduce(out, where=mask, reduction="sum")`` is its ``"sum"``
      (and, divided by ``num_items_in_batch``, its ``num_items_in_batch``
      path);
    * that ``"mean"`` divided by the vocabulary size is its ``"mean"``.

    The mixture is formed in log space, ``log M = logaddexp(log p_s +
    log(1 - beta), log p_t + log(beta))``, and the ratios ``log(p / M)`` from
    ``log p_t - log p_s`` directly, so they keep their relative precision
    for ``beta`` near 0 or 1. Classes with a ``-inf`` logit in the
    student, the teacher or both (masked vocabulary entries) are fine: a class
    of probability 0 contributes 0 to the value and to the gradients. For
    ``0 < beta < 1`` the value is always finite (at most ``log(1 / beta)``
    and ``log(1 / (1 - beta))`` per term); at the endpoints a class that one
    distribution gives mass and the other rules out (``-inf``) makes the
    divergence ``+inf``, and the gradient is then that of the remaining,
    finite terms (never ``nan``).

    Gradients flow to both the student and the teacher logits; distillation
    usually stops the teacher's: pass ``jax.lax.stop_gradient(teacher)``.

    Args:
      student_logits: float array ``[..., V, ...]``, the student's logits.
      teacher_logits: float array broadcastable to ``student_logits``, the
        teacher's logits.
      beta: the interpolation weight, in ``[0, 1]`` (static).
      temperature: both logits are divided by it; ``> 0`` (static).
      axis: the vocabulary (class) axis.
      where: optional boolean mask broadcastable to ``student_logits``. A
        masked entry is left out of both softmaxes, exactly like a ``-inf``
        logit (a masked vocabulary entry), even if it holds ``nan``. A token
        whose classes are all masked gives 0 and a zero gradient: mask whole
        tokens with ``where=token_mask[..., None]``, which also keeps ``nan``
        logits at padding out of the gradients (masking only in
        :func:`jaxloss.reduce` zeroes their value but not a ``nan`` in their
        gradient).

    Returns:
      The divergence per token: ``student_logits``' shape without ``axis``;
      float32 for 16-bit inputs (float64 stays float64).

    Raises:
      ValueError: ``beta`` outside ``[0, 1]``, ``temperature <= 0`` or not
        finite, either given as an array, or shapes that do not fit.
      TypeError: a traced ``beta`` or ``temperature``, non-float logits or a
        non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> student = jnp.array([[1.0, 0.0, -jnp.inf], [0.0, 0.0, 0.0]])
      >>> teacher = jnp.array([[0.0, 1.0, -jnp.inf], [2.0, 0.0, -1.0]])
      >>> jaxloss.generalized_jsd(student, teacher).round(4)
      Array([0.1109, 0.1495], dtype=float32)
      >>> labels = jnp.array([5, -100])  # TRL's "batchmean" over the kept tokens
      >>> jaxloss.reduce(jaxloss.generalized_jsd(student, teacher), where=labels != -100).round(4)
      Array(0.1109, dtype=float32)
    """
    _checks.check_range(beta, "beta", 0.0, 1.0)
    log_s, log_t = _log_probs(student_logits, teacher_logits, temperature, axis, where)
    b = float(beta)
    if b == 0.0:
        return _kl(log_t, log_s)
    if b == 1.0:
        return _kl(log_s, log_t)
    # log M = logaddexp(log p_s + log(1 - b), log p_t + log b), but the two
    # ratios the terms need are formed from d = log p_t - log p_s directly:
    #   log p_s - log M = -logaddexp(log(1 - b), log b + d)
    #   log p_t - log M = -logaddexp(log(1 - b) - d, log b)
    # (log p_s - log M as a difference of two log-probs would keep only the
    # absolute precision of log p_s: at b = 1e-6 it is ~1e-6 and lost). Where
    # one side is -inf the ratio is the constant -log(1 - b) or -log b, and d
    # is not formed; a class of probability 0 drops its own term.
    finite_s, finite_t = log_s > -jnp.inf, log_t > -jnp.inf
    both = finite_s & finite_t
    d = jnp.where(both, log_t, 0.0) - jnp.where(both, log_s, 0.0)
    log_1mb = jnp.asarray(math.log1p(-b), log_s.dtype)
    log_b = jnp.asarray(math.log(b), log_s.dtype)
    s_ratio = jnp.where(both, -jnp.logaddexp(log_1mb, log_b + d), -log_1mb)
    t_ratio = jnp.where(both, -jnp.logaddexp(log_1mb - d, log_b), -log_b)
    p_s = jnp.exp(jnp.where(finite_s, log_s, 0.0))
    p_t = jnp.exp(jnp.where(finite_t, log_t, 0.0))
    terms = b * jnp.where(finite_t, p_t * t_ratio, 0.0) + (1.0 - b) * jnp.where(finite_s, p_s * s_ratio, 0.0)
    return jnp.sum(terms, axis=-1)


def forward_kl(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Forward KL divergence ``KL(p_t || p_s)`` from student and teacher logits, per token.

    .. math:: \sum_v p_{t,v} (\log p_{t,v} - \log p_{s,v}), \quad
              p = \mathrm{softmax}(z / T)

    summed over ``axis`` (mean-seeking: the student covers the teacher's
    support). This is :func:`generalized_jsd` at ``beta=0``, TRL 1.16's
    ``generalized_jsd_loss(..., beta=0)``. A class the teacher gives no mass
    (``-inf`` teacher logit) contributes 0; one that the student rules out
    (``-inf``) while the teacher does not makes the value ``+inf``, with the
    gradient of the finite terms. Gradients flow to both logits (stop the
    teacher's with ``jax.lax.stop_gradient``).

    Args:
      student_logits: float array ``[..., V, ...]``.
      teacher_logits: float array broadcastable to ``student_logits``.
      temperature: both logits are divided by it; ``> 0`` (static).
      axis: the vocabulary (class) axis.
      where: optional boolean mask broadcastable to ``student_logits``;
        masked entries are left out of both softmaxes (like ``-inf``
        logits), even if they hold ``nan``; a fully masked token gives 0.

    Returns:
      The divergence per token: ``student_logits``' shape without ``axis``;
      float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> student = jnp.array([0.0, 0.0, 0.0])
      >>> teacher = jnp.array([0.0, 0.0, -jnp.inf])
      >>> jaxloss.forward_kl(student, teacher).round(4)
      Array(0.4055, dtype=float32)
    """
    return _kl(*reversed(_log_probs(student_logits, teacher_logits, temperature, axis, where)))


def reverse_kl(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Reverse KL divergence ``KL(p_s || p_t)`` from student and teacher logits, per token.

    .. math:: \sum_v p_{s,v} (\log p_{s,v} - \log p_{t,v}), \quad
              p = \mathrm{softmax}(z / T)

    summed over ``axis`` (mode-seeking). This is :func:`generalized_jsd` at
    ``beta=1``, TRL 1.16's ``generalized_jsd_loss(..., beta=1)``. A class the
    student gives no mass contributes 0; one that the teacher rules out
    (``-inf``) while the student does not makes the value ``+inf``, with the
    gradient of the finite terms. Gradients flow to both logits (stop the
    teacher's with ``jax.lax.stop_gradient``).

    Args:
      student_logits: float array ``[..., V, ...]``.
      teacher_logits: float array broadcastable to ``student_logits``.
      temperature: both logits are divided by it; ``> 0`` (static).
      axis: the vocabulary (class) axis.
      where: optional boolean mask broadcastable to ``student_logits``;
        masked entries are left out of both softmaxes (like ``-inf``
        logits), even if they hold ``nan``; a fully masked token gives 0.

    Returns:
      The divergence per token: ``student_logits``' shape without ``axis``;
      float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> student = jnp.array([0.0, 0.0, -jnp.inf])
      >>> teacher = jnp.array([0.0, 0.0, 0.0])
      >>> jaxloss.reverse_kl(student, teacher).round(4)
      Array(0.4055, dtype=float32)
    """
    return _kl(*_log_probs(student_logits, teacher_logits, temperature, axis, where))
