"""Drop-in twins of Keras 3's ``keras.losses``, order ``(y_true, y_pred)``.

The classes take Keras's constructor arguments (``from_logits``,
``label_smoothing``, ``axis``, ``ignore_class``, ``q``, ``alpha``, ``beta``,
``gamma``, ``margin``, ``reduction``, ``name``, ``dtype``, ...), are called
``loss(y_true, y_pred, sample_weight=None)`` and return what Keras 3
returns, including its rules for the shape of ``sample_weight``, its
reductions and the masks that ``ignore_class`` and ``Circle`` put on the
per-sample loss. The functions return Keras's per-sample losses. So a
port changes only the import::

    # from keras import losses
    from jaxloss.compat import keras as losses

The twins hold no math of their own: they map arguments onto the core
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
  given only if it is a ``keras.losses.Loss``. When Keras is already imported,
  a twin is therefore built as an instance of a subclass of its class and of
  ``keras.losses.Loss`` (same name and module; the twin's methods come first),
  so ``model.compile(loss=losses.CategoricalCrossentropy(...))`` works on the
  JAX backend, with sample weights and the masks of masking layers. Every
  class is registered with Keras's serialization as ``"jaxloss>ClassName"``
  (at import when Keras is loaded, else as soon as ``import keras`` has run),
  so a model compiled with a twin and saved with ``model.save`` reloads with
  ``keras.models.load_model(path)`` and no ``custom_objects``, in any process
  that has imported this module. This module never imports Keras itself.
  ``get_config()`` holds every constructor argument but ``dtype`` (as
  Keras's, which also drops ``Huber``'s ``delta`` and the ``axis`` of
  ``CosineSimilarity`` and ``SparseCategoricalCrossentropy``, so those
  reload with their defaults in Keras; the twins keep them).
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

import importlib.util
import inspect
import re
import sys
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks
from jaxloss._primitives import clip_straight_through

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


# keras.backend.epsilon()
_EPSILON = 1e-7
# keras.src.losses.loss.standardize_reduction
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")
# Stands for an ignored label inside the sparse twin; no class index can equal it.
_IGNORED = int(np.iinfo(np.int32).min)


# --------------------------------------------------------------------------
# Keras's argument plumbing (shapes, dtypes, reductions)
# --------------------------------------------------------------------------


def _standardize_reduction(reduction: Any) -> Any:
    if reduction not in _REDUCTIONS:
        raise _checks.error(
            ValueError,
            "Invalid value for argument `reduction`. Expected one of "
            f"{set(_REDUCTIONS)}. Received: reduction={reduction!r}",
        )
    return reduction


def _compute_dtype(dtype: Any) -> str:
    """Keras's ``dtype`` argument: a dtype name or a DTypePolicy (its compute dtype)."""
    if dtype is None:
        return "float32"  # keras.backend.floatx()
    if hasattr(dtype, "compute_dtype"):
        return str(dtype.compute_dtype)
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        return dtype[len("mixed_") :]
    return jnp.dtype(dtype).name


def _snake_case(name: str) -> str:
    # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _as_pred(y_pred: ArrayLike) -> jax.Array:
    """``ops.convert_to_tensor(y_pred)``; a non-float input becomes float32 (floatx)."""
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(jnp.float32)
    return y_pred


