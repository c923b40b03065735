"""Varying manual axes: loop carries and custom-VJP inputs inside ``jax.shard_map``.

Inside ``jax.shard_map(..., check_vma=True)`` every value's type records the
mesh axes it varies over (``{V:data}``: a different value on each ``data``
shard). A ``lax.scan``/``fori_loop`` carry must keep one type through the
loop, so an initial value built from constants (``jnp.zeros``, invariant)
cannot carry a result that mixes in a sharded input; and a ``custom_vjp``
must return cotangents of its inputs' own types. The helpers here mark
values as varying (``lax.pcast(..., to="varying")``, ``lax.pvary`` in older
jax) over the axes their references vary over. Outside ``shard_map``, with
``check_vma=False``, or on a jax without these types, they return their
argument unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
from jax import lax


def _aval(x: Any) -> Any:
    typeof = getattr(jax, "typeof", None)
    try:
        return typeof(x) if typeof is not None else jax.core.get_aval(x)  # type: ignore[attr-defined]
    except (TypeError, AttributeError):
        return None


def vma(*trees: Any) -> frozenset:
    """The union of the varying manual axes of every array leaf of ``trees``."""
    out: set = set()
    for leaf in jax.tree_util.tree_leaves(trees):
        aval = _aval(leaf)
        mat = getattr(aval, "mat", None)  # jax >= 0.9: ShapedArray.mat.varying
        varying = getattr(mat, "varying", None) if mat is not None else getattr(aval, "vma", None)
        out.update(varying or ())
    return frozenset(out)


def _pvary(x: Any, axes: frozenset) -> Any:
    if not axes:
        return x
    names = tuple(sorted(axes, key=str))  # a fixed order: the same program every time
    if hasattr(lax, "pcast"):
        return lax.pcast(x, names, to="varying")
    if hasattr(lax, "pvary"):
        return lax.pvary(x, names)
    return x


def vary_like(tree: Any, *refs: Any) -> Any:
    """``tree`` with each leaf varying over every manual axis some leaf of ``refs`` varies over."""
    axes = vma(*refs)
    if not axes:
        return tree
    return jax.tree_util.tree_map(lambda x: _pvary(x, axes - vma(x)), tree)


def match(*trees: Any) -> tuple:
    """``trees`` with every leaf varying over the union of all their leaves' axes.

    Applied to the inputs of a ``custom_vjp`` (or a loop), it makes their
    types equal, so the rule's cotangents and the loop's carries have the
    inputs' type; autodiff sums the cotangent of an input that was invariant
    over the axes it gained (the transpose of ``pvary`` is ``psum``), as it
    does for any replicated parameter used with sharded data.
    """
    return tuple(vary_like(t, *trees) for t in trees)
