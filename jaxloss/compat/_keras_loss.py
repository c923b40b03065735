"""The plumbing of :mod:`jaxloss.compat.keras`: Keras's argument rules and its ``Loss`` base.

Keras's casting, shape rules, label handling and checks, used by the twin
functions, and the one base of the twin classes. :class:`_KerasLoss` is the base of every Keras twin class: a
:class:`jaxloss.compat._twin.TwinLoss` whose fields are Keras's constructor
arguments, called ``loss(y_true, y_pred, sample_weight=None)`` with Keras's
casting, shape rules, masks and reductions (:func:`_reduce_weighted`), with
Keras's ``get_config``, and bridged into ``keras.losses.Loss`` and Keras's
serialization when Keras is imported. Keras itself is never imported here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import re
import sys
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks
from jaxloss.compat._twin import TwinLoss, _ClassRoles

# keras.src.losses.loss.standardize_reduction
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")
# keras.backend.epsilon()
_EPSILON = 1e-7
# Stands for an ignored label inside the sparse twin; no class index can equal it.
_IGNORED = int(np.iinfo(np.int32).min)
# Core argument names in Keras's spelling: every function (and each class's
# call) runs with them in force, so a core error names `y_pred`, not `logits`.
_NAMES = dict(
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


# --------------------------------------------------------------------------
# the functions' plumbing (labels, shapes, Keras's checks)
# --------------------------------------------------------------------------


def _as_pred(y_pred: ArrayLike) -> jax.Array:
    """``ops.convert_to_tensor(y_pred)``; a non-float input becomes float32 (floatx)."""
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(jnp.float32)
    return y_pred


def _inputs(y_true: ArrayLike, y_pred: ArrayLike, same_shape: bool = False) -> tuple[jax.Array, jax.Array]:
    """Keras's casting: ``y_pred`` as by :func:`_as_pred`, ``y_true`` in its dtype (optionally of its shape)."""
    y_pred = _as_pred(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if same_shape and y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}",
        )
    return y_true, y_pred


def _warn_one_class(fn: str, y_pred: jax.Array) -> None:
    if y_pred.ndim >= 1 and y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {fn}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
            f"Received: y_pred.shape={y_pred.shape}. Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=4,
        )


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