def _squeeze_or_expand(x1: jax.Array, x2: jax.Array, expand_rank_1: bool = True):
    """keras.src.losses.loss.squeeze_or_expand_to_same_rank: fixes a rank off by one."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def _broadcast_shape(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise _checks.error(
            ValueError,
            f"`{name_a}` of shape {tuple(a.shape)} and `{name_b}` of shape {tuple(b.shape)} do not "
            "broadcast together (Keras multiplies them with numpy broadcasting, aligned on the "
            "last axis, after squeezing or expanding a last axis of size 1).",
        ) from None


def _reduce_weighted(values, sample_weight, mask, reduction, dtype):
    """keras.src.losses.loss.reduce_weighted_values, on :func:`jaxloss.reduce`.

    Keras merges the mask into the sample weights and then multiplies them into
    the per-sample losses, with its own shape rules; this follows the same
    shape steps and hands the weights and the mask to :func:`jaxloss.reduce`.
    Keras's ``"sum_over_batch_size"`` with a mask scales valid weights by
    ``total / valid`` and divides by the size of the weighted losses, which is
    ``sum(loss * w) / (number of unmasked entries)``: ``reduce``'s ``"mean"``
    with ``where``.
    """
    values = jnp.asarray(values, dtype)
    sw = None if sample_weight is None else jnp.asarray(sample_weight, dtype)
    where = None if mask is None else jnp.asarray(mask, bool)
    if where is not None and sw is not None:
        # apply_mask: mask and weights are brought to a common rank and multiplied.
        where, sw = _squeeze_or_expand(where, sw)
        shape = _broadcast_shape(where, sw, "mask", "sample_weight")
        where, sw = jnp.broadcast_to(where, shape), jnp.broadcast_to(sw, shape)
    # The merged weights (Keras's `sample_weight` after apply_mask).
    merged = sw if sw is not None else where
    if merged is None:
        weighted_shape = values.shape
        merged_size = values.size
    else:
        merged_size = merged.size
        values, merged_sq = _squeeze_or_expand(values, merged)
        if sw is not None:
            sw = sw.reshape(merged_sq.shape)
        if where is not None:
            where = where.reshape(merged_sq.shape)
        weighted_shape = _broadcast_shape(values, merged_sq, "losses", "sample_weight")
        values = jnp.broadcast_to(values, weighted_shape)

    if reduction is None or reduction == "none" or weighted_shape in ((), (0,)):
        # Keras returns the weighted losses unreduced for a scalar or empty loss.
        return jaxloss.reduce(values, sw, reduction="none", where=where)
    if reduction == "sum":
        return jaxloss.reduce(values, sw, reduction="sum", where=where)
    if reduction in ("sum_over_batch_size", "mean") or merged is None:
        return jaxloss.reduce(values, sw, reduction="mean", where=where)
    # "mean_with_sample_weight": Keras divides by the sum of its merged weights
    # before they are broadcast against the losses; `reduce` divides by the sum
    # of the broadcast weights, larger by the (static) broadcast factor.
    out = jaxloss.reduce(values, sw, reduction="weighted_mean", where=where)
    factor = values.size / merged_size if merged_size else 1.0
    return out if factor == 1.0 else out * jnp.asarray(factor, out.dtype)


def _keras_loss_base() -> type | None:
    """``keras.losses.Loss`` when Keras is already imported, else None (never imports Keras)."""
    module = sys.modules.get("keras.src.losses.loss")
    base = getattr(module, "Loss", None)
    return base if isinstance(base, type) else None


def _keras_input_mask(y_pred: Any) -> Any:
    """The Keras mask a masking layer put on ``y_pred`` (None without Keras)."""
    backend = sys.modules.get("keras.src.backend")
    get_mask = getattr(backend, "get_keras_mask", None)
    return None if get_mask is None else get_mask(y_pred)


# twin class -> its subclass that also derives from keras.losses.Loss
_KERAS_SUBCLASSES: dict[type, type] = {}


def _new_twin(cls: Any) -> Any:
    """Unpickling/copying helper: a bare instance, bridged to Keras as ``cls(...)`` is."""
    return cls.__new__(cls)


# --------------------------------------------------------------------------
# Keras serialization: ``model.save`` / ``keras.models.load_model``
# --------------------------------------------------------------------------

# Every twin class (and its Keras-bridged subclass) is registered with Keras
# as "jaxloss>ClassName", so a model compiled with a twin and saved reloads
# with `keras.models.load_model(path)` and no `custom_objects`, as long as
# this module is imported in the loading process. Registering needs Keras
# loaded, and this module never imports Keras: it registers at once if Keras
# is already imported, and otherwise when `import keras` has run (see
# _RegisterOnKerasImport); without Keras installed nothing happens at all.
_KERAS_PACKAGE = "jaxloss"


def _keras_saving() -> Any:
    """``keras.saving`` when Keras has been imported, else None (never imports Keras)."""
    saving = getattr(sys.modules.get("keras"), "saving", None)
    return saving if hasattr(saving, "register_keras_serializable") else None


def _register_with_keras(classes: Any) -> None:
    """Registers each class as ``jaxloss>ClassName`` with Keras (idempotent; a no-op without Keras)."""
    saving = _keras_saving()
    if saving is None:
        return
    for cls in classes:
        saving.register_keras_serializable(package=_KERAS_PACKAGE, name=cls.__name__)(cls)


def _twin_classes() -> list[type]:
    module = sys.modules[__name__]
    return [c for c in (getattr(module, n, None) for n in __all__) if isinstance(c, type) and issubclass(c, _KerasLoss)]


def _register_twins() -> None:
    _register_with_keras(_twin_classes())


class _RegisterOnKerasImport:
    """A ``sys.meta_path`` entry that registers the twins once ``import keras`` has run.

    It finds no module itself: for the top-level name ``keras`` it takes the
    spec the other finders give and wraps its loader so that, once the Keras
    package has executed, the twin classes are registered; it then gives the
    module its own loader back and removes itself from ``sys.meta_path``.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenRegister(spec.loader, self)
        return spec


class _ThenRegister:
    """Keras's own loader, followed by :func:`_register_twins`."""

    def __init__(self, loader: Any, finder: _RegisterOnKerasImport):
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # The module keeps Keras's loader (for importlib.resources, inspect, reload).
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        try:
            _register_twins()
        except Exception as err:  # never break `import keras`
            warnings.warn(
                f"jaxloss.compat.keras could not register its loss classes with Keras ({err!r}); "
                "pass them to `keras.models.load_model` as `custom_objects`.",
                RuntimeWarning,
                stacklevel=2,
            )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _install_keras_registration() -> None:
    """Registers the twins now if Keras is loaded, else once it is (only if it is installed)."""
    if _keras_saving() is not None:
        _register_twins()
        return
    if "keras" in sys.modules:  # being imported, or blocked (None): nothing to wait for
        return
    if any(isinstance(f, _RegisterOnKerasImport) for f in sys.meta_path):
        return
    try:
        installed = importlib.util.find_spec("keras") is not None  # looks for it, never imports it
    except (ImportError, ValueError):
        installed = False
    if installed:
        sys.meta_path.insert(0, _RegisterOnKerasImport())


