"""Trace-time argument checks and dtype policy shared by every loss.

Every check here runs on static information (shapes, dtypes, Python
options) so that a mistake is reported before compilation, with a message
that names the argument, what was expected and what was received.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

_REDUCED_FLOATS = (jnp.bfloat16, jnp.float16)
_F = TypeVar("_F", bound=Callable[..., Any])

# Caller-facing names for the core functions' arguments: a compat twin calls
# the core with its own names in force, so a message says `y_pred`, not
# `predictions` (see `argument_names`).
_ALIASES: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "jaxloss_argument_names", default=types.MappingProxyType({})
)


# Inside a compat twin's call the core's elementwise shape rule is the
# original library's (NumPy broadcasting of both sides), see `elementwise_shape`.
_TWIN_BROADCASTING: contextvars.ContextVar[bool] = contextvars.ContextVar("jaxloss_twin_broadcasting", default=False)


@contextlib.contextmanager
def argument_names(**names: str) -> Iterator[None]:
    """Within the block, the core functions serve a compat twin.

    Error messages call core arguments by the caller's names: ``with
    argument_names(predictions="y_pred", targets="y_true"):`` makes a core
    function's shape or dtype error name `y_pred` where it would say
    `predictions`. And elementwise losses broadcast predictions and targets
    both ways, as Keras, TensorFlow and tflearn do (the core rule, targets
    never widen the predictions, is for jaxloss's own API). Trace-time only;
    nothing reaches the computation.
    """
    token = _ALIASES.set({**_ALIASES.get(), **names})
    twin = _TWIN_BROADCASTING.set(True)
    try:
        yield
    finally:
        _TWIN_BROADCASTING.reset(twin)
        _ALIASES.reset(token)


def error(kind: type[Exception], message: str) -> Exception:
    """``kind(message)`` with each backquoted argument name in the caller's spelling."""
    aliases = _ALIASES.get()
    if aliases:
        message = re.sub(r"`(\w+)`", lambda m: f"`{aliases.get(m.group(1), m.group(1))}`", message)
    return kind(message)


def _describe(x: Any) -> str:
    dtype = getattr(x, "dtype", None)
    shape = getattr(x, "shape", None)
    if dtype is not None and shape is not None:
        return f"an array of dtype {dtype} and shape {tuple(shape)}"
    return f"{type(x).__name__} {x!r}"


def result_type(*dtypes: Any) -> jnp.dtype:
    """JAX's standard type promotion of ``dtypes``, also when the user runs with
    ``jax_numpy_dtype_promotion="strict"`` (mixing float dtypes is allowed here:
    the inputs are then cast explicitly)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.dtype(jnp.result_type(*dtypes))


def compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """The dtype a loss computes in: 16-bit floats widen to float32."""
    dtype = result_type(*[a.dtype for a in arrays])
    if not jnp.issubdtype(dtype, jnp.floating) or dtype in _REDUCED_FLOATS:
        return jnp.dtype(jnp.float32)
    return jnp.dtype(dtype)


def as_float(x: Any, name: str) -> jax.Array:
    """Checks that ``x`` is a floating-point array (predictions, logits)."""
    if x is None:
        raise error(TypeError, f"`{name}` must be a floating-point array, got None.")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise error(
            TypeError,
            f"`{name}` must be a floating-point array (float16, bfloat16, float32 or "
            f"float64), got {_describe(x)}. Cast it, e.g. `{name}.astype(jnp.float32)`.",
        )
    return x


def as_numeric(x: Any, name: str) -> jax.Array:
    """Checks that ``x`` is a real numeric or boolean array (targets, weights)."""
    if x is None:
        raise error(TypeError, f"`{name}` must be an array, got None.")
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.number) or jnp.issubdtype(x.dtype, jnp.bool_)) or jnp.issubdtype(
        x.dtype, jnp.complexfloating
    ):
        raise error(TypeError, f"`{name}` must be a real numeric array, got {_describe(x)}.")
    return x


def label_dtype(dtype: Any) -> jnp.dtype:
    """The dtype integer labels are widened to before any comparison or gather.

    int32, or int64 for 64-bit (and uint32) labels under ``jax_enable_x64``:
    so ``ignore_index=-100`` never equals a real ``uint8`` class (156 is -100
    mod 256) and ``int8`` labels index more than 127 classes.
    """
    dtype = jnp.dtype(dtype)
    if jax.dtypes.canonicalize_dtype(jnp.int64) == jnp.int64 and (dtype.itemsize == 8 or dtype == jnp.uint32):
        return jnp.dtype(jnp.int64)
    return jnp.dtype(jnp.int32)


def as_integer(x: Any, name: str) -> jax.Array:
    """Checks that ``x`` is an integer array (class indices) and widens it (:func:`label_dtype`)."""
    if x is None:
        raise error(TypeError, f"`{name}` must be an integer array, got None.")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise error(
            TypeError,
            f"`{name}` must be an integer array of class indices, got {_describe(x)}. "
            f"For one-hot or soft labels use the dense (non-sparse) loss.",
        )
    return x.astype(label_dtype(x.dtype))


def check_ignore_index(ignore_index: Any, name: str = "ignore_index") -> int | None:
    """``ignore_index`` is a static Python int (or None); returns it as an int."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, jax.core.Tracer):
        raise error(TypeError, _static_message(name, ignore_index))
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        if not (np.ndim(ignore_index) == 0 and np.issubdtype(np.asarray(ignore_index).dtype, np.integer)):
            raise error(TypeError, f"`{name}` must be an int or None, got {ignore_index!r}.")
    return int(ignore_index)


def floats(*pairs: tuple[Any, str], targets: Sequence[tuple[Any, str]] = ()):
    """Validates predictions and targets and casts all to one compute dtype.

    ``pairs`` are floating-point inputs (predictions), ``targets`` may be any
    real numeric dtype. Returns the cast arrays in order, predictions first.
    """
    preds = [as_float(x, n) for x, n in pairs]
    tgts = [as_numeric(x, n) for x, n in targets]
    dtype = compute_dtype(*preds)
    return [p.astype(dtype) for p in preds] + [t.astype(dtype) for t in tgts]


def elementwise_shape(predictions: jax.Array, other: jax.Array, name_p: str, name_o: str) -> tuple[int, ...]:
    """The shape of an elementwise loss: ``predictions``' own shape (a twin's: the broadcast shape).

    ``other`` (targets, a per-element weight or option) must broadcast *to*
    ``predictions.shape`` without widening it: ``[B, 1]`` predictions against
    ``[B]`` targets would silently broadcast to ``[B, B]``, so they raise
    ``ValueError`` naming both shapes. A scalar ``other`` is fine.
    """
    p_shape, o_shape = tuple(predictions.shape), tuple(other.shape)
    try:
        out = tuple(np.broadcast_shapes(p_shape, o_shape))
    except ValueError:
        out = None
    if out == p_shape:
        return p_shape
    if _TWIN_BROADCASTING.get():
        if out is not None:
            return out
        raise error(
            ValueError, f"`{name_p}` of shape {p_shape} and `{name_o}` of shape {o_shape} do not broadcast together."
        )
    widened = f" (they would broadcast to {out})" if out is not None else ""
    raise error(
        ValueError,
        f"`{name_o}` of shape {o_shape} must broadcast to the shape of `{name_p}`, {p_shape}{widened}: "
        f"an elementwise loss never widens `{name_p}`. Reshape one of them so that the shapes match, "
        f"e.g. drop a trailing axis of size 1.",
    )


def check_broadcastable_to(x: jax.Array, shape: Sequence[int], name: str, target: str) -> None:
    """Checks that ``x`` broadcasts to ``shape`` without changing it."""
    try:
        out = np.broadcast_shapes(tuple(x.shape), tuple(shape))
    except ValueError:
        out = None
    if out != tuple(shape):
        raise error(
            ValueError, f"`{name}` of shape {tuple(x.shape)} must broadcast to the shape of `{target}`, {tuple(shape)}."
        )


def check_same_shape(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise error(
            ValueError,
            f"`{name_a}` and `{name_b}` must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.",
        )


def check_axis(x: jax.Array, axis: int, name: str) -> int:
    """Normalises ``axis`` against ``x.ndim``; returns a non-negative axis."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise error(TypeError, f"`axis` must be an int, got {axis!r}.")
    if x.ndim == 0:
        raise error(ValueError, f"`{name}` must have at least one dimension (the class axis), got a scalar.")
    if not -x.ndim <= axis < x.ndim:
        raise error(
            ValueError,
            f"`axis`={axis} is out of range for `{name}` with {x.ndim} dimension(s), shape {tuple(x.shape)}.",
        )
    return int(axis) % x.ndim


def check_sparse_labels(predictions: jax.Array, labels: jax.Array, axis: int, name: str) -> int:
    """Checks integer labels shaped like ``predictions`` without ``axis``; returns the axis."""
    ax = check_axis(predictions, axis, name)
    expected = predictions.shape[:ax] + predictions.shape[ax + 1 :]
    if tuple(labels.shape) != tuple(expected):
        raise error(
            ValueError,
            f"`labels` must have the shape of `{name}` without axis {axis}, {tuple(expected)}, "
            f"got {tuple(labels.shape)} ({name} shape {tuple(predictions.shape)}).",
        )
    return ax


def _static_message(name: str, value: Any) -> str:
    return (
        f"`{name}` is a static option (a Python or 0-d NumPy number) and cannot be a traced value, "
        f"got {value!r}. Pass it as a Python number: close over it, or mark it static "
        f"(`jax.jit(..., static_argnames=...)`)."
    )


def check_range(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    per_class: bool = False,
) -> None:
    """Checks a static option against an interval.

    A scalar option must be a Python or 0-d number: an array raises
    ``ValueError`` naming it (it would otherwise broadcast along the class
    axis or the batch), a traced value raises ``TypeError`` (options are
    static). ``per_class=True`` (``alpha``, ``class_weights``) also takes a
    ``[C]`` vector, and a traced vector is accepted unchecked.
    """
    if isinstance(value, jax.core.Tracer):
        if per_class:
            return
        raise error(TypeError, _static_message(name, value))
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise error(TypeError, f"`{name}` must be a number, got {value!r}.")
    if arr.ndim > (1 if per_class else 0):
        what = "a scalar or a [C] vector (one value per class)" if per_class else "a scalar (a Python or 0-d number)"
        raise error(
            ValueError,
            f"`{name}` must be {what}, got an array of shape {arr.shape}. Only per-class options "
            f"(`alpha`, `class_weights`) take a vector.",
        )
    if arr.size == 0:
        return
    lo_bad = low is not None and (np.any(arr <= low) if low_open else np.any(arr < low))
    hi_bad = high is not None and (np.any(arr >= high) if high_open else np.any(arr > high))
    if lo_bad or hi_bad or np.any(np.isnan(arr)):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise error(ValueError, f"`{name}` must lie in {lb}{lo}, {hi}{hb}, got {value!r}.")


def is_static_zero(value: Any) -> bool:
    """True only for a concrete zero option, so that a formula may skip its term."""
    return not isinstance(value, jax.core.Tracer) and np.ndim(value) == 0 and float(value) == 0.0


def check_bool(value: Any, name: str) -> bool:
    """A static Python (or NumPy) bool option."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(TypeError, f"`{name}` must be a bool, got {value!r}.")
    return bool(value)


def check_int(value: Any, name: str, *, allow_none: bool = False, minimum: int | None = None) -> int | None:
    """A static int option (``None`` too with ``allow_none``), at least ``minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, jax.core.Tracer):
        raise error(TypeError, _static_message(name, value))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(TypeError, f"`{name}` must be an int{' or None' if allow_none else ''}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise error(ValueError, f"`{name}` must be >= {minimum}, got {value!r}.")
    return int(value)


def class_vector(value: Any, name: str, num_classes: int, dtype: Any, *, low: float | None = 0.0) -> jax.Array:
    """A per-class option (``alpha``, ``class_weights``): a scalar or a ``[C]`` vector, ``>= low``."""
    check_range(value, name, low, per_class=True)
    value = as_numeric(value, name).astype(dtype)
    if value.ndim > 1 or (value.ndim == 1 and value.shape[0] not in (1, num_classes)):
        raise error(
            ValueError,
            f"`{name}` must be a scalar or have shape ({num_classes},) (one per class), "
            f"got shape {tuple(value.shape)}.",
        )
    return value


def as_mask(where: Any, shape: Sequence[int], target: str = "predictions") -> jax.Array | None:
    """Checks a ``where`` mask: boolean and broadcastable to ``shape``."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise error(TypeError, f"`where` must be a boolean array, got {_describe(where)}.")
    check_broadcastable_to(where, shape, "where", target)
    return jnp.broadcast_to(where, tuple(shape))


def reduce_axes(x: jax.Array, axis: Any, name: str) -> tuple[int, ...]:
    """Normalises a reduction ``axis`` (an int, a tuple of ints or None for all axes) of ``x``.

    Returns the sorted, non-negative axes; raises for a scalar ``x`` (unless
    ``axis`` is None), an axis out of range, a non-int axis or a repeat.
    """
    if axis is None:
        return tuple(range(x.ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if x.ndim == 0:
        raise error(
            ValueError, f"`{name}` must have at least one dimension to reduce over `axis`={axis!r}; got a scalar."
        )
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise error(TypeError, f"`axis` must be an int, a tuple of ints or None, got {axis!r}.")
        if not -x.ndim <= a < x.ndim:
            raise error(
                ValueError,
                f"`axis`={axis!r} is out of range for `{name}` with {x.ndim} dimension(s), shape {tuple(x.shape)}.",
            )
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise error(ValueError, f"`axis`={axis!r} repeats an axis.")
    return tuple(sorted(out))


def check_labels_in_range(labels: jax.Array, num_classes: int, valid: jax.Array) -> None:
    """A runtime check, active only under ``checkify`` with ``user_checks``.

    Costs nothing otherwise: ``debug=True`` makes it a no-op unless the
    caller functionalises it with ``jax.experimental.checkify.checkify``.
    """
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bad.size == 0:
        return
    checkify.check(
        ~jnp.any(bad),
        "`labels` holds a class index outside [0, {n}) (first offending flat index "
        "{i}, value {v}); it is not `ignore_index`, so its loss is nan.",
        n=jnp.asarray(num_classes),
        i=jnp.argmax(bad.ravel()),
        v=labels.ravel()[jnp.argmax(bad.ravel())],
        debug=True,
    )


# --------------------------------------------------------------------------
# what a loss declares about its arguments (read by Loss and checked())
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Roles:
    """What a loss declares about its arguments and options.

    Read by :class:`jaxloss.Loss` (which examples a loss ignores, which class
    weights it applied) and by :func:`jaxloss.checked` (which argument holds
    class indices, probabilities or weights), so that neither keeps tables of
    argument names.

    * ``targets``: ``"class_indices"``, ``"distributions"`` or ``"values"``,
      the kind of the loss's second argument (what ``Loss`` passes as targets).
    * ``labels``: the argument holding integer class indices, if any;
      ``classes_in``/``class_axis``: the argument whose axis counts the classes
      and the option naming that axis (the last axis when ``class_axis`` is
      None); ``num_classes`` overrides both with ``f(arguments) -> int``.
    * ``ignore_index``/``class_weights``: the options through which the loss
      drops examples or weights them by their target class.
    * ``probabilities``: the argument holding probabilities, unless the option
      ``unless`` (``from_logits``) is true.
    * ``non_negative``: arguments and options that are weights (``>= 0``).
    """

    targets: str = "values"
    labels: str | None = None
    classes_in: str | None = None
    class_axis: str | None = None
    num_classes: Callable[[Mapping[str, Any]], int | None] | None = None
    ignore_index: str | None = None
    class_weights: str | None = None
    probabilities: str | None = None
    unless: str | None = None
    non_negative: tuple[str, ...] = ()


_ROLES_ATTR = "__jaxloss_roles__"


def declare(**roles: Any) -> Callable[[_F], _F]:
    """Attaches :class:`Roles` to a loss (``@declare(targets="class_indices", ...)``)."""
    declared = Roles(**roles)

    def attach(fn: _F) -> _F:
        setattr(fn, _ROLES_ATTR, declared)
        return fn

    return attach


def roles_of(fn: Any) -> Roles | None:
    """The :class:`Roles` a loss declared, or None."""
    return getattr(fn, _ROLES_ATTR, None)


class Report(NamedTuple):
    """Per example: whether the loss kept it (``keep``), and the weight it applied (``applied``)."""

    keep: jax.Array | None
    applied: jax.Array | None


def loss_report(fn: Any, predictions: Any, targets: Any, options: Mapping[str, Any]) -> Report:
    """Which examples ``fn(predictions, targets, **options)`` ignores, and the class weights it applied.

    Read from ``fn``'s declaration (:func:`declare`), so any loss that
    declares an ``ignore_index`` or ``class_weights`` option gets section-1
    reductions from :class:`jaxloss.Loss`: an ignored example is masked
    (counted in no denominator), and applied class weights join the
    ``"weighted_mean"`` denominator. ``Report(None, None)`` for a loss that
    declares neither.
    """
    roles = roles_of(fn)
    if roles is None:
        return Report(None, None)
    ignore = options.get(roles.ignore_index) if roles.ignore_index else None
    weights = options.get(roles.class_weights) if roles.class_weights else None
    if ignore is None and weights is None:
        return Report(None, None)
    preds = jnp.asarray(predictions)
    axis = options.get(roles.class_axis, -1) if roles.class_axis else -1
    if axis is None:
        axis = -1
    ax = check_axis(preds, axis, "predictions")
    num_classes = preds.shape[ax]
    keep = applied = None
    if roles.targets == "class_indices":
        labels = as_integer(targets, "targets")
        if ignore is not None:
            index = check_ignore_index(ignore, roles.ignore_index or "ignore_index")
            assert index is not None  # `ignore` is not None here
            keep = jnp.not_equal(labels, index)
        if weights is not None:
            cw = jnp.broadcast_to(
                class_vector(weights, roles.class_weights or "class_weights", num_classes, jnp.float32), (num_classes,)
            )
            applied = jnp.take(cw, jnp.clip(labels, 0, num_classes - 1))
    elif weights is not None:
        # One-hot (or soft) targets: the weight of the target class is sum_c w_c y_c.
        dense = jnp.moveaxis(jnp.asarray(targets, jnp.float32), ax, -1)
        cw = jnp.broadcast_to(
            class_vector(weights, roles.class_weights or "class_weights", num_classes, jnp.float32), (num_classes,)
        )
        applied = jnp.sum(dense * cw.reshape((1,) * (dense.ndim - 1) + (num_classes,)), axis=-1)
    return Report(keep, applied)
