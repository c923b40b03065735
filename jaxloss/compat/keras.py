"""Drop-in twins of Keras 3's ``keras.losses``, order ``(y_true, y_pred)``.

A port changes only the import::

    # from keras import losses
    from jaxloss.compat import keras as losses

The functions return Keras's per-sample losses: the (broadcast) inputs
without the axis they reduce (the last one, or ``axis``). Unless a function
says otherwise, ``y_true`` broadcasts with ``y_pred``, after Keras fixes a
rank off by one with a trailing axis of size 1. Each class takes Keras's
constructor arguments in Keras's order and defaults (``Cls(**options)``; see
``inspect.signature``), computes the per-sample loss with its function (the
class docstring names it) and then Keras's sample weighting and reduction.
Every class also takes:

* ``reduction``: ``"sum_over_batch_size"`` (the default; or ``"mean"``: the
  sum of the weighted per-sample losses divided by their number),
  ``"sum"``, ``"mean_with_sample_weight"`` (divided by the sum of the
  weights), ``"none"`` or ``None`` (unreduced). Keras's rules for the shape
  of ``sample_weight`` apply, and the masks that ``ignore_class``,
  ``Circle`` and Keras masking layers put on the per-sample losses leave
  those samples out of the count.
* ``name``: the loss's name (``None``: Keras's snake-case class name).
* ``dtype``: the compute dtype (default float32), a dtype name or a Keras
  ``DTypePolicy``; both inputs are cast to it. The ``dtype`` attribute
  holds the compute dtype, as Keras's ``Loss.dtype``.

A class is called ``loss(y_true, y_pred, sample_weight=None)``; its
instances are frozen (their options cannot change). The twins hold no math of
their own: they map arguments onto the core
functions of :mod:`jaxloss` (``binary_cross_entropy``,
``sigmoid_binary_cross_entropy``, ``categorical_cross_entropy``,
``softmax_cross_entropy``, ``sparse_softmax_cross_entropy``,
``poisson_nll``, ``kl_divergence``, ``squared_error``, ``absolute_error``,
``huber``, ``log_cosh``, ``cosine_distance``, ``hinge``, ``squared_hinge``,
``categorical_hinge``, ``sigmoid_focal_loss``, ``softmax_focal_loss``,
``binary_focal_cross_entropy``, ``categorical_focal_cross_entropy``,
``generalized_cross_entropy``, ``absolute_percentage_error``,
``squared_log_error``, ``dice``, ``tversky``, ``circle``, ``ctc``) and
:func:`jaxloss.reduce`, and do
Keras's argument plumbing (casting, shape rules, its mean over ``axis``,
its clip of the inputs of ``kl_divergence``). Values agree with Keras (float32,
relative error about 1e-6); where they differ it is on purpose:

* Probabilities clipped to ``[1e-7, 1 - 1e-7]`` (``from_logits=False``) and
  the inputs of ``kl_divergence`` clipped to ``[1e-7, 1]`` keep a gradient:
  the derivative of the formula at the clipped point. Keras's gradient there
  is exactly 0 (a prediction of exactly 0 or 1 stops learning).
* An integer label outside ``[0, num_classes)`` that is not ``ignore_class``
  gives ``nan`` for its example (Keras: a silent 0), for both values of
  ``from_logits``; ``jax.experimental.checkify`` with ``user_checks`` turns
  it into an error.
* A zero ``sample_weight`` drops its example even when its loss is ``inf`` or
  ``nan`` (Keras: ``0 * inf = nan``); a row of probabilities that are all 0
  gives ``-sum(y) * log(1e-7)`` (Keras: ``nan``); a ``-inf`` logit with zero
  label mass adds 0 (Keras: ``nan``).
* The classes cast their inputs to ``dtype`` (float32 by default) as Keras
  does; 16-bit inputs (to a function, or with a 16-bit ``dtype``) are
  computed in float32 and give float32, where Keras computes in 16 bits.
* ``label_smoothing`` outside ``[0, 1]``, Huber's ``delta <= 0`` and the
  focal losses' ``gamma < 0`` or ``alpha`` outside ``[0, 1]`` (binary) raise
  ``ValueError`` (Keras accepts them silently).
* The focal losses from logits: Keras takes ``sigmoid``/``softmax`` and then
  clips to ``[1e-7, 1 - 1e-7]``, so beyond a logit (gap) of about 15 its
  cross-entropy saturates near 16.1 with a zero gradient; the twins are
  exact there, and agree with Keras below. From probabilities they compute
  Keras's formula (clip included) with a gradient that survives the clip.
* ``categorical_generalized_cross_entropy`` gives ``nan`` for a label
  outside ``[0, num_classes)`` (Keras: a silent ``1 / q``).
* ``dice`` and ``tversky`` need ``y_true`` and ``y_pred`` of one shape
  (``ValueError``; Keras sums each input and their broadcast product
  separately, which for other shapes is not an overlap index); ``tversky``
  refuses a negative ``alpha`` or ``beta``.
* ``ctc`` gives ``inf`` for a labelling no alignment can produce (Keras's
  JAX code writes ``log 0`` as ``-1e5`` and gives a large finite number).
* Keras's ``Loss`` base class: ``keras.Model.compile`` uses an object as
  given only if it is a ``keras.losses.Loss``, so when Keras is already
  imported a twin is built as an instance of a subclass of its class and of
  ``keras.losses.Loss`` (same name and module; the twin's methods come
  first): ``model.compile(loss=losses.CategoricalCrossentropy(...))`` works on
  the JAX backend, with sample weights and masks. Every class is registered
  with Keras's serialization as ``"jaxloss>ClassName"`` (at import when Keras
  is loaded, else as soon as ``import keras`` has run), so a model saved with
  a twin reloads with ``keras.models.load_model(path)`` and no
  ``custom_objects`` in any process that has imported this module, which
  never imports Keras itself. ``get_config()`` holds every constructor
  argument but ``dtype``, as Keras's, which also drops ``Huber``'s ``delta``
  and the ``axis`` of ``CosineSimilarity`` and
  ``SparseCategoricalCrossentropy`` (those reload with their defaults in
  Keras; the twins keep them).
* Integer labels of every dtype (``int8`` to ``uint64``) are widened before
  anything compares them, so they give the values of ``int32`` labels
  (``int8`` labels index more than 127 classes), and ``ignore_class`` is
  compared with the widened integer label, where Keras compares in the
  float dtype of ``y_pred`` (in float16, labels above 2048 can collide).
* ``cosine_similarity`` refuses (``ValueError``) inputs that Keras would
  broadcast along ``axis``: Keras normalises each input before broadcasting,
  which is then not a cosine.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks
from jaxloss._primitives import clip_straight_through
from jaxloss.compat._keras_loss import (  # noqa: F401  (_twin_classes: the registered twin classes)
    _EPSILON,
    _NAMES,
    _as_pred,
    _broadcast_shape,
    _check_cosine_broadcast,
    _circle_labels,
    _class_labels,
    _hinge_labels,
    _inputs,
    _install_keras_registration,
    _KerasLoss,
    _overlap_inputs,
    _regression_inputs,
    _sparse_losses,
    _squeeze_or_expand,
    _twin_classes,
    _warn_one_class,
)
from jaxloss.compat._twin import twin

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CTC",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "CategoricalHinge",
    "Circle",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "categorical_hinge",
    "circle",
    "cosine_similarity",
    "ctc",
    "dice",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "tversky",
]


# --------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------


@twin(_NAMES, probabilities="y_pred", unless="from_logits")
def binary_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Binary cross-entropy averaged over ``axis``, as ``keras.losses.binary_crossentropy``.

    ``mean(bce(y_true, y_pred), axis)`` with the elementwise loss of
    :func:`jaxloss.sigmoid_binary_cross_entropy` (``from_logits=True``) or
    :func:`jaxloss.binary_cross_entropy` (probabilities clipped to
    ``[1e-7, 1 - 1e-7]``, whose gradient survives the clip). Labels are
    smoothed towards 1/2.

    Args:
      y_true: targets in ``[0, 1]``, the shape of ``y_pred``.
      y_pred: probabilities, or logits when ``from_logits``.
      from_logits: whether ``y_pred`` holds logits.
      label_smoothing: in ``[0, 1]``: ``y * (1 - a) + a / 2``.
      axis: the axis the mean is taken over.

    Raises:
      ValueError: if ``y_true`` and ``y_pred`` differ in shape (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.916, 0.714 ], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred, same_shape=True)
    core = jaxloss.sigmoid_binary_cross_entropy if from_logits else jaxloss.binary_cross_entropy
    return jnp.mean(core(y_pred, y_true, label_smoothing=label_smoothing), axis=axis)


@twin(_NAMES, probabilities="y_pred", unless="from_logits")
def categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Categorical cross-entropy, as ``keras.losses.categorical_crossentropy``.

    :func:`jaxloss.softmax_cross_entropy` from logits, or
    :func:`jaxloss.categorical_cross_entropy` from probabilities (renormalised
    along ``axis`` and clipped to ``[1e-7, 1 - 1e-7]`` like Keras, with a
    gradient that survives the clip). Like Keras, ``label_smoothing`` ``a``
    gives ``y * (1 - a) + a / K`` with ``K`` the size of the *last* axis of
    ``y_true``, whatever ``axis`` is.

    Args:
      y_true: one-hot or soft labels, the shape of ``y_pred``.
      y_pred: probabilities, or logits when ``from_logits``.
      from_logits: whether ``y_pred`` holds logits.
      label_smoothing: in ``[0, 1]``.
      axis: the class axis.

    Raises:
      ValueError: if the shapes differ, ``y_pred`` is a scalar or ``axis`` is a
        bool (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
      >>> losses.categorical_crossentropy(y_true, y_pred)
      Array([0.0513, 2.303 ], dtype=float32)
    """
    if isinstance(axis, bool):
        raise _checks.error(ValueError, f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_true, y_pred = _inputs(y_true, y_pred, same_shape=True)
    if y_pred.ndim < 1:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must be at least rank 1. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    _warn_one_class("categorical_crossentropy", y_pred)
    ax = _checks.check_axis(y_pred, axis, "y_pred")
    if y_pred.shape[ax] != y_pred.shape[-1] and not _checks.is_static_zero(label_smoothing):
        # Keras smooths with the size of the last axis even when `axis` is another
        # one: label conversion, then no smoothing in the core.
        _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
        label_smoothing = 0.0
    core = jaxloss.softmax_cross_entropy if from_logits else jaxloss.categorical_cross_entropy
    return core(y_pred, y_true, axis=ax, label_smoothing=label_smoothing)


@twin(
    _NAMES,
    labels="y_true",
    classes_in="y_pred",
    class_axis="axis",
    ignore_index="ignore_class",
    probabilities="y_pred",
    unless="from_logits",
)
def sparse_categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> jax.Array:
    """Cross-entropy with integer labels, as ``keras.losses.sparse_categorical_crossentropy``.

    From logits this is :func:`jaxloss.sparse_softmax_cross_entropy` (no
    one-hot). From probabilities Keras renormalises, clips to
    ``[1e-7, 1 - 1e-7]`` and takes a one-hot: the twin builds the one-hot and
    calls :func:`jaxloss.categorical_cross_entropy`, whose gradient survives the
    clip. Examples whose label is ``ignore_class`` give 0. A label outside
    ``[0, num_classes)`` gives ``nan`` for its example, where Keras gives a
    silent 0.

    Args:
      y_true: integer labels (float labels are truncated, as Keras does), the
        shape of ``y_pred`` without the class axis (a trailing axis of size 1
        is squeezed).
      y_pred: probabilities, or logits when ``from_logits``.
      from_logits: whether ``y_pred`` holds logits.
      ignore_class: optional label whose examples give 0.
      axis: the class axis.

    Raises:
      ValueError: if the label shape does not match ``y_pred`` (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
      Array([0.0513, 2.303 ], dtype=float32)
      >>> losses.sparse_categorical_crossentropy([1, 3], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
      Array([0.0513, nan], dtype=float32)
    """
    return _sparse_losses(y_true, y_pred, from_logits, ignore_class, axis)[0]


@twin(_NAMES)
def poisson(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Poisson loss averaged over the last axis, as ``keras.losses.poisson``.

    ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``:
    :func:`jaxloss.poisson_nll` with ``log_input=False`` and Keras's epsilon.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.poisson([[1.0, 0.0], [2.0, 1.0]], [[1.0, 0.5], [1.0, 2.0]])
      Array([0.75, 1.1534 ], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    losses = jaxloss.poisson_nll(y_pred, y_true, log_input=False, epsilon=_EPSILON)
    return jnp.mean(losses, axis=-1)


@twin(_NAMES)
def kl_divergence(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Kullback-Leibler divergence over the last axis, as ``keras.losses.kl_divergence``.

    ``sum(t * log(t / p), axis=-1)`` with ``t`` and ``p`` clipped to
    ``[1e-7, 1]`` as Keras does (so a zero target still adds
    ``1e-7 * log(1e-7 / p)``): :func:`jaxloss.kl_divergence` on the clipped
    inputs. The clip passes gradients straight through, so a prediction of
    exactly 0 still gets a (large, finite) gradient where Keras's is 0.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.kl_divergence([[0.5, 0.5], [1.0, 0.0]], [[0.25, 0.75], [0.5, 0.5]])
      Array([0.1438, 0.6931], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    shape = _broadcast_shape(y_true, y_pred, "y_true", "y_pred")
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    eps = jnp.asarray(_EPSILON, y_pred.dtype)
    one = jnp.asarray(1.0, y_pred.dtype)
    t = clip_straight_through(y_true, eps, one)
    p = clip_straight_through(y_pred, eps, one)
    # The core takes log-probabilities.
    return jaxloss.kl_divergence(jnp.log(p), t, axis=-1)


@twin(_NAMES)
def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean squared error over the last axis, as ``keras.losses.mean_squared_error``.

    ``mean(square(y_true - y_pred), axis=-1)``: :func:`jaxloss.squared_error`.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.5, 0.5], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.squared_error(y_pred, y_true), axis=-1)


@twin(_NAMES)
def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean absolute error over the last axis, as ``keras.losses.mean_absolute_error``.

    ``mean(abs(y_true - y_pred), axis=-1)``: :func:`jaxloss.absolute_error`.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_absolute_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.5, 0.5], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.absolute_error(y_pred, y_true), axis=-1)


@twin(_NAMES)
def huber(y_true: ArrayLike, y_pred: ArrayLike, delta: float = 1.0) -> jax.Array:
    """Huber loss averaged over the last axis, as ``keras.losses.huber``.

    ``mean(huber(y_pred - y_true), axis=-1)`` with :func:`jaxloss.huber`
    (quadratic within ``delta``, linear beyond; never squares a large error).

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions.
      delta: the switch point, ``> 0`` (Keras accepts ``delta <= 0``, for which
        its formula is not a Huber loss; the twin raises ``ValueError``).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.18 , 0.13000001], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.huber(y_pred, y_true, delta=delta), axis=-1)


@twin(_NAMES)
def log_cosh(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Log-cosh loss averaged over the last axis, as ``keras.losses.log_cosh``.

    ``mean(log(cosh(y_pred - y_true)), axis=-1)`` with :func:`jaxloss.log_cosh`.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
      Array([0.2169, 0.    ], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.log_cosh(y_pred, y_true), axis=-1)


@twin(_NAMES)
def cosine_similarity(y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1) -> jax.Array:
    """Negative cosine similarity along ``axis``, as ``keras.losses.cosine_similarity``.

    ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``, in ``[-1, 1]``
    (``-1`` for vectors pointing the same way). Keras normalises with the norm
    floored at ``1e-7``; that is :func:`jaxloss.cosine_distance` (which is
    ``1 - cos``) with its floor ``1e-14`` on the squared norm, minus 1. A zero
    vector gives 0.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions.
      axis: the vector axis.

    Returns:
      The loss per vector, the broadcast shape without ``axis``.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
      >>> y_pred = [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]
      >>> losses.cosine_similarity(y_true, y_pred)
      Array([ 0.        , -0.99999994,  1.        ], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    shape = _broadcast_shape(y_true, y_pred, "y_true", "y_pred")
    _check_cosine_broadcast(y_true, y_pred, shape, axis)
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    distance = jaxloss.cosine_distance(y_pred, y_true, axis=axis, epsilon=_EPSILON**2)
    return distance - 1.0


@twin(_NAMES)
def hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Hinge loss averaged over the last axis, as ``keras.losses.hinge``.

    ``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``: :func:`jaxloss.hinge`
    after Keras's label conversion (labels that are all 0 or 1 become -1 or
    1; otherwise they are used as given).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.hinge([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array([1.1, 0.7], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return jnp.mean(jaxloss.hinge(y_pred, y_true), axis=-1)


@twin(_NAMES)
def squared_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Squared hinge loss averaged over the last axis, as ``keras.losses.squared_hinge``.

    ``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``:
    :func:`jaxloss.squared_hinge` after Keras's label conversion (as in
    :func:`hinge`).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.squared_hinge([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array([1.46 , 0.97999996], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return jnp.mean(jaxloss.squared_hinge(y_pred, y_true), axis=-1)


@twin(_NAMES)
def categorical_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Categorical hinge loss over the last axis, as ``keras.losses.categorical_hinge``.

    ``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``:
    :func:`jaxloss.categorical_hinge` (no label conversion, as in Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.categorical_hinge([[0, 1, 0], [1, 0, 0]], [[0.2, 0.9, 0.1], [0.3, 0.5, 0.2]])
      Array([0.3, 1.2], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    shape = _broadcast_shape(y_true, y_pred, "y_true", "y_pred")
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    return jaxloss.categorical_hinge(y_pred, y_true, axis=-1)


@twin(_NAMES, probabilities="y_pred", unless="from_logits")
def binary_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Binary focal cross-entropy averaged over ``axis``, as ``keras.losses.binary_focal_crossentropy``.

    ``mean(w * (1 - p_t)^gamma * bce, axis)`` with ``w = alpha`` for the
    positive class and ``1 - alpha`` for the negative one when
    ``apply_class_balancing`` (else 1). Labels are smoothed towards 1/2
    first. From probabilities this is :func:`jaxloss.binary_focal_cross_entropy`
    (Keras's formula: the cross-entropy on probabilities clipped to
    ``[1e-7, 1 - 1e-7]``, the factor on the unclipped ones; where the clip
    makes Keras's gradient 0, the twin's is the formula's derivative at the
    clipped point). From logits it is :func:`jaxloss.sigmoid_focal_loss`:
    Keras computes that case as ``sigmoid`` followed by its clip, so for
    logits beyond about ``+-15`` its cross-entropy saturates near 16.1 (and
    its gradient is 0); the twin's is exact there. Below that the values
    agree.

    Args:
      y_true: targets in ``[0, 1]``, the shape of ``y_pred``.
      y_pred: probabilities, or logits when ``from_logits``.
      apply_class_balancing: whether to weight the classes by ``alpha``.
      alpha: weight of the positive class, in ``[0, 1]``.
      gamma: focusing parameter, ``>= 0``.
      from_logits: whether ``y_pred`` holds logits.
      label_smoothing: in ``[0, 1]``: ``y * (1 - a) + a / 2``.
      axis: the axis the mean is taken over.

    Raises:
      ValueError: if ``y_true`` and ``y_pred`` differ in shape (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.4, -0.4], [-0.4, 0.4]], from_logits=True)
      Array([0.3272, 0.2049], dtype=float32)
      >>> losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.3299, 0.2058], dtype=float32)
    """
    y_true, y_pred = _inputs(y_true, y_pred, same_shape=True)
    core = jaxloss.sigmoid_focal_loss if from_logits else jaxloss.binary_focal_cross_entropy
    losses = core(
        y_pred,
        y_true,
        alpha=alpha if apply_class_balancing else None,
        gamma=gamma,
        label_smoothing=label_smoothing,
    )
    return jnp.mean(losses, axis=axis)


@twin(_NAMES, probabilities="y_pred", unless="from_logits")
def categorical_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Categorical focal cross-entropy, as ``keras.losses.categorical_focal_crossentropy``.

    ``-sum(alpha * (1 - p)^gamma * y * log p, axis)``. From probabilities
    ``p`` is ``y_pred`` renormalised along ``axis`` and clipped to
    ``[1e-7, 1 - 1e-7]``: :func:`jaxloss.categorical_focal_cross_entropy`
    (whose gradient survives the clip). From logits ``p`` is their softmax:
    :func:`jaxloss.softmax_focal_loss`; Keras computes that case as a softmax
    followed by its clip, so where a labelled class has a probability below
    ``1e-7`` (a logit gap beyond about 16) Keras's loss saturates (and its
    gradient is 0); the twin's is exact there. ``alpha`` is a scalar or one
    weight per class. Like Keras, ``label_smoothing`` ``a`` gives
    ``y * (1 - a) + a / K`` with ``K`` the size of the *last* axis of
    ``y_true``, whatever ``axis`` is.

    Args:
      y_true: one-hot or soft labels, broadcastable to ``y_pred``.
      y_pred: probabilities, or logits when ``from_logits``.
      alpha: a scalar or a list of one weight per class. A per-class ``alpha``
        needs ``axis`` to be the last axis (Keras multiplies it along the last
        axis whatever ``axis`` is; that case raises ``ValueError`` here).
      gamma: focusing parameter, ``>= 0``.
      from_logits: whether ``y_pred`` holds logits.
      label_smoothing: in ``[0, 1]``.
      axis: the class axis.

    Raises:
      ValueError: if ``axis`` is a bool (as Keras) or the shapes do not
        broadcast.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.0, 3.0, 0.0], [1.0, 2.0, 0.0]]
      >>> losses.categorical_focal_crossentropy(y_true, y_pred, from_logits=True)
      Array([1.9461e-04, 4.9840e-01], dtype=float32)
      >>> losses.categorical_focal_crossentropy(y_true, [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
      Array([2.634e-04, 6.759e-01], dtype=float32)
    """
    if isinstance(axis, bool):
        raise _checks.error(ValueError, f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_true, y_pred = _inputs(y_true, y_pred)
    _warn_one_class("categorical_focal_crossentropy", y_pred)
    ax = _checks.check_axis(y_pred, axis, "y_pred")
    if np.ndim(alpha) > 0 and ax != y_pred.ndim - 1:
        raise _checks.error(
            ValueError,
            f"A per-class `alpha` needs the class axis to be the last one (Keras multiplies `alpha` "
            f"along the last axis). Received: alpha of shape {np.shape(alpha)}, axis={axis}, "
            f"y_pred.shape={y_pred.shape}",
        )
    if y_true.ndim >= 1 and y_true.shape[-1] != y_pred.shape[ax] and not _checks.is_static_zero(label_smoothing):
        # Keras smooths with the size of the last axis of y_true: label
        # conversion here, no smoothing in the core.
        _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
        label_smoothing = 0.0
    core = jaxloss.softmax_focal_loss if from_logits else jaxloss.categorical_focal_cross_entropy
    return core(y_pred, y_true, alpha=alpha, gamma=gamma, axis=ax, label_smoothing=label_smoothing)


@twin(_NAMES)
def categorical_generalized_cross_entropy(y_true: ArrayLike, y_pred: ArrayLike, q: float) -> jax.Array:
    """Generalized cross-entropy, as ``keras.losses.categorical_generalized_cross_entropy``.

    ``(1 - p_y**q) / q`` with ``p_y`` the probability ``y_pred`` gives the
    integer label ``y_true`` on the last axis (no renormalisation, no clip):
    :func:`jaxloss.generalized_cross_entropy`. Float labels are truncated to
    integers, as Keras casts them. Keras multiplies the one-hot of the labels
    into ``y_pred`` with broadcasting; the twin broadcasts the labels against
    ``y_pred`` without its last axis the same way (so labels ``[B, 1]`` with
    ``y_pred`` ``[B, C]`` give ``[B, B]``, as in Keras). A label outside
    ``[0, C)`` gives ``nan`` for its example (Keras: a silent ``1 / q``).

    Args:
      y_true: integer class labels, broadcastable to ``y_pred`` without its
        last axis.
      y_pred: probabilities ``[..., C]``.
      q: in ``(0, 1]`` (Keras's class needs ``0 < q < 1``).

    Returns:
      The loss per sample, the broadcast shape of the labels and ``y_pred``
      without its last axis.

    Raises:
      ValueError: if ``y_pred`` is a scalar or the shapes do not broadcast.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.categorical_generalized_cross_entropy([0, 1], [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], q=0.5)
      Array([0.3267, 1.3675 ], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    if y_pred.ndim < 1:
        raise _checks.error(
            ValueError, f"`y_pred` must be at least rank 1 (classes last). Received: y_pred.shape={y_pred.shape}"
        )
    # Keras: ops.cast(y_true, "int") (truncation); integer labels are widened.
    labels = _class_labels(jnp.asarray(y_true))
    batch = _broadcast_shape(labels, y_pred[..., 0], "y_true", "y_pred without its last axis")
    labels = jnp.broadcast_to(labels, batch)
    probs = jnp.broadcast_to(y_pred, (*batch, y_pred.shape[-1]))
    return jaxloss.generalized_cross_entropy(probs, labels, q=q, axis=-1)


@twin(_NAMES)
def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean absolute percentage error over the last axis, as ``keras.losses.mean_absolute_percentage_error``.

    ``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)``:
    :func:`jaxloss.absolute_percentage_error` with Keras's epsilon.

    Returns:
      The loss per sample (in percent), the broadcast shape without its last
      axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_absolute_percentage_error([[1.0, 2.0], [4.0, -1.0]], [[1.1, 2.0], [3.0, -1.5]])
      Array([ 5.0, 37.5 ], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.absolute_percentage_error(y_pred, y_true, epsilon=_EPSILON), axis=-1)


@twin(_NAMES)
def mean_squared_logarithmic_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean squared logarithmic error over the last axis, as ``keras.losses.mean_squared_logarithmic_error``.

    ``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2, axis=-1)``:
    :func:`jaxloss.squared_log_error` with Keras's epsilon. Below the floor
    (a negative prediction) Keras's gradient is 0; the twin's is the
    formula's derivative at the floor.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_squared_logarithmic_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.2402, 0.2402], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.squared_log_error(y_pred, y_true, epsilon=_EPSILON), axis=-1)


@twin(_NAMES)
def dice(y_true: ArrayLike, y_pred: ArrayLike, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    """Dice loss, as ``keras.losses.dice``.

    ``1 - 2 sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)`` over
    ``axis``: :func:`jaxloss.dice` with Keras's epsilon. The default
    ``axis=None`` reduces every axis (one number for the whole batch), as in
    Keras; pass ``axis`` to get one loss per sample. All-zero inputs give 1
    with a zero gradient.

    Args:
      y_true: binary or soft masks, the shape of ``y_pred``.
      y_pred: predicted probabilities.
      axis: an int, a tuple of ints, or ``None`` for all axes.

    Returns:
      The loss, ``y_pred`` without ``axis`` (a scalar for ``axis=None``).

    Raises:
      ValueError: if the shapes differ (Keras broadcasts their product, see
        above) or ``axis`` is out of range.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
      >>> y_pred = [[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]]
      >>> losses.dice(y_true, y_pred)
      Array(0.1053, dtype=float32)
      >>> losses.dice(y_true, y_pred, axis=-1)
      Array([0.1053, 1.    ], dtype=float32)
    """
    y_true, y_pred = _overlap_inputs(y_true, y_pred, "dice")
    return jaxloss.dice(y_pred, y_true, axis=axis, epsilon=_EPSILON)


@twin(_NAMES)
def tversky(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    """Tversky loss, as ``keras.losses.tversky``.

    ``1 - TP / (TP + alpha * sum((1 - y_pred) * y_true) + beta * sum(y_pred * (1 - y_true)) + 1e-7)``
    over ``axis``. Keras's ``alpha`` multiplies the false negatives and its
    ``beta`` the false positives, the other way round from
    :func:`jaxloss.tversky` (the paper's naming), so the twin calls
    ``jaxloss.tversky(y_pred, y_true, alpha=beta, beta=alpha)``. As in
    Keras the default ``axis=None`` reduces every axis.

    Args:
      y_true: binary or soft masks, the shape of ``y_pred``.
      y_pred: predicted probabilities.
      alpha: Keras's weight of ``sum((1 - y_pred) * y_true)`` (false
        negatives), ``>= 0``.
      beta: Keras's weight of ``sum(y_pred * (1 - y_true))`` (false
        positives), ``>= 0``.
      axis: an int, a tuple of ints, or ``None`` for all axes.

    Returns:
      The loss, ``y_pred`` without ``axis`` (a scalar for ``axis=None``).

    Raises:
      ValueError: if the shapes differ (as in :func:`dice`), ``alpha`` or
        ``beta`` is negative (Keras accepts them) or ``axis`` is out of range.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.tversky([[1.0, 0.0, 1.0]], [[0.9, 0.6, 0.0]], alpha=0.7, beta=0.3)
      Array(0.5135, dtype=float32)
    """
    y_true, y_pred = _overlap_inputs(y_true, y_pred, "tversky")
    # Checked here so that an error names Keras's argument, not the core's.
    _checks.check_range(alpha, "alpha", 0.0)
    _checks.check_range(beta, "beta", 0.0)
    return jaxloss.tversky(y_pred, y_true, alpha=beta, beta=alpha, axis=axis, epsilon=_EPSILON)


@twin(_NAMES)
def circle(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    ref_labels: ArrayLike | None = None,
    ref_embeddings: ArrayLike | None = None,
    remove_diagonal: bool = True,
    gamma: float = 80,
    margin: float = 0.4,
) -> jax.Array:
    """Circle loss per query embedding, as ``keras.losses.circle``.

    :func:`jaxloss.circle` (Sun et al. 2020, with Keras's weighting) of the
    embeddings ``y_pred`` labelled ``y_true`` against the references
    (``ref_embeddings``/``ref_labels``, or the batch itself). As in Keras the
    embeddings are not normalised here: pass unit vectors (Keras puts a
    ``UnitNormalization`` layer before the loss). Labels are truncated to
    integers, as Keras casts them to int32. A query without any positive or
    any negative gives 0.

    Args:
      y_true: ``[N]`` (or ``[N, 1]``) integer class labels.
      y_pred: ``[N, D]`` L2-normalised embeddings.
      ref_labels: optional ``[M]`` labels of the references (Keras's order:
        before ``ref_embeddings``).
      ref_embeddings: optional ``[M, D]`` L2-normalised reference embeddings.
      remove_diagonal: leave the pairs ``(i, i)`` out of the positives.
      gamma: the scale.
      margin: the relaxation.

    Returns:
      The loss per query, ``[N]``.

    Raises:
      ValueError: if the labels are not ``[N]``/``[N, 1]`` or the shapes do
        not fit (Keras fails on them too).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> e = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
      >>> losses.circle([0, 0, 1, 2], e, gamma=1.0)
      Array([0.9718, 1.0435, 0.    , 0.    ], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    labels = _circle_labels(y_true, "y_true")
    if ref_embeddings is not None:
        ref_embeddings = _as_pred(ref_embeddings)
    if ref_labels is not None:
        ref_labels = _circle_labels(ref_labels, "ref_labels")
    return jaxloss.circle(
        y_pred,
        labels,
        ref_embeddings=ref_embeddings,
        ref_labels=ref_labels,
        gamma=gamma,
        margin=margin,
        remove_diagonal=remove_diagonal,
    )


@twin(_NAMES)
def ctc(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """CTC loss per sequence, as ``keras.losses.ctc``.

    :func:`jaxloss.ctc` of the logits ``y_pred`` ``[B, T, C]`` (every frame
    used) and the labels ``y_true`` ``[B, N]`` with Keras's conventions: the
    blank is class 0, and a row's label length is its number of non-zero
    labels, whose first that many entries are used (right-padded with 0).
    Labellings no alignment can produce give ``inf`` (Keras, whose JAX code
    writes ``log 0`` as ``-1e5``, gives a large finite number); feasible ones
    agree.

    Args:
      y_true: ``[B, N]`` integer labels in ``[1, C)``, right-padded with 0
        (float labels are truncated, as Keras casts them to int32).
      y_pred: ``[B, T, C]`` logits (``log_softmax`` is taken inside).

    Returns:
      The loss per sequence, ``[B]``.

    Raises:
      ValueError: if ``y_true`` is not 2-D or ``y_pred`` not 3-D (as Keras).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> losses.ctc(jnp.array([[1, 2], [1, 0]]), jnp.zeros((2, 4, 3)))
      Array([1.6864, 2.0919], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true)
    if y_true.ndim != 2:
        raise _checks.error(
            ValueError,
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in integer "
            f"format. Received: y_true.shape={y_true.shape}",
        )
    if y_pred.ndim != 3:
        raise _checks.error(
            ValueError,
            "Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, num_classes)`. "
            f"Received: y_pred.shape={y_pred.shape}",
        )
    labels = _class_labels(y_true)
    # Keras: label_length = sum(y_true != 0); the core uses as many leading labels
    # as there are non-padding entries.
    return jaxloss.ctc(y_pred, labels, label_paddings=labels == 0, blank_id=0)


# --------------------------------------------------------------------------
# classes
# --------------------------------------------------------------------------


class BinaryCrossentropy(_KerasLoss):
    """``keras.losses.BinaryCrossentropy``: :func:`binary_crossentropy`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> bce = losses.BinaryCrossentropy(from_logits=True)
      >>> y_true, y_pred = [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
      >>> bce(y_true, y_pred)
      Array(0.865, dtype=float32)
      >>> bce(y_true, y_pred, sample_weight=[0.8, 0.2])
      Array(0.243, dtype=float32)
    """

    function = staticmethod(binary_crossentropy)
    from_logits: bool = False
    label_smoothing: float = 0.0
    axis: int = -1
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "binary_crossentropy"
    dtype: Any = None


class CategoricalCrossentropy(_KerasLoss):
    """``keras.losses.CategoricalCrossentropy``: :func:`categorical_crossentropy`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
      >>> losses.CategoricalCrossentropy()(y_true, y_pred)
      Array(1.177, dtype=float32)
      >>> losses.CategoricalCrossentropy(reduction=None)(y_true, y_pred)
      Array([0.0513, 2.303 ], dtype=float32)
    """

    function = staticmethod(categorical_crossentropy)
    from_logits: bool = False
    label_smoothing: float = 0.0
    axis: int = -1
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "categorical_crossentropy"
    dtype: Any = None


class SparseCategoricalCrossentropy(_KerasLoss):
    """``keras.losses.SparseCategoricalCrossentropy``: :func:`sparse_categorical_crossentropy`, reduced.

    With ``ignore_class``, Keras masks the ignored samples: ``"sum_over_batch_size"``
    and ``"mean"`` then divide by the number of samples that are *not*
    ignored, ``"mean_with_sample_weight"`` by the sum of their weights.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
      >>> losses.SparseCategoricalCrossentropy()([1, 2], y_pred)
      Array(1.177, dtype=float32)
      >>> losses.SparseCategoricalCrossentropy(ignore_class=2)([1, 2], y_pred)
      Array(0.0513, dtype=float32)
    """

    function = staticmethod(sparse_categorical_crossentropy)
    from_logits: bool = False
    ignore_class: int | None = None
    reduction: str | None = "sum_over_batch_size"
    axis: int = -1
    name: str | None = "sparse_categorical_crossentropy"
    dtype: Any = None

    def _losses(self, y_true, y_pred):
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        return _sparse_losses(y_true, y_pred, self.from_logits, self.ignore_class, self.axis)


class Poisson(_KerasLoss):
    """``keras.losses.Poisson``: :func:`poisson`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Poisson()([[1.0, 0.0], [2.0, 1.0]], [[1.0, 0.5], [1.0, 2.0]])
      Array(0.9517, dtype=float32)
    """

    function = staticmethod(poisson)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "poisson"
    dtype: Any = None


class KLDivergence(_KerasLoss):
    """``keras.losses.KLDivergence``: :func:`kl_divergence`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.KLDivergence()([[0.5, 0.5], [1.0, 0.0]], [[0.25, 0.75], [0.5, 0.5]])
      Array(0.4185, dtype=float32)
    """

    function = staticmethod(kl_divergence)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "kl_divergence"
    dtype: Any = None


class MeanSquaredError(_KerasLoss):
    """``keras.losses.MeanSquaredError``: :func:`mean_squared_error`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(0.5, dtype=float32)
    """

    function = staticmethod(mean_squared_error)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "mean_squared_error"
    dtype: Any = None


class MeanAbsoluteError(_KerasLoss):
    """``keras.losses.MeanAbsoluteError``: :func:`mean_absolute_error`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanAbsoluteError(reduction="sum")([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(1., dtype=float32)
    """

    function = staticmethod(mean_absolute_error)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "mean_absolute_error"
    dtype: Any = None


class Huber(_KerasLoss):
    """``keras.losses.Huber``: :func:`huber`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array(0.155, dtype=float32)
    """

    function = staticmethod(huber)
    delta: float = 1.0
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "huber_loss"
    dtype: Any = None


class LogCosh(_KerasLoss):
    """``keras.losses.LogCosh``: :func:`log_cosh`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
      Array(0.1085, dtype=float32)
    """

    function = staticmethod(log_cosh)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "log_cosh"
    dtype: Any = None


class CosineSimilarity(_KerasLoss):
    """``keras.losses.CosineSimilarity``: :func:`cosine_similarity`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CosineSimilarity()([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
      Array(-0.5, dtype=float32)
    """

    function = staticmethod(cosine_similarity)
    axis: int = -1
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "cosine_similarity"
    dtype: Any = None


class Hinge(_KerasLoss):
    """``keras.losses.Hinge``: :func:`hinge` ({0, 1} labels become {-1, 1}), then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Hinge()([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array(0.9, dtype=float32)
    """

    function = staticmethod(hinge)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "hinge"
    dtype: Any = None


class SquaredHinge(_KerasLoss):
    """``keras.losses.SquaredHinge``: :func:`squared_hinge`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.SquaredHinge()([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array(1.22, dtype=float32)
    """

    function = staticmethod(squared_hinge)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "squared_hinge"
    dtype: Any = None


class CategoricalHinge(_KerasLoss):
    """``keras.losses.CategoricalHinge``: :func:`categorical_hinge`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CategoricalHinge()([[0, 1, 0], [1, 0, 0]], [[0.2, 0.9, 0.1], [0.3, 0.5, 0.2]])
      Array(0.75, dtype=float32)
    """

    function = staticmethod(categorical_hinge)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "categorical_hinge"
    dtype: Any = None


class BinaryFocalCrossentropy(_KerasLoss):
    """``keras.losses.BinaryFocalCrossentropy``: :func:`binary_focal_crossentropy`, then weighted and reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> loss = losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
      >>> loss([[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]])
      Array(0.6912, dtype=float32)
    """

    function = staticmethod(binary_focal_crossentropy)
    apply_class_balancing: bool = False
    alpha: float = 0.25
    gamma: float = 2.0
    from_logits: bool = False
    label_smoothing: float = 0.0
    axis: int = -1
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "binary_focal_crossentropy"
    dtype: Any = None


class CategoricalFocalCrossentropy(_KerasLoss):
    """``keras.losses.CategoricalFocalCrossentropy``: :func:`categorical_focal_crossentropy`, reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.0, 3.0, 0.0], [1.0, 2.0, 0.0]]
      >>> losses.CategoricalFocalCrossentropy(from_logits=True)(y_true, y_pred)
      Array(0.2493, dtype=float32)
    """

    function = staticmethod(categorical_focal_crossentropy)
    alpha: Any = 0.25
    gamma: float = 2.0
    from_logits: bool = False
    label_smoothing: float = 0.0
    axis: int = -1
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "categorical_focal_crossentropy"
    dtype: Any = None


class CategoricalGeneralizedCrossEntropy(_KerasLoss):
    """``keras.losses.CategoricalGeneralizedCrossEntropy``: :func:`categorical_generalized_cross_entropy`.

    Then weighted and reduced; ``q`` outside ``(0, 1)`` raises ``ValueError``
    (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CategoricalGeneralizedCrossEntropy(q=0.5)([0, 1], [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
      Array(0.8471, dtype=float32)
    """

    function = staticmethod(categorical_generalized_cross_entropy)
    q: float = 0.5
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "categorical_generalized_cross_entropy"
    dtype: Any = None

    def __post_init__(self) -> None:
        if not 0 < self.q < 1:
            raise _checks.error(ValueError, "q must be in the interval (0, 1)")
        super().__post_init__()


class MeanAbsolutePercentageError(_KerasLoss):
    """``keras.losses.MeanAbsolutePercentageError``: :func:`mean_absolute_percentage_error`, reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanAbsolutePercentageError()([[1.0, 2.0], [4.0, -1.0]], [[1.1, 2.0], [3.0, -1.5]])
      Array(21.25, dtype=float32)
    """

    function = staticmethod(mean_absolute_percentage_error)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "mean_absolute_percentage_error"
    dtype: Any = None


class MeanSquaredLogarithmicError(_KerasLoss):
    """``keras.losses.MeanSquaredLogarithmicError``: :func:`mean_squared_logarithmic_error`, reduced.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanSquaredLogarithmicError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(0.2402, dtype=float32)
    """

    function = staticmethod(mean_squared_logarithmic_error)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "mean_squared_logarithmic_error"
    dtype: Any = None


class Dice(_KerasLoss):
    """``keras.losses.Dice``: :func:`dice` over ``axis``, then weighted and reduced.

    With the default ``axis=None`` the loss is one number for the whole batch
    (a per-sample ``sample_weight`` then multiplies it); pass e.g.
    ``axis=(1, 2)`` for one loss per sample.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
      >>> y_pred = [[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]]
      >>> losses.Dice(axis=-1)(y_true, y_pred)
      Array(0.5526, dtype=float32)
    """

    function = staticmethod(dice)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "dice"
    axis: int | tuple[int, ...] | None = None
    dtype: Any = None


class Tversky(_KerasLoss):
    """``keras.losses.Tversky``: :func:`tversky` over ``axis``, then weighted and reduced.

    ``alpha`` weighs the false negatives, ``beta`` the false positives (see
    :func:`tversky`). As for :class:`Dice`, the default ``axis=None`` gives
    one number for the whole batch.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Tversky(alpha=0.7, beta=0.3)([[1.0, 0.0, 1.0]], [[0.9, 0.6, 0.0]])
      Array(0.5135, dtype=float32)
    """

    function = staticmethod(tversky)
    alpha: float = 0.5
    beta: float = 0.5
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "tversky"
    axis: int | tuple[int, ...] | None = None
    dtype: Any = None


class Circle(_KerasLoss):
    """``keras.losses.Circle``: :func:`circle` per query, then weighted and reduced.

    Like Keras, the per-query losses are masked where they are 0 (queries
    without a positive or a negative, or already satisfied), so
    ``"sum_over_batch_size"`` and ``"mean"`` divide by the number of
    non-zero losses and ``"mean_with_sample_weight"`` by the sum of their
    weights. The embeddings are not normalised: pass unit vectors.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> e = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
      >>> losses.Circle(gamma=1.0)([0, 0, 1, 2], e)
      Array(1.0076, dtype=float32)
    """

    function = staticmethod(circle)
    gamma: float = 80.0
    margin: float = 0.4
    remove_diagonal: bool = True
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "circle"
    dtype: Any = None

    def _losses(self, y_true, y_pred):
        losses, _ = super()._losses(y_true, y_pred)
        # keras.losses.circle sets the Keras mask `loss > 0` on its result.
        return losses, losses > 0


class CTC(_KerasLoss):
    """``keras.losses.CTC``: :func:`ctc` per sequence, then weighted and reduced.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> losses.CTC()(jnp.array([[1, 2], [1, 0]]), jnp.zeros((2, 4, 3)))
      Array(1.8891, dtype=float32)
    """

    function = staticmethod(ctc)
    reduction: str | None = "sum_over_batch_size"
    name: str | None = "ctc"
    dtype: Any = None


_install_keras_registration()