@_checks.declare(non_negative=("sample_weight",))
class _KerasLoss:
    """keras.losses.Loss / LossFunctionWrapper, on the functions of this module.

    ``keras.Model.compile(loss=...)`` keeps an object as it is only when it is a
    ``keras.losses.Loss``; any other callable is wrapped in a
    ``LossFunctionWrapper`` that drops the ``sample_weight`` and reduces the
    already reduced value again. So when Keras is already imported, a twin is
    created as an instance of a subclass of its class *and* of
    ``keras.losses.Loss`` (made once per class, with the same name, module
    and qualified name). The twin's own methods come first in its method
    resolution order, so it computes exactly as without Keras; Keras only
    sees a ``Loss``. Keras is never imported here: without it (the core
    install) the twin is a plain object.
    """

    # The module-level function a class computes with (a staticmethod in each subclass).
    fn: Any = None

    def __new__(cls, *args: Any, **kwargs: Any):
        del args, kwargs  # __init__ takes them
        base = _keras_loss_base()
        if base is None or issubclass(cls, base):
            return super().__new__(cls)
        bridged = _KERAS_SUBCLASSES.get(cls)
        if bridged is None:
            namespace = {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "_twin_class": cls,
            }
            bridged = _KERAS_SUBCLASSES[cls] = type(cls.__name__, (cls, base), namespace)
            # Keras serializes an object under the registered name of its exact
            # class: the bridged class is registered under the twin's name.
            _register_with_keras([*_twin_classes(), bridged])
        return super().__new__(bridged)

    def __init__(self, name: str | None, reduction: Any, dtype: Any):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = _standardize_reduction(reduction)
        self._dtype_arg = dtype
        self._dtype = _compute_dtype(dtype)

    @property
    def dtype(self) -> str:
        return self._dtype

    def _fn_kwargs(self) -> dict[str, Any]:
        return {}

    def _losses(self, y_true, y_pred):
        """The per-sample losses and the mask Keras sets on them (or None)."""
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        return type(self).fn(y_true, y_pred, **self._fn_kwargs()), None

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None):
        in_mask = _keras_input_mask(y_pred)
        y_pred = jnp.asarray(y_pred, self._dtype)
        y_true = jnp.asarray(y_true, self._dtype)
        with _checks.argument_names(**_ARGUMENT_NAMES):
            losses, mask = self._losses(y_true, y_pred)
        if in_mask is not None:
            # keras.losses.Loss.__call__: the mask of y_pred and of the losses, combined.
            in_mask = jnp.asarray(in_mask, bool)
            mask = in_mask if mask is None else in_mask & mask
        return _reduce_weighted(losses, sample_weight, mask, self.reduction, self._dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __reduce__(self):
        # A Keras-bridged class is not reachable by name: rebuild from the twin
        # class (bridged again if Keras is loaded) and the instance's state.
        twin = type(self).__dict__.get("_twin_class", type(self))
        return (_new_twin, (twin,), dict(self.__dict__))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------


@_checks.declare(probabilities="y_pred", unless="from_logits")
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

    Returns:
      The loss per sample, ``y_pred`` without ``axis``.

    Raises:
      ValueError: if ``y_true`` and ``y_pred`` differ in shape (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.916, 0.714 ], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    core = jaxloss.sigmoid_binary_cross_entropy if from_logits else jaxloss.binary_cross_entropy
    return jnp.mean(core(y_pred, y_true, label_smoothing=label_smoothing), axis=axis)


@_checks.declare(probabilities="y_pred", unless="from_logits")
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

    Returns:
      The loss per sample, ``y_pred`` without ``axis``.

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
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    if y_pred.ndim < 1:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must be at least rank 1. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    if y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) "
            f"with num_classes > 1. Received: y_pred.shape={y_pred.shape}. "
            "Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    ax = _checks.check_axis(y_pred, axis, "y_pred")
    if y_pred.shape[ax] != y_pred.shape[-1] and not _checks.is_static_zero(label_smoothing):
        # Keras smooths with the size of the last axis even when `axis` is another
        # one: label conversion, then no smoothing in the core.
        _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
        label_smoothing = 0.0
    core = jaxloss.softmax_cross_entropy if from_logits else jaxloss.categorical_cross_entropy
    return core(y_pred, y_true, axis=ax, label_smoothing=label_smoothing)


def _class_labels(y_true: jax.Array) -> jax.Array:
    """Class labels as integers, as Keras casts them to int32 (float labels are truncated).

    Integer labels of every dtype are widened here, before anything compares
    them (to int32, or int64 for 64-bit labels under ``jax_enable_x64``): an
    ``int8`` label then indexes more than 127 classes, and an
    ``ignore_class`` or a class count is never cast to an 8- or 16-bit dtype.
    """
    if jnp.issubdtype(y_true.dtype, jnp.integer):
        return y_true.astype(_checks.label_dtype(y_true.dtype))
    return y_true.astype(jnp.int32)


def _not_ignored(y_true: jax.Array, labels: jax.Array, ignore_class: Any, pred_dtype: Any) -> jax.Array:
    """Keras's ``y_true != ignore_class``: True for the examples that count.

    Integer labels are compared after widening (``labels``) with the integer
    ``ignore_class``; one that is not an integer, or lies outside the widened
    dtype, matches no integer label. Float labels are compared before the
    cast, in the promoted dtype of the labels and ``y_pred`` (as Keras does,
    spelled out so that it also runs under strict dtype promotion).
    """
    if jnp.issubdtype(y_true.dtype, jnp.integer) and not isinstance(ignore_class, jax.core.Tracer):
        value = np.asarray(ignore_class)
        if value.shape == () and value.dtype.kind in "biuf":
            number = value.item()
            info = np.iinfo(labels.dtype)
            if float(number).is_integer() and info.min <= number <= info.max:
                return labels != jnp.asarray(int(number), labels.dtype)
            return jnp.ones(labels.shape, bool)
        y_true = labels
    common = _checks.result_type(y_true.dtype, pred_dtype)
    return y_true.astype(common) != jnp.asarray(ignore_class, common)


