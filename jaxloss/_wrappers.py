"""Optax-style wrappers that bind a core loss, its options and a reduction."""

from __future__ import annotations

import dataclasses
import inspect
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxloss import _checks, _reduce


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an option value (arrays hash by content)."""
    if isinstance(value, (jax.Array, np.ndarray)):
        arr = np.asarray(value)
        return ("array", arr.dtype.str, arr.shape, arr.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, jax.core.Tracer):
        raise TypeError("traced")
    hash(value)  # raises TypeError for an unhashable option
    return value


def _and_mask(keep: jax.Array, where: Any) -> jax.Array:
    """``keep & where``, broadcast explicitly (no implicit rank promotion)."""
    where = jax.numpy.asarray(where)
    if where.dtype != jax.numpy.bool_:
        return where  # not a mask: `reduce` reports it, naming `where`
    keep, where = jax.numpy.broadcast_arrays(keep, where)
    return keep & where


@dataclasses.dataclass(frozen=True)
class _Term:
    coef: float
    fn: Callable[..., jax.Array]
    reduction: str
    options: tuple[tuple[str, Any], ...]

    def key(self):
        return (self.coef, self.fn, self.reduction, tuple((k, _freeze(v)) for k, v in self.options))


def _check_options(fn: Callable[..., Any], options: dict[str, Any]) -> None:
    """Every option is a keyword of ``fn`` and static (hashable, not traced)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check against
        params = None
    if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        keywords = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(keywords))
        if unknown:
            name = getattr(fn, "__name__", repr(fn))
            raise _checks.error(
                TypeError,
                f"`{unknown[0]}` is not an option of {name}; its options are: {', '.join(keywords) or 'none'}.",
            )
    for key, value in options.items():
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value)):
            raise _checks.error(
                TypeError,
                f"`{key}` is a traced value, but the options of a Loss are static (it is hashable, a "
                f"`jit` static argument): pass a Python number or a concrete array, or call the core "
                f"function directly inside the traced code.",
            )
        try:
            _freeze(value)
        except TypeError:
            raise _checks.error(
                TypeError, f"`{key}` must be hashable (a number, string, tuple or array), got {value!r}."
            ) from None


