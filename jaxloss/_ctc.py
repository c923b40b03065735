"""Connectionist temporal classification (CTC): the negative log-likelihood of a labelling."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _vma
from jaxloss._primitives import log_softmax, log_sum_exp


def _paddings(paddings: Any, shape: tuple[int, ...], name: str, target: str) -> jax.Array:
    """A ``[B, L]`` boolean padding mask (True = padding) from floats or booleans."""
    if paddings is None:
        return jnp.zeros(shape, bool)
    paddings = _checks.as_numeric(paddings, name)
    _checks.check_broadcastable_to(paddings, shape, name, target)
    # A boolean mask is used as it is (bool != 0 is a mixed-type comparison).
    mask = paddings if paddings.dtype == jnp.bool_ else paddings != 0
    return jnp.broadcast_to(mask, shape)


def _check_blank_id(blank_id: Any, num_classes: int) -> int:
    checked = _checks.check_int(blank_id, "blank_id")
    assert checked is not None  # allow_none is off
    blank_id = checked
    if not 0 <= blank_id < num_classes:
        raise _checks.error(
            ValueError, f"`blank_id` must lie in [0, {num_classes}) (the class axis of `logits`), got {blank_id}."
        )
    return int(blank_id)


def _shift_right(x: jax.Array, k: int) -> jax.Array:
    """``x[:, s - k]`` along the last axis, ``-inf`` where ``s < k`` (no such state)."""
    return jnp.pad(x, ((0, 0), (k, 0)), constant_values=-jnp.inf)[:, : x.shape[1]]


def ctc(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    logit_paddings: ArrayLike | None = None,
    label_paddings: ArrayLike | None = None,
    blank_id: int = 0,
    zero_infinity: bool = False,
) -> jax.Array:
    r"""Connectionist temporal classification loss (Graves et al. 2006).

    The negative log-likelihood ``-log p(y | x)`` of the labelling ``y`` under
    per-frame distributions ``softmax(logits)``, summed over every alignment:
    every frame-wise path that reduces to ``y`` once repeated symbols are
    merged and blanks removed. It is computed by the forward (alpha)
    recursion over the blank-extended labelling
    ``(blank, y_1, blank, y_2, ..., y_L, blank)`` in log space, with a
    ``lax.scan`` over time (static shapes; ``T`` in the hundreds compiles
    and runs quickly). Gradients come from automatic differentiation through
    the recursion; its log-sum-exps give zero (not ``nan``) derivatives where
    every path is impossible.

    Values are those of ``torch.nn.functional.ctc_loss(..., reduction="none")``
    and, on feasible inputs, of ``optax.ctc_loss``, which writes ``log 0`` as
    a finite ``-1e5``. A labelling that no alignment can produce (more labels,
    counting one extra frame per repeated pair, than unpadded frames; or a
    label whose class has a ``-inf`` logit everywhere it is needed) gives
    ``inf`` with a zero gradient, as in torch; ``zero_infinity=True`` gives 0
    instead (torch's ``zero_infinity``).

    Paddings follow ``optax.ctc_loss``: float or boolean arrays, nonzero (or
    True) marking padding. A padded frame is skipped entirely (it may hold
    ``nan`` or ``inf``; it contributes 0 to the value and the gradient), so
    ``logit_paddings = arange(T) >= input_length`` is torch's
    ``input_lengths``. A row's label length is the number of label entries
    that are not padding, and its first that many labels are used: labels
    are right-padded, as optax and ``keras.losses.ctc`` assume (Keras's
    ``keras.losses.ctc(y_true, y_pred)`` is
    ``ctc(y_pred, y_true, label_paddings=(y_true == 0))``). A used label
    outside ``[0, K)`` gives ``nan`` for its row (an error under
    ``checkify`` with ``user_checks``); a used label equal to ``blank_id``
    is emitted by the blank class like an ordinary symbol, as in optax.

    Args:
      logits: float array ``[B, T, K]`` of unnormalised per-frame scores
        (``log_softmax`` is applied inside); ``K`` includes the blank.
      labels: integer array ``[B, N]`` of label sequences.
      logit_paddings: optional ``[B, T]`` float or boolean array (broadcast
        allowed), nonzero at padded frames. ``None``: no padding.
      label_paddings: optional ``[B, N]`` float or boolean array (broadcast
        allowed), nonzero at padded labels. ``None``: no padding.
      blank_id: the class index of the blank, in ``[0, K)``.
      zero_infinity: give 0 (and a zero gradient) instead of ``inf`` for
        labellings that no alignment can produce.

    Returns:
      The loss per sequence, shape ``[B]``; float32 for 16-bit ``logits``.

    Raises:
      TypeError: ``logits`` not floating point, ``labels`` not integer, or
        ``blank_id`` not an int.
      ValueError: ``logits`` not 3-D, ``labels`` not 2-D, batch sizes that
        differ, paddings of the wrong shape, or ``blank_id`` out of range.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.zeros((2, 4, 3))  # uniform over {blank, 1, 2}
      >>> # 15 of the 3**4 paths reduce to (1, 2); 5 to (1, 1), which needs a
      >>> # blank between its repeated labels.
      >>> jaxloss.ctc(logits, jnp.array([[1, 2], [1, 1]]))
      Array([1.686399 , 2.7850113], dtype=float32)
      >>> # Two frames each: (1,) has 3 alignments; (1, 1) has none.
      >>> jaxloss.ctc(logits, jnp.array([[1, 9], [1, 1]]),
      ...             logit_paddings=jnp.array([[0, 0, 1, 1], [0, 0, 1, 1]]),
      ...             label_paddings=jnp.array([[0, 1], [0, 0]]))
      Array([1.0986123,       inf], dtype=float32)

    References:
      Graves, Fernandez, Gomez and Schmidhuber, `Connectionist temporal
      classification: labelling unsegmented sequence data with recurrent
      neural networks <https://dl.acm.org/doi/10.1145/1143844.1143891>`_,
      ICML 2006.
    """
    (logits,) = _checks.floats((logits, "logits"))
    labels = _checks.as_integer(labels, "labels")
    if logits.ndim != 3:
        raise _checks.error(
            ValueError, f"`logits` must have shape [batch, time, classes] (3-D), got shape {tuple(logits.shape)}."
        )
    if labels.ndim != 2:
        raise _checks.error(
            ValueError, f"`labels` must have shape [batch, max_label_length] (2-D), got shape {tuple(labels.shape)}."
        )
    batch, max_time, num_classes = logits.shape
    if labels.shape[0] != batch:
        raise _checks.error(
            ValueError,
            f"`labels` must have the batch size of `logits`, {batch}, got shape {tuple(labels.shape)} "
            f"(logits shape {tuple(logits.shape)}).",
        )
    max_labels = labels.shape[1]
    blank_id = _check_blank_id(blank_id, num_classes)
    _checks.check_bool(zero_infinity, "zero_infinity")
    frame_pad = _paddings(logit_paddings, (batch, max_time), "logit_paddings", "logits[..., 0]")
    label_pad = _paddings(label_paddings, (batch, max_labels), "label_paddings", "labels")
    return _ctc(logits, labels, frame_pad, label_pad, blank_id=blank_id, zero_infinity=bool(zero_infinity))


@functools.partial(jax.jit, static_argnames=("blank_id", "zero_infinity"))
def _ctc(
    logits: jax.Array,
    labels: jax.Array,
    frame_pad: jax.Array,
    label_pad: jax.Array,
    *,
    blank_id: int,
    zero_infinity: bool,
) -> jax.Array:
    """The recursion on checked arguments, compiled once per shape.

    Under an outer ``jit`` this is inlined; called eagerly (or under an eager
    ``grad``) it saves retracing and recompiling the two scans on every call.
    """
    batch, max_time, num_classes = logits.shape
    max_labels = labels.shape[1]

    # Labels are right-padded: a row uses its first `length` entries.
    length = max_labels - jnp.sum(label_pad, axis=1, dtype=jnp.int32)  # [B]
    used = jnp.arange(max_labels, dtype=jnp.int32)[None, :] < length[:, None]  # [B, N]
    in_range = (labels >= 0) & (labels < num_classes)
    _checks.check_labels_in_range(labels, num_classes, used)
    row_ok = jnp.all(in_range | ~used, axis=1)
    safe_labels = jnp.where(used & in_range, labels, blank_id)

    # Extended labelling l' = (blank, y1, blank, y2, ..., yN, blank), S = 2N + 1.
    num_states = 2 * max_labels + 1
    ext = jnp.full((batch, num_states), blank_id, safe_labels.dtype).at[:, 1::2].set(safe_labels)
    # The skip s - 2 -> s exists into a label state whose label differs from
    # the previous label (a repeat needs a blank between); never into a blank.
    prev_label = jnp.pad(ext, ((0, 0), (2, 0)), constant_values=-1)[:, :num_states]
    skip = (jnp.arange(num_states) % 2 == 1)[None, :] & (ext != prev_label)  # [B, S]

    # First where of the double-where: padded frames may hold nan or inf.
    logits = jnp.where(frame_pad[..., None], jnp.zeros((), logits.dtype), logits)
    log_p = log_softmax(logits, axis=-1)  # [B, T, K]
    emit = jnp.take_along_axis(log_p, ext[:, None, :], axis=-1)  # [B, T, S]

    def step(alpha, xs):
        emit_t, pad_t = xs  # [B, S], [B]
        stay = alpha
        advance = _shift_right(alpha, 1)
        jump = jnp.where(skip, _shift_right(alpha, 2), -jnp.inf)
        # An all -inf triple (a state no path reaches yet) gives -inf with zero
        # derivatives of every order.
        new = log_sum_exp(jnp.stack([stay, advance, jump], axis=-1)) + emit_t
        return jnp.where(pad_t[:, None], alpha, new), None

    # Before the first frame all mass sits in state 0; the first step moves it
    # to states 0 (stay) and 1 (advance), the two states a path may start in.
    alpha0 = jnp.full((batch, num_states), -jnp.inf, log_p.dtype).at[:, 0].set(0.0)
    # Inside a user's shard_map (check_vma=True) the carry must start with the
    # type the step gives it: varying over the axes the batch varies over.
    alpha0 = _vma.vary_like(alpha0, emit, skip, frame_pad)
    alpha, _ = lax.scan(step, alpha0, (jnp.moveaxis(emit, 1, 0), frame_pad.T))

    # Paths end in the last label or the blank after it: states 2L - 1 and 2L.
    s = jnp.arange(num_states, dtype=jnp.int32)[None, :]
    final = (s == 2 * length[:, None]) | (s == 2 * length[:, None] - 1)
    # 0 - lse, not -lse: an empty labelling over no frames gives 0, not -0.
    log_likelihood = log_sum_exp(jnp.where(final, alpha, -jnp.inf))
    loss = jnp.zeros((), alpha.dtype) - log_likelihood
    if zero_infinity:
        # Second where: the inf rows already carry zero derivatives.
        loss = jnp.where(jnp.isinf(loss), jnp.zeros((), loss.dtype), loss)
    return jnp.where(row_ok, loss, jnp.nan)