def _sparse_losses(y_true, y_pred, from_logits, ignore_class, axis):
    """keras.losses.sparse_categorical_crossentropy: the losses and the valid mask."""
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true)
    if y_pred.ndim < 1:
        raise _checks.error(
            ValueError, f"Argument `output` must be at least rank 1. Received: output.shape={y_pred.shape}"
        )
    ax = _checks.check_axis(y_pred, axis, "y_pred")
    if y_true.ndim == y_pred.ndim and y_true.shape[ax] == 1:
        y_true = jnp.squeeze(y_true, ax)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    if y_true.shape != y_pred.shape[:-1]:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must have the same shape up until the last dimension: "
            f"target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    if len(set(y_pred.shape[ax:])) > 1:
        # Keras checks the labels against y_pred.shape[:-1] but puts the one-hot
        # on `axis`; the two agree only when the trailing sizes are equal.
        raise _checks.error(
            ValueError,
            f"With axis={axis}, Keras needs y_pred.shape[{ax}:] to be equal sizes so that labels "
            f"of shape y_pred.shape[:-1] line up with the class axis. Received: "
            f"target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    # Keras casts the labels to int32 (truncating float labels).
    labels = _class_labels(y_true)
    valid = None
    if ignore_class is not None:
        valid = _not_ignored(y_true, labels, ignore_class, y_pred.dtype)
        labels = jnp.where(valid, labels, _IGNORED)
    if from_logits:
        losses = jaxloss.sparse_softmax_cross_entropy(
            y_pred, labels, axis=ax, ignore_index=None if valid is None else _IGNORED
        )
        return losses, valid
    # From probabilities Keras renormalises, clips and takes a one-hot: label
    # conversion here, the math in the core. An ignored label becomes a row of
    # zeros (loss exactly 0); a label outside [0, K) becomes a row of nan, so its
    # example is nan as with from_logits=True (Keras: a silent 0).
    num_classes = y_pred.shape[ax]
    kept = jnp.ones(labels.shape, bool) if valid is None else valid
    _checks.check_labels_in_range(labels, num_classes, kept)
    out_of_range = kept & ((labels < 0) | (labels >= num_classes))
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=y_pred.dtype, axis=ax)
    one_hot = jnp.where(jnp.expand_dims(out_of_range, ax), jnp.nan, one_hot)
    return jaxloss.categorical_cross_entropy(y_pred, one_hot, axis=ax), valid


@_checks.declare(
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

    Returns:
      The loss per sample, ``y_pred`` without ``axis``.

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


def poisson(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Poisson loss averaged over the last axis, as ``keras.losses.poisson``.

    ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``:
    :func:`jaxloss.poisson_nll` with ``log_input=False`` and Keras's epsilon.

    Args:
      y_true: observed counts, broadcastable with ``y_pred``.
      y_pred: predicted rates (``>= 0``).

    Returns:
      The loss per sample, the inputs without their last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.poisson([[1.0, 0.0], [2.0, 1.0]], [[1.0, 0.5], [1.0, 2.0]])
      Array([0.75, 1.1534 ], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    losses = jaxloss.poisson_nll(y_pred, y_true, log_input=False, epsilon=_EPSILON)
    return jnp.mean(losses, axis=-1)


def kl_divergence(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Kullback-Leibler divergence over the last axis, as ``keras.losses.kl_divergence``.

    ``sum(t * log(t / p), axis=-1)`` with ``t`` and ``p`` clipped to
    ``[1e-7, 1]`` as Keras does (so a zero target still adds
    ``1e-7 * log(1e-7 / p)``): :func:`jaxloss.kl_divergence` on the clipped
    inputs. The clip passes gradients straight through, so a prediction of
    exactly 0 still gets a (large, finite) gradient where Keras's is 0.

    Args:
      y_true: target distributions, broadcastable with ``y_pred``.
      y_pred: predicted distributions.

    Returns:
      The divergence per sample, the inputs without their last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.kl_divergence([[0.5, 0.5], [1.0, 0.0]], [[0.25, 0.75], [0.5, 0.5]])
      Array([0.1438, 0.6931], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    shape = _broadcast_shape(y_true, y_pred, "y_true", "y_pred")
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    eps = jnp.asarray(_EPSILON, y_pred.dtype)
    one = jnp.asarray(1.0, y_pred.dtype)
    t = clip_straight_through(y_true, eps, one)
    p = clip_straight_through(y_pred, eps, one)
    # The core takes log-probabilities.
    return jaxloss.kl_divergence(jnp.log(p), t, axis=-1)


def _regression_inputs(y_true: ArrayLike, y_pred: ArrayLike):
    """Keras's casting and ``squeeze_or_expand_to_same_rank`` for the regression losses."""
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return _squeeze_or_expand(y_true, y_pred)


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean squared error over the last axis, as ``keras.losses.mean_squared_error``.

    ``mean(square(y_true - y_pred), axis=-1)``: :func:`jaxloss.squared_error`.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (after Keras fixes a rank
        off by one with a trailing axis of size 1).
      y_pred: predictions.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.5, 0.5], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.squared_error(y_pred, y_true), axis=-1)


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean absolute error over the last axis, as ``keras.losses.mean_absolute_error``.

    ``mean(abs(y_true - y_pred), axis=-1)``: :func:`jaxloss.absolute_error`.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_absolute_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.5, 0.5], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.absolute_error(y_pred, y_true), axis=-1)


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

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.18 , 0.13000001], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.huber(y_pred, y_true, delta=delta), axis=-1)


