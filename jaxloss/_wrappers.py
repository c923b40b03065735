"""Optax-style wrappers that bind a core loss, its options and a reduction."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxloss import _reduce


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an option value (arrays hash by content)."""
    if isinstance(value, (jax.Array, np.ndarray)):
        arr = np.asarray(value)
        return ("array", arr.dtype.str, arr.shape, arr.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
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


class Loss:
    """A core loss bound to its options and a reduction; immutable and hashable.

    ``Loss(fn, reduction="mean", **options)(predictions, targets, weights=None,
    where=None)`` returns ``jaxloss.reduce(fn(predictions, targets, **options),
    weights, reduction=reduction, where=where)``. When ``options`` hold an
    ``ignore_index``, the examples whose target equals it count as weight 0
    (so ``"weighted_mean"`` averages over the examples that are not ignored).

    ``Loss`` objects add and scale: ``ce + 0.1 * focal`` is a ``Loss`` that
    calls both with the same arguments and sums the scaled results. Being
    hashable (options compare by value, arrays by content), a ``Loss`` can be a
    static argument of ``jax.jit`` or a dict key.

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
      >>> both = ce + 0.5 * jaxloss.Loss(jaxloss.poly1_cross_entropy, reduction="sum")
      >>> jax.jit(lambda l, y: both(l, jax.nn.one_hot(y, 3)))  # doctest: +ELLIPSIS
      <PjitFunction ...>
    """

    __slots__ = ("_terms",)
    _terms: tuple[_Term, ...]

    def __init__(self, fn: Callable[..., jax.Array], *, reduction: str = "mean", **options: Any):
        if not callable(fn):
            raise TypeError(f"`fn` must be a callable loss, got {fn!r}.")
        _reduce.check_reduction(reduction)
        term = _Term(1.0, fn, reduction, tuple(sorted(options.items())))
        term.key()  # fail now, not at hashing time, on an unhashable option
        object.__setattr__(self, "_terms", (term,))

    @classmethod
    def _from_terms(cls, terms: tuple[_Term, ...]) -> Loss:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_terms", terms)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"Loss is immutable; cannot set {name!r}.")

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
            term_where = where
            ignore_index = options.get("ignore_index")
            if ignore_index is not None:
                keep = jax.numpy.asarray(targets) != ignore_index
                term_where = keep if where is None else _and_mask(keep, where)
            value = _reduce.reduce(
                term.fn(predictions, targets, **options),
                weights,
                reduction=term.reduction,
                where=term_where,
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

    def __mul__(self, scale: Any) -> Loss:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            return NotImplemented
        return Loss._from_terms(tuple(dataclasses.replace(t, coef=t.coef * float(scale)) for t in self._terms))

    __rmul__ = __mul__

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
