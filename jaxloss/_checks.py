"""Trace-time argument checks and dtype policy shared by every loss.

Every check here runs on static information (shapes, dtypes, Python
options) so that a mistake is reported before compilation, with a message
that names the argument, what was expected and what was received.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

_REDUCED_FLOATS = (jnp.bfloat16, jnp.float16)

# Caller-facing names for the core functions' arguments: a compat twin calls
# the core with its own names in force, so a message says `y_pred`, not
# `predictions` (see `argument_names`).
_ALIASES: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "jaxloss_argument_names", default=types.MappingProxyType({})
)


@contextlib.contextmanager
def argument_names(**names: str) -> Iterator[None]:
    """Within the block, error messages call core arguments by the caller's names.

    ``with argument_names(predictions="y_pred", targets="y_true"):`` makes a
    core function's shape or dtype error name `y_pred` where it would say
    `predictions`. Trace-time only; nothing reaches the computation.
    """
    token = _ALIASES.set({**_ALIASES.get(), **names})
    try:
        yield
    finally:
        _ALIASES.reset(token)


def speaking(fn: Any, **names: str) -> Any:
    """``fn`` run under :func:`argument_names` (how a compat twin renames core arguments)."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with argument_names(**names):
            return fn(*args, **kwargs)

    return call


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
        raise error(TypeError,
            f"`{name}` must be a floating-point array (float16, bfloat16, float32 or "
            f"float64), got {_describe(x)}. Cast it, e.g. `{name}.astype(jnp.float32)`."
        )
    return x


def as_numeric(x: Any, name: str) -> jax.Array:
    """Checks that ``x`` is a real numeric or boolean array (targets, weights)."""
    if x is None:
        raise error(TypeError, f"`{name}` must be an array, got None.")
    x = jnp.asarray(x)
    if not (
        jnp.issubdtype(x.dtype, jnp.number) or jnp.issubdtype(x.dtype, jnp.bool_)
    ) or jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise error(TypeError, f"`{name}` must be a real numeric array, got {_describe(x)}.")
    return x


def as_integer(x: Any, name: str) -> jax.Array:
    """Checks that ``x`` is an integer array (class indices)."""
    if x is None:
        raise error(TypeError, f"`{name}` must be an integer array, got None.")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise error(TypeError,
            f"`{name}` must be an integer array of class indices, got {_describe(x)}. "
            f"For one-hot or soft labels use the dense (non-sparse) loss."
        )
    return x


def floats(*pairs: tuple[Any, str], targets: Sequence[tuple[Any, str]] = ()):
    """Validates predictions and targets and casts all to one compute dtype.

    ``pairs`` are floating-point inputs (predictions), ``targets`` may be any
    real numeric dtype. Returns the cast arrays in order, predictions first.
    """
    preds = [as_float(x, n) for x, n in pairs]
    tgts = [as_numeric(x, n) for x, n in targets]
    dtype = compute_dtype(*preds)
    return [p.astype(dtype) for p in preds] + [t.astype(dtype) for t in tgts]


def check_broadcast(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> tuple[int, ...]:
    """Checks that two shapes broadcast; returns the broadcast shape."""
    try:
        return tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise error(ValueError,
            f"`{name_a}` of shape {tuple(a.shape)} and `{name_b}` of shape "
            f"{tuple(b.shape)} do not broadcast together."
        ) from None


def check_broadcastable_to(x: jax.Array, shape: Sequence[int], name: str, target: str) -> None:
    """Checks that ``x`` broadcasts to ``shape`` without changing it."""
    try:
        out = np.broadcast_shapes(tuple(x.shape), tuple(shape))
    except ValueError:
        out = None
    if out != tuple(shape):
        raise error(ValueError,
            f"`{name}` of shape {tuple(x.shape)} must broadcast to the shape of "
            f"`{target}`, {tuple(shape)}."
        )


def check_same_shape(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise error(ValueError,
            f"`{name_a}` and `{name_b}` must have the same shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )


def check_axis(x: jax.Array, axis: int, name: str) -> int:
    """Normalises ``axis`` against ``x.ndim``; returns a non-negative axis."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise error(TypeError, f"`axis` must be an int, got {axis!r}.")
    if x.ndim == 0:
        raise error(ValueError, f"`{name}` must have at least one dimension (the class axis), got a scalar.")
    if not -x.ndim <= axis < x.ndim:
        raise error(ValueError,
            f"`axis`={axis} is out of range for `{name}` with {x.ndim} dimension(s), "
            f"shape {tuple(x.shape)}."
        )
    return int(axis) % x.ndim


def check_sparse_labels(predictions: jax.Array, labels: jax.Array, axis: int, name: str) -> int:
    """Checks integer labels shaped like ``predictions`` without ``axis``; returns the axis."""
    ax = check_axis(predictions, axis, name)
    expected = predictions.shape[:ax] + predictions.shape[ax + 1 :]
    if tuple(labels.shape) != tuple(expected):
        raise error(ValueError,
            f"`labels` must have the shape of `{name}` without axis {axis}, {tuple(expected)}, "
            f"got {tuple(labels.shape)} ({name} shape {tuple(predictions.shape)})."
        )
    return ax


def check_range(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Checks a static scalar option against an interval.

    Traced values (under ``jit``) cannot be checked at trace time and are
    accepted as they are.
    """
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise error(TypeError, f"`{name}` must be a number, got {value!r}.")
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


def as_mask(where: Any, shape: Sequence[int], target: str = "predictions") -> jax.Array | None:
    """Checks a ``where`` mask: boolean and broadcastable to ``shape``."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise error(TypeError, f"`where` must be a boolean array, got {_describe(where)}.")
    check_broadcastable_to(where, shape, "where", target)
    return jnp.broadcast_to(where, tuple(shape))


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