def log_cosh(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Log-cosh loss averaged over the last axis, as ``keras.losses.log_cosh``.

    ``mean(log(cosh(y_pred - y_true)), axis=-1)`` with :func:`jaxloss.log_cosh`.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
      Array([0.2169, 0.    ], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.log_cosh(y_pred, y_true), axis=-1)


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


def _check_cosine_broadcast(y_true, y_pred, shape, axis) -> None:
    """Keras normalises each input along its own ``axis`` *before* broadcasting.

    That is broadcasting then normalising (what the core does) only when
    ``axis`` names the same broadcast dimension in both inputs and neither is
    broadcast along it; otherwise Keras's value is not a cosine and the twin
    refuses it.
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        return  # the core reports a bad axis
    nd = len(shape)
    if not -nd <= axis < nd:
        return
    target = axis % nd
    for x, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        own = axis % x.ndim if x.ndim and -x.ndim <= axis < x.ndim else None
        if own is None or own + nd - x.ndim != target or x.shape[own] != shape[target]:
            raise _checks.error(
                ValueError,
                f"cosine_similarity with axis={axis}: `{name}` of shape {tuple(x.shape)} would be "
                f"broadcast to {shape} along the vector axis (or `axis` names another dimension in "
                "it); Keras normalises each input along `axis` before broadcasting, which is not a "
                "cosine similarity and is not supported. Broadcast the inputs first.",
            )


def _hinge_labels(y_true: jax.Array) -> jax.Array:
    """keras.src.losses.losses.convert_binary_labels_to_hinge: {0, 1} to {-1, 1}.

    Keras converts only when *every* label is 0 or 1 (a value test, so a
    ``where`` here rather than Keras's ``cond``); other labels pass unchanged.
    """
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Hinge loss averaged over the last axis, as ``keras.losses.hinge``.

    ``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``: :func:`jaxloss.hinge`
    after Keras's label conversion (labels that are all 0 or 1 become -1 or
    1; otherwise they are used as given).

    Args:
      y_true: labels in {-1, 1} or {0, 1}, broadcastable with ``y_pred``.
      y_pred: decision values.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.hinge([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array([1.1, 0.7], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = _hinge_labels(jnp.asarray(y_true).astype(y_pred.dtype))
    return jnp.mean(jaxloss.hinge(y_pred, y_true), axis=-1)


def squared_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Squared hinge loss averaged over the last axis, as ``keras.losses.squared_hinge``.

    ``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``:
    :func:`jaxloss.squared_hinge` after Keras's label conversion (as in
    :func:`hinge`).

    Args:
      y_true: labels in {-1, 1} or {0, 1}, broadcastable with ``y_pred``.
      y_pred: decision values.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.squared_hinge([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array([1.46 , 0.97999996], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = _hinge_labels(jnp.asarray(y_true).astype(y_pred.dtype))
    return jnp.mean(jaxloss.squared_hinge(y_pred, y_true), axis=-1)


def categorical_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Categorical hinge loss over the last axis, as ``keras.losses.categorical_hinge``.

    ``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``:
    :func:`jaxloss.categorical_hinge` (no label conversion, as in Keras).

    Args:
      y_true: one-hot labels, broadcastable with ``y_pred``.
      y_pred: decision values.

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.categorical_hinge([[0, 1, 0], [1, 0, 0]], [[0.2, 0.9, 0.1], [0.3, 0.5, 0.2]])
      Array([0.3, 1.2], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    shape = _broadcast_shape(y_true, y_pred, "y_true", "y_pred")
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    return jaxloss.categorical_hinge(y_pred, y_true, axis=-1)


@_checks.declare(probabilities="y_pred", unless="from_logits")
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

    Returns:
      The loss per sample, ``y_pred`` without ``axis``.

    Raises:
      ValueError: if ``y_true`` and ``y_pred`` differ in shape (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.4, -0.4], [-0.4, 0.4]], from_logits=True)
      Array([0.3272, 0.2049], dtype=float32)
      >>> losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array([0.3299, 0.2058], dtype=float32)
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    core = jaxloss.sigmoid_focal_loss if from_logits else jaxloss.binary_focal_cross_entropy
    losses = core(
        y_pred,
        y_true,
        alpha=alpha if apply_class_balancing else None,
        gamma=gamma,
        label_smoothing=label_smoothing,
    )
    return jnp.mean(losses, axis=axis)


@_checks.declare(probabilities="y_pred", unless="from_logits")
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

    Returns:
      The loss per sample, ``y_pred`` without ``axis``.

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
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_pred.ndim >= 1 and y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, "
            f"num_classes) with num_classes > 1. Received: y_pred.shape={y_pred.shape}. "
            "Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
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


def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean absolute percentage error over the last axis, as ``keras.losses.mean_absolute_percentage_error``.

    ``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)``:
    :func:`jaxloss.absolute_percentage_error` with Keras's epsilon.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions.

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


def mean_squared_logarithmic_error(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Mean squared logarithmic error over the last axis, as ``keras.losses.mean_squared_logarithmic_error``.

    ``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2, axis=-1)``:
    :func:`jaxloss.squared_log_error` with Keras's epsilon. Below the floor
    (a negative prediction) Keras's gradient is 0; the twin's is the
    formula's derivative at the floor.

    Args:
      y_true: targets, broadcastable with ``y_pred`` (as in
        :func:`mean_squared_error`).
      y_pred: predictions (meant to be ``>= 0``).

    Returns:
      The loss per sample, the broadcast shape without its last axis.

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.mean_squared_logarithmic_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array([0.2402, 0.2402], dtype=float32)
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jaxloss.squared_log_error(y_pred, y_true, epsilon=_EPSILON), axis=-1)


def _overlap_inputs(y_true: ArrayLike, y_pred: ArrayLike, fn: str):
    """Keras's casting for dice/tversky; shapes must agree.

    Keras sums ``y_true``, ``y_pred`` and their product separately, so inputs
    it would broadcast give a value that is not a Dice or Tversky index.
    """
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            f"{fn}: `y_true` and `y_pred` must have the same shape (Keras sums each of them and "
            "their broadcast product separately, which for other shapes is not an overlap index). "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}",
        )
    return y_true, y_pred


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


def _circle_labels(labels: ArrayLike, name: str) -> jax.Array:
    """Keras casts the labels to int32 and reads ``[N]`` or ``[N, 1]``."""
    labels = jnp.asarray(labels)
    if labels.ndim == 2 and labels.shape[-1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise _checks.error(
            ValueError, f"`{name}` must have shape [N] or [N, 1]. Received: {name}.shape={labels.shape}"
        )
    return _class_labels(labels)


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


@_checks.declare(probabilities="y_pred", unless="from_logits", non_negative=("sample_weight",))
class BinaryCrossentropy(_KerasLoss):
    """Binary cross-entropy, as ``keras.losses.BinaryCrossentropy``.

    The per-sample loss is :func:`binary_crossentropy` (the mean over
    ``axis``), then Keras's sample weighting and reduction.

    Args:
      from_logits: whether ``y_pred`` holds logits (else probabilities).
      label_smoothing: in ``[0, 1]``, towards 1/2.
      axis: the axis the mean is taken over.
      reduction: ``"sum_over_batch_size"`` (or ``"mean"``: the sum divided by
        the number of weighted per-sample losses), ``"sum"``,
        ``"mean_with_sample_weight"`` (divided by the sum of the weights),
        ``"none"`` or ``None``.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> bce = losses.BinaryCrossentropy(from_logits=True)
      >>> y_true, y_pred = [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
      >>> bce(y_true, y_pred)
      Array(0.865, dtype=float32)
      >>> bce(y_true, y_pred, sample_weight=[0.8, 0.2])
      Array(0.243, dtype=float32)
    """

    fn = staticmethod(binary_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def _fn_kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


@_checks.declare(probabilities="y_pred", unless="from_logits", non_negative=("sample_weight",))
class CategoricalCrossentropy(_KerasLoss):
    """Categorical cross-entropy, as ``keras.losses.CategoricalCrossentropy``.

    The per-sample loss is :func:`categorical_crossentropy`, then Keras's
    sample weighting and reduction.

    Args:
      from_logits: whether ``y_pred`` holds logits (else probabilities).
      label_smoothing: in ``[0, 1]``: ``y * (1 - a) + a / num_classes``.
      axis: the class axis.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
      >>> losses.CategoricalCrossentropy()(y_true, y_pred)
      Array(1.177, dtype=float32)
      >>> losses.CategoricalCrossentropy(reduction=None)(y_true, y_pred)
      Array([0.0513, 2.303 ], dtype=float32)
    """

    fn = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def _fn_kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


@_checks.declare(
    labels="y_true",
    classes_in="y_pred",
    class_axis="axis",
    ignore_index="ignore_class",
    probabilities="y_pred",
    unless="from_logits",
    non_negative=("sample_weight",),
)
class SparseCategoricalCrossentropy(_KerasLoss):
    """Cross-entropy with integer labels, as ``keras.losses.SparseCategoricalCrossentropy``.

    The per-sample loss is :func:`sparse_categorical_crossentropy`. With
    ``ignore_class``, Keras masks the ignored samples: ``"sum_over_batch_size"``
    and ``"mean"`` then divide by the number of samples that are *not*
    ignored, ``"mean_with_sample_weight"`` by the sum of their weights.

    Args:
      from_logits: whether ``y_pred`` holds logits (else probabilities).
      ignore_class: optional label whose samples are masked out.
      reduction: as in :class:`BinaryCrossentropy`.
      axis: the class axis (in ``get_config``, unlike Keras's).
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
      >>> losses.SparseCategoricalCrossentropy()([1, 2], y_pred)
      Array(1.177, dtype=float32)
      >>> losses.SparseCategoricalCrossentropy(ignore_class=2)([1, 2], y_pred)
      Array(0.0513, dtype=float32)
    """

    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str | None = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def _losses(self, y_true, y_pred):
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        return _sparse_losses(y_true, y_pred, self.from_logits, self.ignore_class, self.axis)

    def get_config(self):
        # Keras leaves `axis` out (a saved Keras model reloads with -1); the twin keeps it.
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }


class Poisson(_KerasLoss):
    """Poisson loss, as ``keras.losses.Poisson``: :func:`poisson`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Poisson()([[1.0, 0.0], [2.0, 1.0]], [[1.0, 0.5], [1.0, 2.0]])
      Array(0.9517, dtype=float32)
    """

    fn = staticmethod(poisson)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "poisson", dtype=None):
        super().__init__(name, reduction, dtype)


class KLDivergence(_KerasLoss):
    """KL divergence, as ``keras.losses.KLDivergence``: :func:`kl_divergence`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.KLDivergence()([[0.5, 0.5], [1.0, 0.0]], [[0.25, 0.75], [0.5, 0.5]])
      Array(0.4185, dtype=float32)
    """

    fn = staticmethod(kl_divergence)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "kl_divergence", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanSquaredError(_KerasLoss):
    """Mean squared error, as ``keras.losses.MeanSquaredError``: :func:`mean_squared_error`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(0.5, dtype=float32)
    """

    fn = staticmethod(mean_squared_error)

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str | None = "mean_squared_error", dtype=None
    ):
        super().__init__(name, reduction, dtype)


class MeanAbsoluteError(_KerasLoss):
    """Mean absolute error, as ``keras.losses.MeanAbsoluteError``: :func:`mean_absolute_error`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanAbsoluteError(reduction="sum")([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(1., dtype=float32)
    """

    fn = staticmethod(mean_absolute_error)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_absolute_error",
        dtype=None,
    ):
        super().__init__(name, reduction, dtype)


class Huber(_KerasLoss):
    """Huber loss, as ``keras.losses.Huber``: :func:`huber`, then reduced.

    ``get_config()`` holds ``delta`` as well as ``name`` and ``reduction``
    (Keras's leaves ``delta`` out, so a saved Keras model reloads with 1.0).

    Args:
      delta: the switch point, ``> 0``.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
      Array(0.155, dtype=float32)
    """

    fn = staticmethod(huber)

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "huber_loss",
        dtype=None,
    ):
        super().__init__(name, reduction, dtype)
        self.delta = delta

    def _fn_kwargs(self):
        return {"delta": self.delta}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class LogCosh(_KerasLoss):
    """Log-cosh loss, as ``keras.losses.LogCosh``: :func:`log_cosh`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
      Array(0.1085, dtype=float32)
    """

    fn = staticmethod(log_cosh)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "log_cosh", dtype=None):
        super().__init__(name, reduction, dtype)


class CosineSimilarity(_KerasLoss):
    """Negative cosine similarity, as ``keras.losses.CosineSimilarity``: :func:`cosine_similarity`, reduced.

    ``get_config()`` holds ``axis`` as well as ``name`` and ``reduction``
    (Keras's leaves ``axis`` out, so a saved Keras model reloads with -1).

    Args:
      axis: the vector axis.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CosineSimilarity()([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
      Array(-0.5, dtype=float32)
    """

    fn = staticmethod(cosine_similarity)

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "cosine_similarity",
        dtype=None,
    ):
        super().__init__(name, reduction, dtype)
        self.axis = axis

    def _fn_kwargs(self):
        return {"axis": self.axis}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class Hinge(_KerasLoss):
    """Hinge loss, as ``keras.losses.Hinge``: :func:`hinge` ({0, 1} labels become {-1, 1}), reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Hinge()([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array(0.9, dtype=float32)
    """

    fn = staticmethod(hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class SquaredHinge(_KerasLoss):
    """Squared hinge loss, as ``keras.losses.SquaredHinge``: :func:`squared_hinge`, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.SquaredHinge()([[0.0, 1.0], [1.0, 1.0]], [[0.6, 0.4], [-0.4, 2.0]])
      Array(1.22, dtype=float32)
    """

    fn = staticmethod(squared_hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "squared_hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class CategoricalHinge(_KerasLoss):
    """Categorical hinge loss, as ``keras.losses.CategoricalHinge``: :func:`categorical_hinge`, reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CategoricalHinge()([[0, 1, 0], [1, 0, 0]], [[0.2, 0.9, 0.1], [0.3, 0.5, 0.2]])
      Array(0.75, dtype=float32)
    """

    fn = staticmethod(categorical_hinge)

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str | None = "categorical_hinge", dtype=None
    ):
        super().__init__(name, reduction, dtype)


@_checks.declare(probabilities="y_pred", unless="from_logits", non_negative=("sample_weight",))
class BinaryFocalCrossentropy(_KerasLoss):
    """Binary focal cross-entropy, as ``keras.losses.BinaryFocalCrossentropy``.

    The per-sample loss is :func:`binary_focal_crossentropy` (the mean over
    ``axis``), then Keras's sample weighting and reduction.

    Args:
      apply_class_balancing: whether to weight the classes by ``alpha``.
      alpha: weight of the positive class, in ``[0, 1]``.
      gamma: focusing parameter, ``>= 0``.
      from_logits: whether ``y_pred`` holds logits (else probabilities).
      label_smoothing: in ``[0, 1]``, towards 1/2.
      axis: the axis the mean is taken over.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> loss = losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
      >>> loss([[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]])
      Array(0.6912, dtype=float32)
    """

    fn = staticmethod(binary_focal_crossentropy)

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_focal_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma

    def _fn_kwargs(self):
        return {
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


@_checks.declare(probabilities="y_pred", unless="from_logits", non_negative=("sample_weight",))
class CategoricalFocalCrossentropy(_KerasLoss):
    """Categorical focal cross-entropy, as ``keras.losses.CategoricalFocalCrossentropy``.

    The per-sample loss is :func:`categorical_focal_crossentropy`, then
    Keras's sample weighting and reduction.

    Args:
      alpha: a scalar or a list of one weight per class.
      gamma: focusing parameter, ``>= 0``.
      from_logits: whether ``y_pred`` holds logits (else probabilities).
      label_smoothing: in ``[0, 1]``: ``y * (1 - a) + a / num_classes``.
      axis: the class axis.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[0, 1, 0], [0, 0, 1]]
      >>> y_pred = [[0.0, 3.0, 0.0], [1.0, 2.0, 0.0]]
      >>> losses.CategoricalFocalCrossentropy(from_logits=True)(y_true, y_pred)
      Array(0.2493, dtype=float32)
    """

    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(
        self,
        alpha: Any = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_focal_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.alpha = alpha
        self.gamma = gamma

    def _fn_kwargs(self):
        return {
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class CategoricalGeneralizedCrossEntropy(_KerasLoss):
    """Generalized cross-entropy, as ``keras.losses.CategoricalGeneralizedCrossEntropy``.

    The per-sample loss is :func:`categorical_generalized_cross_entropy`
    (integer labels, probabilities), then Keras's sample weighting and
    reduction.

    Args:
      q: in ``(0, 1)``: towards 0 the loss tends to cross-entropy, at 1 it is
        ``1 - p_y``.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Raises:
      ValueError: if ``q`` is not in ``(0, 1)`` (as Keras).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.CategoricalGeneralizedCrossEntropy(q=0.5)([0, 1], [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
      Array(0.8471, dtype=float32)
    """

    fn = staticmethod(categorical_generalized_cross_entropy)

    def __init__(
        self,
        q: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_generalized_cross_entropy",
        dtype: Any = None,
    ):
        if not 0 < q < 1:
            raise _checks.error(ValueError, "q must be in the interval (0, 1)")
        super().__init__(name, reduction, dtype)
        self.q = q

    def _fn_kwargs(self):
        return {"q": self.q}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class MeanAbsolutePercentageError(_KerasLoss):
    """Mean absolute percentage error, as ``keras.losses.MeanAbsolutePercentageError``.

    The per-sample loss is :func:`mean_absolute_percentage_error`, then
    Keras's sample weighting and reduction.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanAbsolutePercentageError()([[1.0, 2.0], [4.0, -1.0]], [[1.1, 2.0], [3.0, -1.5]])
      Array(21.25, dtype=float32)
    """

    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_absolute_percentage_error",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)


class MeanSquaredLogarithmicError(_KerasLoss):
    """Mean squared logarithmic error, as ``keras.losses.MeanSquaredLogarithmicError``.

    The per-sample loss is :func:`mean_squared_logarithmic_error`, then
    Keras's sample weighting and reduction.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.MeanSquaredLogarithmicError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
      Array(0.2402, dtype=float32)
    """

    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_squared_logarithmic_error",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)


class Dice(_KerasLoss):
    """Dice loss, as ``keras.losses.Dice``: :func:`dice` over ``axis``, then reduced.

    With the default ``axis=None`` the loss is one number for the whole
    batch (Keras then returns it unreduced and a per-sample
    ``sample_weight`` multiplies it: a vector for ``reduction=None``); pass
    e.g. ``axis=(1, 2)`` for one loss per sample.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      axis: an int, a tuple of ints, or ``None`` for all axes.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> y_true = [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
      >>> y_pred = [[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]]
      >>> losses.Dice(axis=-1)(y_true, y_pred)
      Array(0.5526, dtype=float32)
    """

    fn = staticmethod(dice)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "dice",
        axis: int | tuple[int, ...] | None = None,
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        # A saved config holds a tuple `axis` as a list; stored as a tuple so get_config round-trips.
        self.axis = tuple(axis) if isinstance(axis, list) else axis

    def _fn_kwargs(self):
        return {"axis": self.axis}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class Tversky(_KerasLoss):
    """Tversky loss, as ``keras.losses.Tversky``: :func:`tversky` over ``axis``, then reduced.

    ``alpha`` and ``beta`` are Keras's (``alpha`` weighs the false negatives;
    see :func:`tversky`). As for :class:`Dice`, the default ``axis=None``
    gives one number for the whole batch.

    Args:
      alpha: Keras's weight of ``sum((1 - y_pred) * y_true)``.
      beta: Keras's weight of ``sum(y_pred * (1 - y_true))``.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      axis: an int, a tuple of ints, or ``None`` for all axes.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> from jaxloss.compat import keras as losses
      >>> losses.Tversky(alpha=0.7, beta=0.3)([[1.0, 0.0, 1.0]], [[0.9, 0.6, 0.0]])
      Array(0.5135, dtype=float32)
    """

    fn = staticmethod(tversky)

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "tversky",
        axis: int | tuple[int, ...] | None = None,
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.alpha = alpha
        self.beta = beta
        # A saved config holds a tuple `axis` as a list; stored as a tuple so get_config round-trips.
        self.axis = tuple(axis) if isinstance(axis, list) else axis

    def _fn_kwargs(self):
        return {"alpha": self.alpha, "beta": self.beta, "axis": self.axis}

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class Circle(_KerasLoss):
    """Circle loss, as ``keras.losses.Circle``: :func:`circle` per query, then reduced.

    Like Keras, the per-query losses are masked where they are 0 (queries
    without a positive or a negative, or already satisfied), so
    ``"sum_over_batch_size"`` and ``"mean"`` divide by the number of
    non-zero losses and ``"mean_with_sample_weight"`` by the sum of their
    weights. The embeddings are not normalised: pass unit vectors.

    Args:
      gamma: the scale.
      margin: the relaxation.
      remove_diagonal: leave the pairs ``(i, i)`` out of the positives.
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> e = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
      >>> losses.Circle(gamma=1.0)([0, 0, 1, 2], e)
      Array(1.0076, dtype=float32)
    """

    fn = staticmethod(circle)

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "circle",
        dtype: Any = None,
    ):
        super().__init__(name, reduction, dtype)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def _fn_kwargs(self):
        return {"gamma": self.gamma, "margin": self.margin, "remove_diagonal": self.remove_diagonal}

    def _losses(self, y_true, y_pred):
        losses, _ = super()._losses(y_true, y_pred)
        # keras.losses.circle sets the Keras mask `loss > 0` on its result.
        return losses, losses > 0

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs()}


class CTC(_KerasLoss):
    """CTC loss, as ``keras.losses.CTC``: :func:`ctc` per sequence, then reduced.

    Args:
      reduction: as in :class:`BinaryCrossentropy`.
      name: the loss's name.
      dtype: compute dtype of the inputs (default float32).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import keras as losses
      >>> losses.CTC()(jnp.array([[1, 2], [1, 0]]), jnp.zeros((2, 4, 3)))
      Array(1.8891, dtype=float32)
    """

    fn = staticmethod(ctc)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = "ctc", dtype: Any = None):
        super().__init__(name, reduction, dtype)


# A core function's error raised inside a twin names the twin's argument
# (`y_pred`, not `predictions`): every public function runs with these names in force.
_ARGUMENT_NAMES = dict(
    predictions="y_pred",
    probs="y_pred",
    logits="y_pred",
    scores="y_pred",
    distances="y_pred",
    embeddings="y_pred",
    log_predictions="y_pred",
    targets="y_true",
    labels="y_true",
)
for _name in __all__:
    if inspect.isfunction(globals()[_name]):
        globals()[_name] = _checks.speaking(globals()[_name], **_ARGUMENT_NAMES)
del _name

_install_keras_registration()
