"""Drop-in twins of PyTorch 2.13's losses (``torch.nn.functional`` and ``torch.nn``).

The functions take torch's names, argument order and defaults, and its
layouts: class dimension 1 for ``cross_entropy`` (``input [N, C, d1, ...]``,
or ``[C]`` unbatched), ``ignore_index=-100``, ``reduction`` in
``{"none", "mean", "sum"}`` (and ``"batchmean"`` for ``kl_div``), the legacy
``size_average``/``reduce`` arguments mapped as torch maps them (with torch's
warning), ``ctc_loss``'s ``[T, N, C]`` log-probabilities. Each class is built
``Cls(**options)`` and called like the torch module, e.g.
``CrossEntropyLoss(label_smoothing=0.1)(input, target)``. A port changes only
the import::

    # import torch.nn.functional as F
    from jaxloss.compat import torch as F

Functions: :func:`cross_entropy`, :func:`binary_cross_entropy`,
:func:`binary_cross_entropy_with_logits`, :func:`kl_div`,
:func:`poisson_nll_loss`, :func:`mse_loss`, :func:`l1_loss`,
:func:`huber_loss`, :func:`ctc_loss`, :func:`linear_cross_entropy`,
:func:`nll_loss`, :func:`smooth_l1_loss`, :func:`soft_margin_loss`,
:func:`margin_ranking_loss`, :func:`hinge_embedding_loss`,
:func:`cosine_embedding_loss`, :func:`gaussian_nll_loss`,
:func:`multilabel_soft_margin_loss`, :func:`multilabel_margin_loss`,
:func:`multi_margin_loss`, :func:`triplet_margin_loss`,
:func:`triplet_margin_with_distance_loss`. Classes: :class:`CrossEntropyLoss`,
:class:`BCELoss`, :class:`BCEWithLogitsLoss`, :class:`KLDivLoss`,
:class:`PoissonNLLLoss`, :class:`MSELoss`, :class:`L1Loss`,
:class:`HuberLoss`, :class:`CTCLoss`, :class:`LinearCrossEntropyLoss`,
:class:`NLLLoss`, :class:`SmoothL1Loss`, :class:`SoftMarginLoss`,
:class:`MarginRankingLoss`, :class:`HingeEmbeddingLoss`,
:class:`CosineEmbeddingLoss`, :class:`GaussianNLLLoss`,
:class:`MultiLabelSoftMarginLoss`, :class:`MultiLabelMarginLoss`,
:class:`MultiMarginLoss`, :class:`TripletMarginLoss`,
:class:`TripletMarginWithDistanceLoss`.

The twins hold no math of their own: they move axes and call the core
functions of :mod:`jaxloss` (``sparse_softmax_cross_entropy``,
``softmax_cross_entropy``, ``binary_cross_entropy``,
``sigmoid_binary_cross_entropy``, ``kl_divergence``, ``poisson_nll``,
``squared_error``, ``absolute_error``, ``huber``, ``ctc``,
``fused_linear_cross_entropy``, ``nll``, ``smooth_l1``, ``soft_margin``,
``margin_ranking``, ``hinge_embedding``, ``cosine_embedding``,
``gaussian_nll``, ``multilabel_soft_margin``, ``multilabel_margin``,
``multi_margin``, ``triplet_margin``) and
:func:`jaxloss.reduce`. Inputs are JAX or
NumPy arrays; results are JAX arrays. Where they differ from torch it is on
purpose:

* Errors: where torch raises ``RuntimeError`` for a shape or an option, the
  twins raise ``ValueError`` (or ``TypeError`` for a dtype) at trace time,
  naming the argument. ``mse_loss``, ``l1_loss`` and ``huber_loss`` raise
  ``ValueError`` for ``input`` and ``target`` of different shapes, where
  torch warns and broadcasts; so does ``smooth_l1_loss``. Value checks that torch makes on the data
  (a probability outside ``[0, 1]``, a class index out of range) are left to
  :func:`jaxloss.checked`; an out-of-range class index gives ``nan``.
* ``"mean"`` over nothing (every target ``ignore_index``, a zero total
  weight) gives 0, where torch gives ``nan``.
* Class indices may have any integer dtype (torch wants ``int64``).
* ``binary_cross_entropy`` clips probabilities to ``[1e-7, 1 - 1e-7]`` (with
  a gradient at the clipped point); torch clamps each log at -100 instead.
  Values agree for probabilities inside that interval.
* ``ctc_loss`` applies ``log_softmax`` to ``log_probs`` again (a no-op for
  log-probabilities), so its gradient is that of the normalised input, which
  is what torch's own gradient assumes. Concatenated 1-D ``targets`` need
  concrete (not traced) ``target_lengths``.
* ``linear_cross_entropy`` (and :class:`LinearCrossEntropyLoss`) always runs
  the chunked head (``options`` is accepted and ignored) for class-index
  targets; probability targets compute the logits. ``linear_weight`` must be
  ``[C, in_features]`` (no K-dimensional heads). The class holds no
  parameters: it takes torch's options but not ``in_features``,
  ``num_classes``, ``out_features``, ``bias``, ``device`` or ``dtype``, and is
  called ``loss(input, linear_weight, target, linear_bias=None)``.
* Options that torch takes beyond its documented range raise
  ``ValueError``: ``gaussian_nll_loss``'s ``eps`` must be ``> 0``,
  ``triplet_margin_loss``'s ``p`` ``> 0`` (no ``inf``) and ``eps >= 0``,
  ``multi_margin_loss``'s and ``multilabel_soft_margin_loss``'s ``weight``
  ``>= 0`` and ``[C]``. ``multilabel_soft_margin_loss``'s ``target`` may not
  widen ``input``. Like torch's, the constructors of
  :class:`MultiMarginLoss`, :class:`TripletMarginLoss` and
  :class:`TripletMarginWithDistanceLoss` check ``p`` and ``margin``.
* :class:`PoissonNLLLoss` is called ``loss(input, target)``; torch names the
  first argument of its ``forward`` ``log_input``, like the option.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks, _reduce
from jaxloss.compat._twin import TwinLoss, twin

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]

# Core argument names in torch's spelling, for core error messages.
_NAMES = {
    "logits": "input",
    "probs": "input",
    "predictions": "input",
    "log_predictions": "input",
    "labels": "target",
    "targets": "target",
    "class_weights": "weight",
    "epsilon": "eps",
    "log_targets": "log_target",
    "scores": "input",
}
_CTC_NAMES = {"logits": "log_probs", "labels": "targets", "blank_id": "blank"}
_PAIR_NAMES = {"x1": "input1", "x2": "input2", "targets": "target"}


# --------------------------------------------------------------------------
# argument plumbing
# --------------------------------------------------------------------------


def _reduction(reduction: Any, size_average: Any = None, reduce: Any = None, *, extra: tuple[str, ...] = ()) -> str:
    """torch's reduction: the legacy ``size_average``/``reduce`` win (torch's mapping and warning)."""
    if size_average is not None or reduce is not None:
        mean = True if size_average is None else bool(size_average)
        keep = True if reduce is None else bool(reduce)
        reduction = "mean" if mean and keep else "sum" if keep else "none"
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
            UserWarning,
            stacklevel=4,
        )
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated, please use reduction='mean' instead.", stacklevel=4)
        reduction = "mean"
    if reduction not in ("none", "mean", "sum", *extra):
        allowed = ", ".join(repr(r) for r in ("none", "mean", "sum", *extra))
        raise _checks.error(ValueError, f"`reduction` must be one of {allowed}, got {reduction!r}.")
    return str(reduction)


def _same_size(input: jax.Array, target: jax.Array) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise _checks.error(
            ValueError,
            f"`target` of size {tuple(target.shape)} must have the size of `input`, {tuple(input.shape)} "
            f"(torch broadcasts them, which is rarely what was meant).",
        )


def _elementwise_weight(weight: Any, input: jax.Array) -> jax.Array | None:
    if weight is None:
        return None
    weight = _checks.as_numeric(weight, "weight")
    if tuple(weight.shape) != tuple(input.shape):
        raise _checks.error(
            ValueError, f"`weight` of size {tuple(weight.shape)} must have the size of `input`, {tuple(input.shape)}."
        )
    return weight


def _class_axis(input: jax.Array) -> int:
    if input.ndim == 0:
        raise _checks.error(ValueError, "`input` must have a class dimension ([C] or [N, C, ...]), got a scalar.")
    return 0 if input.ndim == 1 else 1


def _class_weight(weight: Any, num_classes: int) -> jax.Array | None:
    if weight is None:
        return None
    weight = _checks.as_numeric(weight, "weight")
    if tuple(weight.shape) != (num_classes,):
        raise _checks.error(
            ValueError,
            f"`weight` must have shape ({num_classes},), one weight per class, got {tuple(weight.shape)}.",
        )
    return weight


def _num_classes(arguments: Any) -> int | None:
    input = arguments.get("input")
    if input is None or np.ndim(input) == 0:
        return None
    shape = np.shape(input)
    return int(shape[0] if len(shape) == 1 else shape[1])


# --------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------


@twin(
    _NAMES,
    targets="class_indices",
    labels="target",
    num_classes=_num_classes,
    ignore_index="ignore_index",
    class_weights="weight",
    non_negative=("weight",),
)
def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> jax.Array:
    """``torch.nn.functional.cross_entropy``: softmax cross-entropy over dimension 1.

    Args:
      input: logits ``[C]``, ``[N, C]`` or ``[N, C, d1, ...]``.
      target: class indices (any integer dtype) of ``input``'s shape without
        dimension 1, or class probabilities of ``input``'s shape.
      weight: ``[C]`` class weights.
      size_average, reduce: legacy, mapped onto ``reduction`` as torch does.
      ignore_index: class-index targets equal to it give 0 and are not
        counted by ``"mean"``.
      reduction: ``"none"``, ``"mean"`` (for class indices divided by the sum
        of the weights of the targets that are not ignored) or ``"sum"``.
      label_smoothing: in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.cross_entropy(jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([0, -100]))
      Array(0.126928, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input = _checks.as_float(input, "input")
    axis = _class_axis(input)
    num_classes = int(input.shape[axis])
    class_weight = _class_weight(weight, num_classes)
    target = jnp.asarray(target)
    if tuple(target.shape) == tuple(input.shape) and jnp.issubdtype(target.dtype, jnp.floating):
        if class_weight is None:
            losses = jaxloss.softmax_cross_entropy(input, target, axis=axis, label_smoothing=label_smoothing)
        else:
            # torch weighs the (smoothed) target mass of each class: -sum_c w_c y_c log p_c.
            _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
            smoothed = target * (1.0 - label_smoothing) + label_smoothing / num_classes
            shape = [1] * input.ndim
            shape[axis] = num_classes
            losses = jaxloss.softmax_cross_entropy(input, smoothed * class_weight.reshape(shape), axis=axis)
        return jaxloss.reduce(losses, reduction=reduction)
    options: dict[str, Any] = {
        "axis": axis,
        "label_smoothing": label_smoothing,
        "class_weights": class_weight,
        "ignore_index": ignore_index,
    }
    losses = jaxloss.sparse_softmax_cross_entropy(input, target, **options)
    if reduction != "mean":
        return jaxloss.reduce(losses, reduction=reduction)
    keep, applied = _checks.loss_report(jaxloss.sparse_softmax_cross_entropy, input, target, options)
    return _reduce.reduce_applied(losses, reduction="weighted_mean", where=keep, applied=applied)


@twin(_NAMES, probabilities="input", non_negative=("weight",))
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.binary_cross_entropy`` of probabilities ``input``.

    ``target`` must have ``input``'s size; ``weight`` broadcasts to it.
    ``"mean"`` divides by the number of elements. Probabilities are clipped
    to ``[1e-7, 1 - 1e-7]`` (torch clamps each log at -100).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.binary_cross_entropy(jnp.array([0.8, 0.4]), jnp.array([1.0, 0.0]))
      Array(0.366985, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input = _checks.as_float(input, "input")
    target = _checks.as_numeric(target, "target")
    _same_size(input, target)
    w = None if weight is None else _checks.as_numeric(weight, "weight")
    return jaxloss.reduce(jaxloss.binary_cross_entropy(input, target), w, reduction=reduction)


@twin(_NAMES, non_negative=("weight", "pos_weight"))
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> jax.Array:
    """``torch.nn.functional.binary_cross_entropy_with_logits``.

    ``target`` must have ``input``'s size; ``weight`` broadcasts to it and
    ``pos_weight`` (the weight of the positive term, e.g. one per class along
    the last dimension) too. ``"mean"`` divides by the number of elements.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.binary_cross_entropy_with_logits(jnp.array([2.0, -1.0]), jnp.array([1.0, 0.0]))
      Array(0.220095, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input = _checks.as_float(input, "input")
    target = _checks.as_numeric(target, "target")
    _same_size(input, target)
    losses = jaxloss.sigmoid_binary_cross_entropy(input, target, pos_weight=pos_weight)
    w = None if weight is None else _checks.as_numeric(weight, "weight")
    return jaxloss.reduce(losses, w, reduction=reduction)


@twin(_NAMES)
def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> jax.Array:
    """``torch.nn.functional.kl_div``: elementwise ``target * (log target - input)``.

    ``input`` holds log-probabilities, ``target`` probabilities (or
    log-probabilities with ``log_target=True``); a zero target gives 0. They
    broadcast together as in torch. ``"batchmean"`` divides the sum by the
    size of dimension 0 (torch's KL divergence); ``"mean"`` by the number of
    elements.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.kl_div(jnp.log(jnp.array([[0.5, 0.5]])), jnp.array([[0.9, 0.1]]), reduction="batchmean")
      Array(0.368064, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce, extra=("batchmean",))
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size. "
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition.",
            UserWarning,
            stacklevel=3,
        )
    input = _checks.as_float(input, "input")
    target = _checks.as_numeric(target, "target")
    shape = _checks.elementwise_shape(input, target, "input", "target")
    input, target = jnp.broadcast_to(input, shape), jnp.broadcast_to(target, shape)
    # A trailing class axis of length 1 makes the core's KL elementwise.
    losses = jaxloss.kl_divergence(input[..., None], target[..., None], log_targets=log_target)
    if reduction == "batchmean":
        return jaxloss.reduce(losses, 1.0 / (shape[0] if shape else 1), reduction="sum")
    return jaxloss.reduce(losses, reduction=reduction)


@twin(_NAMES)
def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.poisson_nll_loss``.

    ``exp(input) - target * input`` (``log_input``), else
    ``input - target * log(input + eps)``, plus Stirling's term for
    ``target > 1`` with ``full``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.poisson_nll_loss(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))
      Array(0.859141, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    losses = jaxloss.poisson_nll(input, target, log_input=log_input, full=full, epsilon=eps)
    return jaxloss.reduce(losses, reduction=reduction)


def _weighted_elementwise(core: Any, input: Any, target: Any, weight: Any, reduction: str, mean: str) -> jax.Array:
    input = _checks.as_float(input, "input")
    target = _checks.as_numeric(target, "target")
    _same_size(input, target)
    w = _elementwise_weight(weight, input)
    losses = core(input, target)
    if w is None:
        return jaxloss.reduce(losses, reduction=reduction)
    return jaxloss.reduce(losses, w, reduction=mean if reduction == "mean" else reduction)


@twin(_NAMES, non_negative=("weight",))
def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """``torch.nn.functional.mse_loss``: ``(input - target)**2``.

    ``target`` (and ``weight``) must have ``input``'s size. With ``weight``,
    ``"mean"`` divides the weighted sum by the sum of the weights (torch 2.13).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.mse_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
      Array(2.5, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _weighted_elementwise(jaxloss.squared_error, input, target, weight, reduction, "weighted_mean")


@twin(_NAMES, non_negative=("weight",))
def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """``torch.nn.functional.l1_loss``: ``|input - target|``.

    ``target`` (and ``weight``) must have ``input``'s size. With ``weight``,
    ``"mean"`` divides the weighted sum by the sum of the weights (torch 2.13).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.l1_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
      Array(1.5, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _weighted_elementwise(jaxloss.absolute_error, input, target, weight, reduction, "weighted_mean")


@twin(_NAMES, non_negative=("weight",))
def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: ArrayLike | None = None,
) -> jax.Array:
    """``torch.nn.functional.huber_loss`` with threshold ``delta``.

    ``target`` (and ``weight``) must have ``input``'s size. With ``weight``,
    ``"mean"`` is the mean of the weighted losses (torch 2.13).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.huber_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]))
      Array(1.3125, dtype=float32)
    """
    reduction = _reduction(reduction)

    def core(p: jax.Array, t: jax.Array) -> jax.Array:
        return jaxloss.huber(p, t, delta=delta)

    return _weighted_elementwise(core, input, target, weight, reduction, "mean")


@twin(
    _NAMES,
    targets="class_indices",
    labels="target",
    num_classes=_num_classes,
    ignore_index="ignore_index",
    class_weights="weight",
    non_negative=("weight",),
)
def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.nll_loss``: negative log-likelihood over dimension 1.

    Args:
      input: log-probabilities ``[C]``, ``[N, C]`` or ``[N, C, d1, ...]``.
      target: class indices (any integer dtype) of ``input``'s shape without
        dimension 1.
      weight: ``[C]`` class weights.
      size_average, reduce: legacy, mapped onto ``reduction`` as torch does.
      ignore_index: targets equal to it give 0 and are not counted by
        ``"mean"``.
      reduction: ``"none"``, ``"mean"`` (divided by the sum of the weights of
        the targets that are not ignored) or ``"sum"``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.nll_loss(jnp.log(jnp.array([[0.5, 0.5], [0.2, 0.8]])), jnp.array([0, 1]))
      Array(0.458145, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input = _checks.as_float(input, "input")
    axis = _class_axis(input)
    class_weight = _class_weight(weight, int(input.shape[axis]))
    options: dict[str, Any] = {"axis": axis, "class_weights": class_weight, "ignore_index": ignore_index}
    losses = jaxloss.nll(input, target, **options)
    if reduction != "mean":
        return jaxloss.reduce(losses, reduction=reduction)
    keep, applied = _checks.loss_report(jaxloss.nll, input, target, options)
    return _reduce.reduce_applied(losses, reduction="weighted_mean", where=keep, applied=applied)


@twin(_NAMES)
def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> jax.Array:
    """``torch.nn.functional.smooth_l1_loss`` with switch point ``beta`` (``>= 0``).

    ``target`` must have ``input``'s size.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.smooth_l1_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]))
      Array(1.3125, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)

    def core(p: jax.Array, t: jax.Array) -> jax.Array:
        return jaxloss.smooth_l1(p, t, beta=beta)

    return _weighted_elementwise(core, input, target, None, reduction, "mean")


@twin(_NAMES)
def soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.soft_margin_loss``: ``log(1 + exp(-target * input))``.

    ``target`` (labels in {-1, 1}) broadcasts with ``input``, as in torch.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.soft_margin_loss(jnp.array([2.0, -1.0]), jnp.array([1.0, -1.0]))
      Array(0.220095, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    return jaxloss.reduce(jaxloss.soft_margin(input, target), reduction=reduction)


def _same_ndim(name: str, **arrays: Any) -> None:
    """torch's check that the inputs of ``name`` have one number of dimensions."""
    dims = {k: np.ndim(v) for k, v in arrays.items()}
    if len(set(dims.values())) > 1:
        listed = ", ".join(f"`{k}` {d}" for k, d in dims.items())
        raise _checks.error(ValueError, f"{name}: the inputs must have the same number of dimensions, got {listed}.")


@twin(_PAIR_NAMES)
def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.margin_ranking_loss``: ``max(0, -target * (input1 - input2) + margin)``.

    The three arrays must have one number of dimensions (as in torch) and
    broadcast together.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.margin_ranking_loss(jnp.array([1.0, 0.2]), jnp.array([0.0, 0.5]), jnp.array([1.0, 1.0]))
      Array(0.15, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _same_ndim("margin_ranking_loss", input1=input1, input2=input2, target=target)
    return jaxloss.reduce(jaxloss.margin_ranking(input1, input2, target, margin=margin), reduction=reduction)


@twin(_NAMES)
def hinge_embedding_loss(
    input: ArrayLike,
    target: ArrayLike,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.hinge_embedding_loss``: ``input`` where ``target`` is 1, else ``max(0, margin - input)``.

    ``target`` (labels in {-1, 1}) broadcasts with ``input``, as in torch.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.hinge_embedding_loss(jnp.array([0.3, 0.3]), jnp.array([1.0, -1.0]))
      Array(0.5, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    return jaxloss.reduce(jaxloss.hinge_embedding(input, target, margin=margin), reduction=reduction)


@twin(_PAIR_NAMES)
def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.cosine_embedding_loss`` of ``[N, D]`` (or ``[D]``) pairs.

    ``1 - cos(input1, input2)`` where ``target`` is 1, ``max(0, cos - margin)``
    where it is -1; ``target`` is ``[N]`` (or ``[]``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> a, b = jnp.array([[1.0, 0.0], [1.0, 1.0]]), jnp.array([[1.0, 1.0], [1.0, 0.0]])
      >>> F.cosine_embedding_loss(a, b, jnp.array([1.0, -1.0]), reduction="sum")
      Array(1., dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    ndim1, ndim2, ndim_t = np.ndim(input1), np.ndim(input2), np.ndim(target)
    if ndim1 not in (1, 2) or ndim2 != ndim1:
        raise _checks.error(
            ValueError, f"`input1` and `input2` must both be [N, D] or [D], got {ndim1} and {ndim2} dimensions."
        )
    if ndim_t != ndim1 - 1:
        raise _checks.error(ValueError, f"`target` must have {ndim1 - 1} dimensions ([N] or []), got {ndim_t}.")
    return jaxloss.reduce(jaxloss.cosine_embedding(input1, input2, target, margin=margin), reduction=reduction)


def _lengths(lengths: Any, batch: int, name: str) -> jax.Array:
    lengths = _checks.as_numeric(lengths, name)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise _checks.error(TypeError, f"`{name}` must hold integer lengths, got dtype {lengths.dtype}.")
    if tuple(lengths.shape) != (batch,):
        raise _checks.error(
            ValueError, f"`{name}` must have shape ({batch},), one length per batch entry, got {tuple(lengths.shape)}."
        )
    return lengths


def _at_most(lengths: jax.Array, limit: int, name: str, what: str) -> None:
    """A concrete length above ``limit`` raises, as in torch (a traced one is not checked)."""
    if isinstance(lengths, jax.core.Tracer):
        return
    values = np.asarray(lengths)
    if values.size and (values.max() > limit or values.min() < 0):
        raise _checks.error(ValueError, f"`{name}` must lie in [0, {limit}] ({what}), got {values.tolist()}.")


@twin(_CTC_NAMES)
def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> jax.Array:
    """``torch.nn.functional.ctc_loss``.

    Args:
      log_probs: ``[T, N, C]`` (or ``[T, C]`` unbatched) log-probabilities.
      targets: ``[N, S]`` padded class indices, or the ``N`` labellings
        concatenated into one 1-D array (``target_lengths`` then concrete).
      input_lengths: ``[N]`` frames used per batch entry.
      target_lengths: ``[N]`` labels per batch entry.
      blank: the blank class.
      reduction: ``"none"`` (``[N]``), ``"sum"``, or ``"mean"``: each loss
        divided by its target length (at least 1), then the batch mean.
      zero_infinity: impossible alignments give 0 (and no gradient) instead
        of ``inf``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> lp = jax.nn.log_softmax(jnp.zeros((3, 1, 2)))
      >>> F.ctc_loss(lp, jnp.array([[1]]), jnp.array([3]), jnp.array([1]))
      Array(0.287682, dtype=float32)
    """
    reduction = _reduction(reduction)
    log_probs = _checks.as_float(log_probs, "log_probs")
    if log_probs.ndim not in (2, 3):
        shape = tuple(log_probs.shape)
        raise _checks.error(ValueError, f"`log_probs` must be [T, N, C] or [T, C], got shape {shape}.")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs[:, None]
        targets = jnp.asarray(targets)[None]
        input_lengths = jnp.reshape(jnp.asarray(input_lengths), (1,))
        target_lengths = jnp.reshape(jnp.asarray(target_lengths), (1,))
    frames, batch, num_classes = log_probs.shape
    blank_id = _checks.check_int(blank, "blank")
    assert blank_id is not None
    if not 0 <= blank_id < num_classes:
        raise _checks.error(ValueError, f"`blank` must be in [0, {num_classes}) (the classes), got {blank_id}.")
    input_lengths = _lengths(input_lengths, batch, "input_lengths")
    target_lengths = _lengths(target_lengths, batch, "target_lengths")
    _at_most(input_lengths, frames, "input_lengths", "the number of frames")
    targets = _checks.as_integer(targets, "targets")
    if targets.ndim == 1 and not unbatched:
        # Concatenated labellings: unpacked into right-padded rows.
        if isinstance(target_lengths, jax.core.Tracer):
            raise _checks.error(TypeError, "`target_lengths` must be concrete when `targets` are 1-D.")
        lengths = np.asarray(target_lengths)
        if lengths.sum() > targets.shape[0]:
            raise _checks.error(
                ValueError,
                f"`target_lengths` sum to {int(lengths.sum())}, more than the {targets.shape[0]} `targets`.",
            )
        width = max(int(lengths.max(initial=0)), 1)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        index = np.minimum(starts[:, None] + np.arange(width)[None], max(targets.shape[0] - 1, 0))
        targets = jnp.take(targets, jnp.asarray(index), axis=0) if targets.shape[0] else jnp.zeros_like(index)
    if targets.ndim != 2 or targets.shape[0] != batch:
        raise _checks.error(
            ValueError, f"`targets` must be [N, S] with N={batch}, or 1-D concatenated; got {tuple(targets.shape)}."
        )
    _at_most(target_lengths, targets.shape[1], "target_lengths", "the padded target length")
    logit_paddings = jnp.arange(frames)[None, :] >= input_lengths[:, None]
    label_paddings = jnp.arange(targets.shape[1])[None, :] >= target_lengths[:, None]
    losses = jaxloss.ctc(
        jnp.moveaxis(log_probs, 0, 1),
        targets,
        logit_paddings=logit_paddings,
        label_paddings=label_paddings,
        blank_id=blank_id,
        zero_infinity=zero_infinity,
    )
    if unbatched:
        losses = losses[0]
    if reduction != "mean":
        return jaxloss.reduce(losses, reduction=reduction)
    per_label = 1.0 / jnp.maximum(target_lengths, 1).astype(losses.dtype)
    return jaxloss.reduce(losses, per_label.reshape(losses.shape), reduction="mean")


@twin(_NAMES, class_weights="weight", non_negative=("weight",))
def linear_cross_entropy(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: Any = None,
) -> jax.Array:
    """``torch.nn.functional.linear_cross_entropy``: cross-entropy of ``input @ linear_weight.T + linear_bias``.

    For class-index targets it is :func:`jaxloss.fused_linear_cross_entropy`,
    which never holds the ``[N, C]`` logits (``options``, torch's chunking
    settings, is accepted and ignored: chunking is always on). Probability
    targets (``target`` of shape ``[N, C]``) compute the logits and call
    :func:`cross_entropy`; ``ignore_index`` must then be None, as in torch.

    Args:
      input: ``[in_features]`` or ``[N, in_features]``.
      linear_weight: ``[C, in_features]``.
      target: ``[]``/``[N]`` class indices, or probabilities ``[C]``/``[N, C]``.
      linear_bias: ``[C]``.
      weight: ``[C]`` class weights.
      reduction: ``"none"``, ``"mean"`` (class indices: divided by the sum of
        the weights of the targets not ignored) or ``"sum"``.
      ignore_index: None means -100 for class-index targets.
      label_smoothing: in ``[0, 1]``.
      options: ignored.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.linear_cross_entropy(jnp.ones((2, 3)), jnp.zeros((4, 3)), jnp.array([0, 3]))
      Array(1.386294, dtype=float32)
    """
    del options
    reduction = _reduction(reduction)
    input = _checks.as_float(input, "input")
    linear_weight = _checks.as_float(linear_weight, "linear_weight")
    if input.ndim not in (1, 2):
        raise _checks.error(ValueError, f"`input` must be [in_features] or [N, in_features], got {tuple(input.shape)}.")
    if linear_weight.ndim != 2:
        raise _checks.error(
            ValueError,
            f"`linear_weight` must be [C, in_features] (K-dimensional heads are not supported), "
            f"got shape {tuple(linear_weight.shape)}.",
        )
    if input.shape[-1] != linear_weight.shape[-1]:
        raise _checks.error(
            ValueError,
            f"`input` and `linear_weight` must have the same last dimension (in_features), got "
            f"{input.shape[-1]} and {linear_weight.shape[-1]}.",
        )
    num_classes = int(linear_weight.shape[0])
    if linear_bias is not None:
        linear_bias = _checks.as_float(linear_bias, "linear_bias")
        if tuple(linear_bias.shape) != (num_classes,):
            raise _checks.error(
                ValueError, f"`linear_bias` must have shape ({num_classes},), got {tuple(linear_bias.shape)}."
            )
    class_weight = _class_weight(weight, num_classes)
    target = jnp.asarray(target)
    if tuple(target.shape) == (*input.shape[:-1], num_classes):
        if ignore_index is not None:
            raise _checks.error(ValueError, "`ignore_index` must be None when `target` holds probabilities.")
        logits = input @ linear_weight.T
        if linear_bias is not None:
            logits = logits + linear_bias
        smoothing = label_smoothing
        return cross_entropy(logits, target, weight=class_weight, reduction=reduction, label_smoothing=smoothing)
    target = _checks.as_integer(target, "target")
    if tuple(target.shape) != tuple(input.shape[:-1]):
        raise _checks.error(
            ValueError,
            f"`target` must have shape {tuple(input.shape[:-1])} (class indices) or "
            f"{(*input.shape[:-1], num_classes)} (probabilities), got {tuple(target.shape)}.",
        )
    with _checks.argument_names(hidden="input", weight="linear_weight", bias="linear_bias", class_weights="weight"):
        return jaxloss.fused_linear_cross_entropy(
            input,
            linear_weight,
            target,
            bias=linear_bias,
            class_weights=class_weight,
            ignore_index=-100 if ignore_index is None else ignore_index,
            label_smoothing=label_smoothing,
            reduction="weighted_mean" if reduction == "mean" else reduction,
            weight_layout="VD",
        )


_GAUSS_NAMES = {**_NAMES, "variance": "var"}
_TRIPLET_NAMES = {"distance_fn": "distance_function"}


@twin(_GAUSS_NAMES, non_negative=("var",))
def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.gaussian_nll_loss``: ``0.5 * (log v + (input - target)**2 / v)``, ``v = max(var, eps)``.

    ``var`` has torch's shapes: ``input``'s size (heteroscedastic), that
    size without its last dimension or with one dimension of size 1
    (homoscedastic), or a Python float (one variance everywhere); any other
    size raises ``ValueError``, as in torch. ``target`` broadcasts with
    ``input``. ``full`` adds ``0.5 * log(2 * pi)``. The clamp to ``eps`` passes
    the gradient through unchanged (torch clamps without autograd). A
    negative Python float ``var`` raises; a negative entry of a ``var`` array
    is clamped to ``eps`` here (torch raises: a check on the data, which
    :func:`jaxloss.checked` makes). ``eps`` must be ``> 0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.gaussian_nll_loss(jnp.array([[1.0], [2.0]]), jnp.array([[0.0], [2.0]]), jnp.array([1.0, 0.5]))
      Array(0.076713, dtype=float32)
    """
    reduction = _reduction(reduction)
    input = _checks.as_float(input, "input")
    if isinstance(var, (int, float, np.integer, np.floating)) and not isinstance(var, (bool, np.bool_)):
        if var < 0:
            raise _checks.error(ValueError, f"`var` must be >= 0 (a variance), got {var!r}.")
        var = jnp.full(input.shape, var, input.dtype)
    var = _checks.as_float(var, "var")
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var[..., None]  # one variance per row: broadcast along the last dimension
        elif not (var.ndim == input.ndim and sum(v for i, v in zip(in_shape, var_shape, strict=True) if i != v) == 1):
            raise _checks.error(
                ValueError,
                f"`var` of size {var_shape} must have the size of `input`, {in_shape}, that size without the "
                f"last dimension, or that size with one dimension of size 1.",
            )
    losses = jaxloss.gaussian_nll(input, target, var, full=full, eps=eps)
    return jaxloss.reduce(losses, reduction=reduction)


@twin(_NAMES, class_weights="weight", non_negative=("weight",))
def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.multilabel_soft_margin_loss``: one-versus-all logistic loss over the last dimension.

    ``input`` is ``[C]`` or ``[N, C]`` (more leading dimensions work as in
    torch); ``target`` (in ``[0, 1]``) broadcasts to ``input``'s shape (it
    may not widen it: torch would then divide by ``input``'s ``C``).
    ``weight`` is ``[C]``. The loss per example is the mean over the
    classes; ``"mean"`` averages the examples.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.multilabel_soft_margin_loss(jnp.array([[2.0, -1.0, 0.0]]), jnp.array([[1.0, 0.0, 1.0]]))
      Array(0.37778, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    losses = jaxloss.multilabel_soft_margin(input, target, class_weights=weight)
    return jaxloss.reduce(losses, reduction=reduction)


def _margin_input(input: Any) -> jax.Array:
    """torch's ``[C]`` or ``[N, C]`` ``input`` of the margin losses (a scalar is one class)."""
    input = _checks.as_float(input, "input")
    if input.ndim > 2:
        raise _checks.error(ValueError, f"`input` must be [C] or [N, C], got shape {tuple(input.shape)}.")
    return input


def _margin_p(p: Any) -> int:
    """``p`` of ``multi_margin_loss``: 1 or 2 (``2.0`` too, as in torch)."""
    if isinstance(p, (float, np.floating)) and float(p) in (1.0, 2.0):
        p = int(p)
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) or p not in (1, 2):
        raise _checks.error(ValueError, f"`p` must be 1 or 2, got {p!r}.")
    return int(p)


def _positive_margin(margin: Any) -> None:
    """torch's triplet losses want ``margin > 0``."""
    _checks.check_range(margin, "margin", 0.0, low_open=True)


@twin(_NAMES)
def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.multilabel_margin_loss``: multi-label hinge loss over padded lists of classes.

    ``input`` is ``[C]`` or ``[N, C]``; ``target`` (class indices, any
    integer dtype) has its size and lists each example's target classes,
    ended by the first ``-1`` (or any negative entry). The loss per example
    is ``sum_{j listed, i not} max(0, 1 - (input[j] - input[i])) / C``. A
    listed class outside ``[0, C)`` gives ``nan`` (torch raises).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.multilabel_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
      Array(0.85, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input = _margin_input(input)
    target = _checks.as_integer(target, "target")
    if tuple(target.shape) != tuple(input.shape):
        raise _checks.error(
            ValueError,
            f"`target` of size {tuple(target.shape)} must have the size of `input`, {tuple(input.shape)}.",
        )
    losses = jaxloss.multilabel_margin(jnp.atleast_1d(input), jnp.atleast_1d(target))
    return jaxloss.reduce(losses, reduction=reduction)


@twin(
    _NAMES,
    targets="class_indices",
    labels="target",
    num_classes=_num_classes,
    class_weights="weight",
    non_negative=("weight",),
)
def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.multi_margin_loss``: ``sum_{i != y} max(0, margin - input[y] + input[i])**p / C``.

    ``input`` is ``[C]`` or ``[N, C]``; ``target`` holds one class index
    (any integer dtype) per example, ``[N]`` (``[]`` or ``[1]`` unbatched);
    ``p`` is 1 or 2; ``weight`` (``[C]``) scales each example by its target
    class's weight, and ``"mean"`` divides by the number of examples (not
    by the weights), as in torch. A class index outside ``[0, C)`` gives
    ``nan`` (torch raises; :func:`jaxloss.checked` does too).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> F.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
      Array(0.325, dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    p = _margin_p(p)
    if weight is not None and np.ndim(weight) != 1:
        raise _checks.error(ValueError, f"`weight` must be one-dimensional ([C]), got shape {np.shape(weight)}.")
    input = _margin_input(input)
    rows = jnp.reshape(input, (-1, input.shape[-1]) if input.ndim else (1, 1))
    class_weight = _class_weight(weight, int(rows.shape[1]))
    target = _checks.as_integer(target, "target")
    if target.ndim > 1 or target.size != rows.shape[0]:
        raise _checks.error(
            ValueError,
            f"`target` must be 1-D with one class index per example of `input` ({rows.shape[0]},), "
            f"got shape {tuple(target.shape)} for `input` of shape {tuple(input.shape)}.",
        )
    losses = jaxloss.multi_margin(rows, target.reshape(-1), p=p, margin=margin, class_weights=class_weight)
    return jaxloss.reduce(losses.reshape(target.shape), reduction=reduction)


def _triplet_arrays(name: str, anchor: Any, positive: Any, negative: Any) -> list[jax.Array]:
    """torch's triplet inputs: one number of dimensions, broadcast together."""
    _same_ndim(name, anchor=anchor, positive=positive, negative=negative)
    arrays = [jnp.asarray(anchor), jnp.asarray(positive), jnp.asarray(negative)]
    try:
        shape = tuple(np.broadcast_shapes(*(tuple(a.shape) for a in arrays)))
    except ValueError:
        names = ("anchor", "positive", "negative")
        shapes = ", ".join(f"`{n}` {tuple(a.shape)}" for n, a in zip(names, arrays, strict=True))
        raise _checks.error(ValueError, f"{name}: the inputs must broadcast together, got {shapes}.") from None
    return [jnp.broadcast_to(a, shape) for a in arrays]


@twin(_TRIPLET_NAMES)
def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.triplet_margin_loss``: ``max(0, margin + d(anchor, positive) - d(anchor, negative))``.

    ``d(u, v) = ||u - v + eps||_p`` over the last dimension (torch's
    ``pairwise_distance``); ``swap`` replaces ``d(anchor, negative)`` by
    ``min(d(anchor, negative), d(positive, negative))``. The three arrays
    (``[N, D]``, ``[D]`` unbatched, or more leading dimensions) have one
    number of dimensions and broadcast together. ``margin`` must be ``> 0``
    (as in torch), ``p > 0`` and ``eps >= 0`` (torch takes any).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> a, pos, neg = jnp.zeros((2, 2)), jnp.array([[1.0, 0.0], [0.0, 3.0]]), jnp.array([[0.0, 1.5], [2.0, 0.0]])
      >>> F.triplet_margin_loss(a, pos, neg, eps=0.0, reduction="none")
      Array([0.5, 2. ], dtype=float32)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _positive_margin(margin)
    anchor, positive, negative = _triplet_arrays("triplet_margin_loss", anchor, positive, negative)
    if anchor.ndim == 0:  # torch's distance of scalars is over a dimension of size 1
        anchor, positive, negative = anchor[None], positive[None], negative[None]
    losses = jaxloss.triplet_margin(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap)
    return jaxloss.reduce(losses, reduction=reduction)


@twin(_TRIPLET_NAMES)
def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Any = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """``torch.nn.functional.triplet_margin_with_distance_loss``: the triplet loss with any distance.

    ``distance_function(u, v)`` (a JAX function of two arrays returning one
    distance per triplet, i.e. the shape without the last dimension) is
    called on the three arrays broadcast together; None is
    :func:`triplet_margin_loss`'s distance with ``p=2``, ``eps=1e-6``
    (torch's ``pairwise_distance``). ``swap`` and ``margin`` (``> 0``) as in
    :func:`triplet_margin_loss`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import torch as F
      >>> l1 = lambda u, v: jnp.sum(jnp.abs(u - v), axis=-1)
      >>> a, pos, neg = jnp.zeros((1, 2)), jnp.array([[1.0, 1.0]]), jnp.array([[2.0, 0.5]])
      >>> F.triplet_margin_with_distance_loss(a, pos, neg, distance_function=l1)
      Array(0.5, dtype=float32)
    """
    reduction = _reduction(reduction)
    _positive_margin(margin)
    anchor, positive, negative = _triplet_arrays("triplet_margin_with_distance_loss", anchor, positive, negative)
    if distance_function is None:
        if anchor.ndim == 0:
            anchor, positive, negative = anchor[None], positive[None], negative[None]
        losses = jaxloss.triplet_margin(anchor, positive, negative, margin=margin, swap=swap)
    else:
        losses = jaxloss.triplet_margin(
            anchor, positive, negative, margin=margin, swap=swap, distance_fn=distance_function
        )
    return jaxloss.reduce(losses, reduction=reduction)


# --------------------------------------------------------------------------
# classes
# --------------------------------------------------------------------------


class CrossEntropyLoss(TwinLoss):
    """``torch.nn.CrossEntropyLoss``: :func:`cross_entropy` with these options."""

    function = staticmethod(cross_entropy)
    weight: ArrayLike | None = None
    size_average: bool | None = None
    ignore_index: int = -100
    reduce: bool | None = None
    reduction: str = "mean"
    label_smoothing: float = 0.0


class BCELoss(TwinLoss):
    """``torch.nn.BCELoss``: :func:`binary_cross_entropy` with these options."""

    function = staticmethod(binary_cross_entropy)
    weight: ArrayLike | None = None
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class BCEWithLogitsLoss(TwinLoss):
    """``torch.nn.BCEWithLogitsLoss``: :func:`binary_cross_entropy_with_logits` with these options."""

    function = staticmethod(binary_cross_entropy_with_logits)
    weight: ArrayLike | None = None
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"
    pos_weight: ArrayLike | None = None


class KLDivLoss(TwinLoss):
    """``torch.nn.KLDivLoss``: :func:`kl_div` with these options."""

    function = staticmethod(kl_div)
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"
    log_target: bool = False


class PoissonNLLLoss(TwinLoss):
    """``torch.nn.PoissonNLLLoss``: :func:`poisson_nll_loss` with these options."""

    function = staticmethod(poisson_nll_loss)
    log_input: bool = True
    full: bool = False
    size_average: bool | None = None
    eps: float = 1e-8
    reduce: bool | None = None
    reduction: str = "mean"


class MSELoss(TwinLoss):
    """``torch.nn.MSELoss``: :func:`mse_loss` with these options."""

    function = staticmethod(mse_loss)
    call_arguments = ("input", "target")
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class L1Loss(TwinLoss):
    """``torch.nn.L1Loss``: :func:`l1_loss` with these options."""

    function = staticmethod(l1_loss)
    call_arguments = ("input", "target")
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class HuberLoss(TwinLoss):
    """``torch.nn.HuberLoss``: :func:`huber_loss` with these options."""

    function = staticmethod(huber_loss)
    call_arguments = ("input", "target")
    reduction: str = "mean"
    delta: float = 1.0


class NLLLoss(TwinLoss):
    """``torch.nn.NLLLoss``: :func:`nll_loss` with these options."""

    function = staticmethod(nll_loss)
    weight: ArrayLike | None = None
    size_average: bool | None = None
    ignore_index: int = -100
    reduce: bool | None = None
    reduction: str = "mean"


class SmoothL1Loss(TwinLoss):
    """``torch.nn.SmoothL1Loss``: :func:`smooth_l1_loss` with these options."""

    function = staticmethod(smooth_l1_loss)
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"
    beta: float = 1.0


class SoftMarginLoss(TwinLoss):
    """``torch.nn.SoftMarginLoss``: :func:`soft_margin_loss` with these options."""

    function = staticmethod(soft_margin_loss)
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class MarginRankingLoss(TwinLoss):
    """``torch.nn.MarginRankingLoss``: :func:`margin_ranking_loss` with these options."""

    function = staticmethod(margin_ranking_loss)
    margin: float = 0.0
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class HingeEmbeddingLoss(TwinLoss):
    """``torch.nn.HingeEmbeddingLoss``: :func:`hinge_embedding_loss` with these options."""

    function = staticmethod(hinge_embedding_loss)
    margin: float = 1.0
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class CosineEmbeddingLoss(TwinLoss):
    """``torch.nn.CosineEmbeddingLoss``: :func:`cosine_embedding_loss` with these options."""

    function = staticmethod(cosine_embedding_loss)
    margin: float = 0.0
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class CTCLoss(TwinLoss):
    """``torch.nn.CTCLoss``: :func:`ctc_loss` with these options."""

    function = staticmethod(ctc_loss)
    blank: int = 0
    reduction: str = "mean"
    zero_infinity: bool = False


class LinearCrossEntropyLoss(TwinLoss, kw_only=True):
    """``torch.nn.LinearCrossEntropyLoss``, called ``(input, linear_weight, target, linear_bias=None)``.

    A JAX loss holds no parameters, so the head's weight (``[C, in_features]``)
    and bias are call arguments, and torch's ``in_features``, ``num_classes``,
    ``out_features``, ``bias``, ``device`` and ``dtype`` are not taken.
    """

    function = staticmethod(linear_cross_entropy)
    reduction: str = "mean"
    weight: ArrayLike | None = None
    ignore_index: int | None = None
    label_smoothing: float = 0.0
    options: Any = None

    def __call__(
        self, input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, linear_bias: ArrayLike | None = None
    ) -> jax.Array:
        """:func:`linear_cross_entropy` with this object's options."""
        return linear_cross_entropy(input, linear_weight, target, linear_bias=linear_bias, **self._arguments())


class GaussianNLLLoss(TwinLoss, kw_only=True):
    """``torch.nn.GaussianNLLLoss``: :func:`gaussian_nll_loss` with these options, called ``(input, target, var)``."""

    function = staticmethod(gaussian_nll_loss)
    full: bool = False
    eps: float = 1e-6
    reduction: str = "mean"


class MultiLabelSoftMarginLoss(TwinLoss):
    """``torch.nn.MultiLabelSoftMarginLoss``: :func:`multilabel_soft_margin_loss` with these options."""

    function = staticmethod(multilabel_soft_margin_loss)
    weight: ArrayLike | None = None
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class MultiLabelMarginLoss(TwinLoss):
    """``torch.nn.MultiLabelMarginLoss``: :func:`multilabel_margin_loss` with these options."""

    function = staticmethod(multilabel_margin_loss)
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"


class MultiMarginLoss(TwinLoss):
    """``torch.nn.MultiMarginLoss``: :func:`multi_margin_loss` with these options (``p`` checked when built)."""

    function = staticmethod(multi_margin_loss)
    p: int = 1
    margin: float = 1.0
    weight: ArrayLike | None = None
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _margin_p(self.p)
        if self.weight is not None and np.ndim(self.weight) != 1:
            raise ValueError(f"`weight` must be one-dimensional ([C]), got shape {np.shape(self.weight)}.")


class TripletMarginLoss(TwinLoss):
    """``torch.nn.TripletMarginLoss``: :func:`triplet_margin_loss` with these options (``margin > 0`` when built)."""

    function = staticmethod(triplet_margin_loss)
    margin: float = 1.0
    p: float = 2.0
    eps: float = 1e-6
    swap: bool = False
    size_average: bool | None = None
    reduce: bool | None = None
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _positive_margin(self.margin)


class TripletMarginWithDistanceLoss(TwinLoss, kw_only=True):
    """``torch.nn.TripletMarginWithDistanceLoss``: :func:`triplet_margin_with_distance_loss` with these options.

    ``distance_function`` is a JAX function ``(u, v) -> distances``; None
    is the Euclidean distance of :func:`triplet_margin_loss` (torch's
    ``PairwiseDistance()``). ``margin > 0`` is checked when built, as in torch.
    """

    function = staticmethod(triplet_margin_with_distance_loss)
    distance_function: Any = None
    margin: float = 1.0
    swap: bool = False
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _positive_margin(self.margin)
