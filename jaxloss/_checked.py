"""Opt-in runtime checks of array *values*: :func:`checked`.

The trace-time checks of :mod:`jaxloss._checks` see only shapes, dtypes and
Python options. What only the values can tell (a class index out of range,
a probability of 1.2, a negative weight, a ``nan`` in the inputs) is turned
into an error by :func:`checked`, built on :mod:`jax.experimental.checkify`.
Nothing here runs unless a loss is wrapped, so unwrapped losses pay nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from jaxloss import _checks

__all__ = ["checked"]


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _index_text(shape: tuple[int, ...]) -> str:
    """Placeholders ``({i0}, {i1})`` for a multi-index into ``shape``."""
    if len(shape) == 1:
        return "({i0},)"
    return "(" + ", ".join(f"{{i{k}}}" for k in range(len(shape))) + ")"


def _check(bad: jax.Array, where: str, name: str, problem: str, value: jax.Array) -> None:
    """One ``checkify.check`` naming ``name`` and the first offending index."""
    if bad.size == 0:
        return
    flat = jnp.argmax(bad.ravel())
    multi = jnp.unravel_index(flat, bad.shape) if bad.ndim else ()
    shown = jnp.broadcast_to(value, bad.shape).ravel()[flat]
    checkify.check(
        ~jnp.any(bad),
        f"{where}: `{name}` {problem}; first offending entry at index {_index_text(bad.shape)} "
        f"(flat index {{flat}}) holds {{value}}.",
        flat=flat,
        value=shown,
        **{f"i{k}": i for k, i in enumerate(multi)},  # type: ignore[arg-type]  # format fields, not `debug`
    )


def _default(sig: inspect.Signature, name: str, fallback: Any) -> Any:
    param = sig.parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return fallback
    return param.default


_NO_ROLES = _checks.Roles()
# `reduce` and `Loss.__call__` take weights; reduce declares nothing else.
_REDUCE_ROLES = _checks.Roles(non_negative=("weights",))


def _declared(fn: Any) -> tuple[Any, _checks.Roles, dict[str, Any]]:
    """``(the function to bind, its declared roles, options bound elsewhere)`` for any loss callable."""
    from jaxloss._reduce import reduce  # local: keeps this module free of import cycles

    bound: dict[str, Any] = {}
    while isinstance(fn, functools.partial):
        bound = {**fn.keywords, **bound}
        fn = fn.func
    if fn is reduce:
        return fn, _REDUCE_ROLES, bound
    roles = _checks.roles_of(fn)
    if roles is None and not inspect.isfunction(fn):
        # A loss object (a compat twin class): its class declares, its attributes are its options.
        roles = _checks.roles_of(type(fn))
        bound = {**{k: v for k, v in vars(fn).items() if not k.startswith("_")}, **bound}
        return fn, roles or _NO_ROLES, bound
    return fn, roles or _NO_ROLES, bound


def _roles(fn: Any, args: tuple, kwargs: dict) -> tuple[dict[str, Any], dict[str, Any], _checks.Roles, str]:
    """Binds a call; returns ``(arguments by name, options, the declared roles, the loss's name)``.

    For a :class:`jaxloss.Loss`, ``predictions``/``targets`` are renamed after
    the first term's core function (so messages say ``labels``, ``logits``),
    its bound options join the call's, and ``weights`` are weights.
    """
    from jaxloss._wrappers import Loss  # local: _wrappers imports nothing of ours

    if isinstance(fn, Loss):
        core, roles, _ = _declared(fn._terms[0].fn)
        bound = inspect.signature(fn.__call__).bind(*args, **kwargs)
        named = dict(bound.arguments)
        core_params = [p for p in inspect.signature(core).parameters][:2]
        arrays = {core_params[0]: named.pop("predictions"), core_params[1]: named.pop("targets")}
        arrays.update(named)
        options = {**_defaults(core), **dict(fn._terms[0].options)}
        roles = dataclasses.replace(roles, non_negative=(*roles.non_negative, "weights"))
        return arrays, options, roles, getattr(core, "__name__", "loss")
    target, roles, options = _declared(fn)
    call = target if inspect.isfunction(target) or isinstance(target, functools.partial) else type(target).__call__
    sig = inspect.signature(call)
    if call is not target:  # an unbound __call__: bind self too
        args = (target, *args)
    bound = sig.bind(*args, **kwargs)
    named = {k: v for k, v in bound.arguments.items() if k != "self"}
    for key, param in sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and key in named:
            named.update(named.pop(key))
    options = {**_defaults(call), **options, **named}
    name = getattr(fn, "__name__", type(fn).__name__)
    return named, options, roles, name


def _defaults(fn: Any) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def _num_classes(arrays: dict[str, Any], options: dict[str, Any], roles: _checks.Roles) -> int | None:
    if roles.num_classes is not None:
        return roles.num_classes({**options, **arrays})
    pred = arrays.get(roles.classes_in) if roles.classes_in else None
    if pred is None or not _is_array(pred):
        return None
    axis = options.get(roles.class_axis) if roles.class_axis else None
    axis = -1 if axis is None else int(axis)
    return int(jnp.shape(pred)[axis])


def _keep(bad: jax.Array, valid: jax.Array | None) -> jax.Array:
    """Leaves out the entries that ``where`` masks."""
    return bad if valid is None else bad & valid


def _run_checks(arrays, options, roles: _checks.Roles, where_name, what):
    mask = arrays.get("where")
    mask = jnp.asarray(mask) if _is_array(mask) else None
    probability = roles.probabilities
    if probability is not None and roles.unless and options.get(roles.unless):
        probability = None
    for name, value in arrays.items():
        if not _is_array(value) or name == "where":
            continue
        x = jnp.asarray(value)
        if what["labels"] and name == roles.labels and jnp.issubdtype(x.dtype, jnp.integer):
            x = _checks.as_integer(x, name)  # widened: an int8 label compares with 200 classes
            n = _num_classes(arrays, options, roles)
            if n is not None:
                bad = (x < 0) | (x >= n)
                ignore = options.get(roles.ignore_index) if roles.ignore_index else None
                if ignore is not None:
                    bad = bad & (x != ignore)
                _check(bad, where_name, name, f"holds a class index outside [0, {n}) that is not ignored", x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            continue
        valid = None
        if mask is not None:
            try:
                valid = jnp.broadcast_to(mask, x.shape)
            except ValueError:
                valid = None
        if what["finite"]:
            _check(_keep(~jnp.isfinite(x), valid), where_name, name, "must be finite (no nan or inf)", x)
        if what["probabilities"] and name == probability:
            _check(_keep((x < 0) | (x > 1), valid), where_name, name, "holds a probability outside [0, 1]", x)
        if what["weights"] and name in roles.non_negative:
            _check(_keep(x < 0, valid), where_name, name, "holds a negative weight (weights must be >= 0)", x)


def _as_arrays(args: Any) -> Any:
    """Python lists and tuples of numbers as arrays, so that they are checked too."""

    def convert(x: Any) -> Any:
        if isinstance(x, (list, tuple)) and x and all(isinstance(v, (int, float, list, tuple)) for v in x):
            try:
                return np.asarray(x)
            except ValueError:
                return x
        return x

    return [convert(a) for a in args]


def _throw(error: checkify.Error) -> None:
    message = error.get()
    if message is not None:
        raise jax.errors.JaxRuntimeError(message)


def checked(
    fn: Callable[..., jax.Array],
    *,
    labels: bool = True,
    probabilities: bool = True,
    weights: bool = True,
    finite: bool = True,
) -> Callable[..., jax.Array]:
    """Wraps a loss so that bad input *values* raise, also under ``jit``.

    The wrapped function validates its array arguments with
    :mod:`jax.experimental.checkify` before calling ``fn``, and raises an
    error that names the argument and the first offending index (both the
    multi-index and the flat index) for:

    * integer class labels outside ``[0, num_classes)`` that are not
      ``ignore_index``/``ignore_class`` (``labels``);
    * probabilities outside ``[0, 1]`` given to a probability-input loss
      (``probs``, or ``y_pred`` of a Keras twin with ``from_logits=False``)
      (``probabilities``);
    * negative weights (``weights``, ``sample_weight``, ``class_weights``,
      ``pos_weight``) (``weights``);
    * ``nan`` or ``inf`` in any floating-point argument, except entries
      masked by ``where`` (``finite``; turn it off for losses that accept
      ``-inf`` logits on purpose).

    The error is a ``jax.errors.JaxRuntimeError``: raised at once when called
    eagerly, and when the computation runs inside ``jax.jit``, ``vmap`` or
    ``grad`` (from a ``jax.debug.callback``; XLA prefixes the same message).
    Values and gradients are those of ``fn``, which is called unchanged after
    the checks. The checks cost nothing unless a loss is wrapped.

    Args:
      fn: a core loss, :func:`jaxloss.reduce`, a :class:`jaxloss.Loss` or a
        compat twin (function or loss object).
      labels: check integer labels against the number of classes.
      probabilities: check probability inputs against ``[0, 1]``.
      weights: check that weights are non-negative.
      finite: check that floating-point inputs are finite.

    Returns:
      A function with ``fn``'s signature and values.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> ce = jax.jit(jaxloss.checked(jaxloss.sparse_softmax_cross_entropy))
      >>> logits = jnp.zeros((2, 3))
      >>> ce(logits, jnp.array([0, 2]))
      Array([1.09861, 1.09861], dtype=float32)
      >>> try:
      ...     jaxloss.checked(jaxloss.sparse_softmax_cross_entropy)(logits, jnp.array([0, 7]))
      ... except jax.errors.JaxRuntimeError as e:
      ...     print(str(e).split(";")[1])
       first offending entry at index (1,) (flat index 1) holds 7. (`check` failed)
    """
    if not callable(fn):
        raise _checks.error(TypeError, f"`fn` must be a callable loss, got {fn!r}.")
    what = {"labels": labels, "probabilities": probabilities, "weights": weights, "finite": finite}

    @functools.wraps(fn if inspect.isfunction(fn) else type(fn).__call__)
    def wrapped(*args: Any, **kwargs: Any) -> jax.Array:
        check_args = tuple(_as_arrays(args))
        check_kwargs = dict(zip(kwargs, _as_arrays(list(kwargs.values())), strict=True))
        arrays, options, roles, name = _roles(fn, check_args, check_kwargs)
        leaves, treedef = jax.tree_util.tree_flatten((check_args, check_kwargs), is_leaf=lambda x: x is None)
        dynamic = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]

        def validate(*dyn):
            full = list(leaves)
            for i, leaf in zip(dynamic, dyn, strict=True):
                full[i] = leaf
            call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, full)
            named, _, _, _ = _roles(fn, call_args, call_kwargs)
            _run_checks(named, options, roles, name, what)

        # The checks run apart from ``fn``: ``fn`` itself is not transformed,
        # so its values and gradients are untouched (and checkify's rule for
        # a custom_vjp after a check, which loses residuals under grad in
        # jax 0.10, never applies).
        error, _ = checkify.checkify(validate, errors=checkify.user_checks)(*[leaves[i] for i in dynamic])
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(error)):
            # Under a transformation the error is a traced value: raise when it runs.
            jax.debug.callback(_throw, error)
        else:
            _throw(error)
        out = fn(*args, **kwargs)
        return out

    return wrapped