def _regression_inputs(y_true: ArrayLike, y_pred: ArrayLike):
    """Keras's casting and ``squeeze_or_expand_to_same_rank`` for the regression losses."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _squeeze_or_expand(y_true, y_pred)


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


def _overlap_inputs(y_true: ArrayLike, y_pred: ArrayLike, fn: str):
    """Keras's casting for dice/tversky; shapes must agree.

    Keras sums ``y_true``, ``y_pred`` and their product separately, so inputs
    it would broadcast give a value that is not a Dice or Tversky index.
    """
    y_true, y_pred = _inputs(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise _checks.error(
            ValueError,
            f"{fn}: `y_true` and `y_pred` must have the same shape (Keras sums each of them and "
            "their broadcast product separately, which for other shapes is not an overlap index). "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}",
        )
    return y_true, y_pred


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


# --------------------------------------------------------------------------
# the bridge into keras.losses.Loss
# --------------------------------------------------------------------------


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


# Every twin class, in the order of definition (bridged subclasses are not listed).
_TWIN_CLASSES: list[type] = []


def _twin_classes() -> list[type]:
    return list(_TWIN_CLASSES)


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


def _bridged_setattr(self: Any, name: str, value: Any) -> None:
    """A Keras-bridged twin: Keras may set its own attributes; the constructor arguments stay frozen."""
    if name in self.__dataclass_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


class _KerasLoss(TwinLoss):
    """keras.losses.Loss / LossFunctionWrapper, on the functions of :mod:`jaxloss.compat.keras`.

    Each subclass declares Keras's constructor arguments as fields (its options,
    then ``reduction``, ``name`` and ``dtype`` where Keras puts them) and its
    ``function``; calling it casts both inputs to ``dtype``, computes the
    per-sample losses (:meth:`_losses`, ``function`` with the options it takes)
    with Keras's argument names in force, and reduces them as Keras does
    (:func:`_reduce_weighted`, with the mask of a Keras masking layer). The
    class declares ``function``'s roles and ``sample_weight`` as weights, so
    :func:`jaxloss.checked` reads an instance's own options (``ignore_class``).

    ``keras.Model.compile(loss=...)`` keeps an object as it is only when it is a
    ``keras.losses.Loss``; any other callable is wrapped in a
    ``LossFunctionWrapper`` that drops the ``sample_weight`` and reduces the
    already reduced value again. So when Keras is already imported, a twin is
    created as an instance of a subclass of its class *and* of
    ``keras.losses.Loss`` (made once per class, with the same name, module
    and qualified name, and open to the attributes Keras sets). The twin's own
    methods come first in its method resolution order, so it computes exactly
    as without Keras; Keras only sees a ``Loss``. Keras is never imported
    here: without it (the core install) the twin is a plain frozen object.
    """

    # The options of `function` among the fields (set per class).
    _options: ClassVar[tuple[str, ...]] = ()
    if TYPE_CHECKING:  # fields of every subclass, declared there in Keras's order
        reduction: str | None
        name: str | None
        dtype: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_twin_class" in cls.__dict__:  # the Keras-bridged subclass
            cls.__setattr__ = _bridged_setattr  # type: ignore[method-assign]
            return
        _TWIN_CLASSES.append(cls)
        fn = cls.__dict__["function"].__func__
        cls._options = tuple(f.name for f in dataclasses.fields(cls) if f.name in inspect.signature(fn).parameters)
        roles = _checks.roles_of(cls) or _checks.Roles()
        weights = (*roles.non_negative, "sample_weight")
        cls.__jaxloss_roles__ = _ClassRoles(dataclasses.replace(roles, non_negative=weights))  # type: ignore[attr-defined]

    def __new__(cls, *args: Any, **kwargs: Any):
        del args, kwargs  # __init__ takes them
        base = _keras_loss_base()
        if base is None or issubclass(cls, base):
            return super().__new__(cls)
        bridged = _KERAS_SUBCLASSES.get(cls)
        if bridged is None:
            namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
            bridged = _KERAS_SUBCLASSES[cls] = type(cls.__name__, (cls, base), {**namespace, "_twin_class": cls})
            # Keras serializes an object under the registered name of its exact
            # class: the bridged class is registered under the twin's name.
            _register_with_keras([*_twin_classes(), bridged])
        return super().__new__(bridged)

    def __post_init__(self) -> None:
        # Keras's defaults and checks; `dtype` becomes the compute dtype (Keras's `Loss.dtype`).
        _standardize_reduction(self.reduction)
        object.__setattr__(self, "name", self.name or _snake_case(type(self).__name__))
        object.__setattr__(self, "dtype", _compute_dtype(self.dtype))
        if isinstance(getattr(self, "axis", None), list):  # a saved config holds a tuple as a list
            object.__setattr__(self, "axis", tuple(self.axis))  # type: ignore[attr-defined]

    def _losses(self, y_true: jax.Array, y_pred: jax.Array) -> tuple[jax.Array, Any]:
        """The per-sample losses and the mask Keras sets on them (or None)."""
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        options = {k: getattr(self, k) for k in self._options}
        return type(self).function(y_true, y_pred, **options), None  # type: ignore[misc]

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None) -> jax.Array:
        """The loss of ``y_pred`` against ``y_true``, weighted and reduced as Keras does."""
        in_mask = _keras_input_mask(y_pred)
        y_pred = jnp.asarray(y_pred, self.dtype)
        y_true = jnp.asarray(y_true, self.dtype)
        with _checks.argument_names(**_NAMES):
            losses, mask = self._losses(y_true, y_pred)
        if in_mask is not None:
            # keras.losses.Loss.__call__: the mask of y_pred and of the losses, combined.
            in_mask = jnp.asarray(in_mask, bool)
            mask = in_mask if mask is None else in_mask & mask
        return _reduce_weighted(losses, sample_weight, mask, self.reduction, self.dtype)

    def get_config(self) -> dict[str, Any]:
        """Every constructor argument but ``dtype``, as Keras's ``get_config``."""
        return {k: v for k, v in self._arguments().items() if k != "dtype"}

    def __reduce__(self):
        # A Keras-bridged class is not reachable by name: rebuild from the twin
        # class (bridged again if Keras is loaded) and the instance's state.
        twin_class = type(self).__dict__.get("_twin_class", type(self))
        return (_new_twin, (twin_class,), dict(self.__dict__))