class Loss:
    """A core loss bound to its options and a reduction; immutable and hashable.

    ``Loss(fn, reduction="mean", **options)(predictions, targets, weights=None,
    where=None)`` returns ``jaxloss.reduce(fn(predictions, targets, **options),
    weights, reduction=reduction, where=where)``, with the rules that make
    ``"mean"`` and ``"weighted_mean"`` the numbers PyTorch users expect:

    * an example that the loss ignores (its label equals ``ignore_index``) is
      masked: it is counted in no denominator, so ``"mean"`` averages over the
      examples that are not ignored;
    * ``class_weights`` are weights: the loss has already multiplied each
      example by the weight of its target class, and ``"weighted_mean"``
      divides by the sum of those weights (times ``weights``), so
      ``Loss(sparse_softmax_cross_entropy, class_weights=w, ignore_index=-100,
      reduction="weighted_mean")`` is torch's ``cross_entropy(weight=w,
      ignore_index=-100)``.

    Both come from what the core function declares about its options, not from
    special cases here. Options are checked at construction: a name that
    ``fn`` does not take raises ``TypeError`` naming it, and so does a traced
    value (options are static).

    ``Loss`` objects combine: ``ce + 0.1 * focal``, ``ce - aux``, ``ce / 2``
    and ``sum([a, b, c])`` are ``Loss`` objects that call each term with the
    same arguments and add the scaled results. Being hashable (options compare
    by value, arrays by content), a ``Loss`` can be a static argument of
    ``jax.jit`` or a dict key; it pickles and copies to an equal ``Loss``.

    Args:
      fn: a core loss, e.g. ``jaxloss.sparse_softmax_cross_entropy``.
      reduction: see :func:`jaxloss.reduce`.
      **options: keyword options forwarded to ``fn``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> ce = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.1)
      >>> logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> labels = jnp.array([0, 1])
      >>> round(float(ce(logits, labels)), 4)
      0.4773
      >>> masked = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)
      >>> round(float(masked(logits, jnp.array([0, -100]))), 4)  # the mean of the one kept example
      0.1698
      >>> both = ce + 0.5 * jaxloss.Loss(jaxloss.poly1_cross_entropy, reduction="sum")
      >>> jax.jit(lambda l, y: both(l, jax.nn.one_hot(y, 3)))  # doctest: +ELLIPSIS
      <PjitFunction ...>
    """

    __slots__ = ("_terms",)
    _terms: tuple[_Term, ...]

    def __init__(self, fn: Callable[..., jax.Array], *, reduction: str = "mean", **options: Any):
        if not callable(fn):
            raise _checks.error(TypeError, f"`fn` must be a callable loss, got {fn!r}.")
        _reduce.check_reduction(reduction)
        _check_options(fn, options)
        term = _Term(1.0, fn, reduction, tuple(sorted(options.items())))
        object.__setattr__(self, "_terms", (term,))

    @classmethod
    def _from_terms(cls, terms: tuple[_Term, ...]) -> Loss:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_terms", terms)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"Loss is immutable; cannot set {name!r}.")

    def __reduce__(self) -> tuple[Any, ...]:
        # Immutable: pickle and copy rebuild from the terms (no __setattr__).
        return (Loss._from_terms, (self._terms,))

    def __copy__(self) -> Loss:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Loss:
        import copy

        return Loss._from_terms(copy.deepcopy(self._terms, memo))

    @property
    def fn(self) -> Callable[..., jax.Array]:
        """The core function (for a single, unscaled loss)."""
        return self._terms[0].fn

    @property
    def reduction(self) -> str:
        return self._terms[0].reduction

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._terms[0].options)

    def __call__(self, predictions, targets, *, weights=None, where=None) -> jax.Array:
        total = None
        for term in self._terms:
            options = dict(term.options)
            keep, applied = _checks.loss_report(term.fn, predictions, targets, options)
            term_where = where
            if keep is not None:
                term_where = keep if where is None else _and_mask(keep, where)
            value = _reduce.reduce_applied(
                term.fn(predictions, targets, **options),
                weights,
                reduction=term.reduction,
                where=term_where,
                applied=applied,
            )
            if term.coef != 1.0:
                value = term.coef * value
            total = value if total is None else total + value
        assert total is not None  # a Loss has at least one term
        return total

    def __add__(self, other: Any) -> Loss:
        if not isinstance(other, Loss):
            return NotImplemented
        return Loss._from_terms(self._terms + other._terms)

    def __radd__(self, other: Any) -> Loss:
        # sum([a, b]) starts from 0.
        if isinstance(other, numbers.Real) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Any) -> Loss:
        if not isinstance(other, Loss):
            return NotImplemented
        return self + (-1.0) * other

    def __neg__(self) -> Loss:
        return (-1.0) * self

    def __mul__(self, scale: Any) -> Loss:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            return NotImplemented
        return Loss._from_terms(tuple(dataclasses.replace(t, coef=t.coef * float(scale)) for t in self._terms))

    __rmul__ = __mul__

    def __truediv__(self, scale: Any) -> Loss:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            return NotImplemented
        if scale == 0:
            raise _checks.error(ZeroDivisionError, "a `Loss` divided by zero.")
        return self * (1.0 / float(scale))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Loss):
            return NotImplemented
        return tuple(t.key() for t in self._terms) == tuple(t.key() for t in other._terms)

    def __hash__(self) -> int:
        return hash(tuple(t.key() for t in self._terms))

    def __repr__(self) -> str:
        parts = []
        for t in self._terms:
            opts = "".join(f", {k}={v!r}" for k, v in t.options)
            name = getattr(t.fn, "__name__", repr(t.fn))
            body = f"Loss({name}, reduction={t.reduction!r}{opts})"
            parts.append(body if t.coef == 1.0 else f"{t.coef!r} * {body}")
        return " + ".join(parts)
