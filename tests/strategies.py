"""Hypothesis strategies, pinned extreme cases and the table of losses the property tests run over.

One :class:`Spec` per function: how to draw its arguments (a *kind* per
positional argument, in call order), which of them to differentiate, its
options, whether it takes a ``where`` mask, and how large its inputs may be
before the exact result overflows (``max_exp``). Adding a function to the
property suite is adding one entry to :data:`CORE` or :data:`TWINS`.

Two sources of inputs per function:

* :func:`cases`, a hypothesis strategy. The CI profile (``tests/conftest.py``)
  runs one example per function, hypothesis's simplest: every choice at its
  first option. So the first option of every list here is a non-degenerate
  one: a full ``(3, 4)`` batch, the largest magnitude the function and dtype
  allow, and the informative option values (label smoothing 0.1, focal
  ``gamma`` 2, an ``ignore_index`` in use, ...). Dtype, integer-label dtype
  and the random seed rotate over the table (a fixed number per function,
  :func:`_turn`), so the one CI example differs from function to function.
  Every float array mixes, by construction, a value near the cap, a tiny one
  (1e-30 .. 1e-24; float16: its subnormals), ordinary ones (around 1) and, from
  four entries on, zeros (:func:`magnitudes`); binary labels hold both 0 and
  1; a ``where`` mask both keeps and drops entries.
* :func:`pinned_cases`, explicit cases per function for the corners a random
  draw rarely hits: ``+-10**max_exp`` next to tiny values, zero vectors,
  probabilities and labels of exactly 0 and 1, a fully masked row, ``+-inf``
  where the contract allows it (``-inf`` logits of zero-mass classes, ``+inf``
  logits of label-1 entries), moderate inputs for a finite-difference check of
  the gradient, and an empty batch (in another dtype and label dtype than the
  CI example's); where the CI example is float16 (magnitudes up to 10**3.5),
  the extremes again in float32.

``JAXLOSS_REPORT_DRAWS=<file>`` makes the property tests append one JSON line
per case they run (function, source, shapes, dtypes, magnitudes, whether it
was all zero or empty, the value's magnitudes) to ``<file>``;
``python tests/draws_report.py`` runs the property files that way and prints
the table.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import jaxloss
from jaxloss.compat import keras, tf_v1, tflearn

# (B, C) pairs. The first is the CI profile's (hypothesis's simplest pick):
# a full batch of several classes, which no function reduces to a trivial
# value. The others (size-1 dimensions, an empty batch) are drawn by longer
# runs and pinned for every function in `pinned_cases`. Few, so that JAX's
# per-shape compilations are shared across the whole table.
SHAPES = ((3, 4), (1, 4), (2, 1), (1, 1), (0, 4))
HIDDEN = 3  # D of fused_linear_cross_entropy
DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
# Integer label dtypes (core functions take any; compat twins int32).
LABEL_DTYPES = (jnp.int32, jnp.int8, jnp.uint8, jnp.int16, jnp.uint16)
# log10 of the largest magnitude drawn. The first entry is hypothesis's first
# (simplest) choice: make it the extreme one (capped per spec and dtype).
EXPONENTS = (30.0, 0.0, 2.0, 8.0, 15.0)
# float16 tops out at 65504; a gradient (returned in float16) must fit too.
_DTYPE_MAX_EXP = {jnp.dtype(jnp.float16): 3.5, jnp.dtype(jnp.bfloat16): 30.0}
# log10 of the smallest magnitude drawn: float16's subnormals end at 6e-8.
_DTYPE_MIN_EXP = {jnp.dtype(jnp.float16): -7.0}
TINY_EXP = -30.0

# Kinds of argument -> shape: "BC" = (B, C), "B" = (B,), "C" = (C,).
_SHAPES = {
    "real": "BC",
    "pos": "BC",
    "logprob": "BC",
    "prob": "BC",
    "probrow": "BC",
    "onehot": "BC",
    "soft": "BC",
    "binary": "BC",
    "sign": "BC",
    "count": "BC",
    "wBC": "BC",
    "int": "B",
    "intign": "B",
    "realB": "B",
    "binaryB": "B",
    "wB": "B",
    "wC": "C",
    "hidden": "BD",
    "matrix": "DC",
}
INT_KINDS = frozenset({"int", "intign"})
FLOAT_KINDS = frozenset(_SHAPES) - INT_KINDS
# Kinds whose values span magnitudes (the others are labels, probabilities, weights).
MAGNITUDE_KINDS = frozenset({"real", "pos", "logprob", "realB", "hidden", "matrix"})
WEIGHT_KINDS = frozenset({"wBC", "wB", "wC"})
# Target kinds that put zero mass on some classes (where an infinite logit is allowed).
_TARGET_KINDS = frozenset({"onehot", "soft", "int", "intign", "binary", "prob", "logprob", "count"})


class Options:
    """Keyword options drawn independently from fixed lists; the first entry of each is the CI profile's."""

    def __init__(self, **choices: Sequence[Any]) -> None:
        self.choices = {k: tuple(v) for k, v in choices.items()}

    def __call__(self, draw, num_classes: int) -> dict:
        return {k: draw(st.sampled_from(v)) for k, v in self.choices.items()}

    def first(self) -> dict:
        return {k: v[0] for k, v in self.choices.items()}


_opts = Options


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to call one loss in the property tests.

    Attributes:
      name: test id.
      fn: the callable.
      args: argument kinds, in call order (see ``_SHAPES``).
      diff: positions of the arguments to differentiate.
      options: keyword options (:class:`Options`).
      where: position of the argument a ``where=`` mask is shaped like.
      smooth: twice differentiable almost everywhere (Hessian-vector products).
      max_exp: cap on log10 of drawn magnitudes (the exact loss must fit
        float32, e.g. 15 for a square).
      rowwise: output row ``i`` depends only on batch row ``i``.
      empty: a batch of 0 is allowed.
      min_classes: the smallest ``C`` it takes.
      forward_mode: supports ``jvp`` (not a ``custom_vjp``).
      inf: which infinite inputs the contract allows (a pinned case each):
        ``"zero_mass"``: ``-inf`` logits (argument 0) of classes with zero
        target mass; ``"binary"``: ``+inf`` logits where the label is 1 and
        ``-inf`` where it is 0; ``"log_targets"``: ``-inf`` log-targets with
        ``-inf`` log-predictions. ``None``: finite inputs only.
      label_dtypes: integer label dtypes it takes.
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[str, ...]
    diff: tuple[int, ...] = (0,)
    options: Options | None = None
    where: int | None = None
    smooth: bool = True
    max_exp: float = 30.0
    rowwise: bool = True
    empty: bool = True
    min_classes: int = 1
    forward_mode: bool = True
    inf: str | None = None
    label_dtypes: tuple = LABEL_DTYPES

    def __repr__(self) -> str:  # short ids in hypothesis reports
        return self.name


@dataclasses.dataclass
class Case:
    spec: Spec
    args: list
    kwargs: dict
    dtype: Any
    batch: int
    classes: int
    source: str = "draw"

    def call(self, *args, **extra):
        return self.spec.fn(*args, **{**self.kwargs, **extra})


# --------------------------------------------------------------------------
# random arrays
# --------------------------------------------------------------------------

# What each entry of a drawn array is, in order; shuffled over the array. The
# first three entries are a value near the cap, an ordinary one and a tiny
# one, so even a (1, 4) array spans the range; zeros come from entry four on.
_PATTERN = ("big", "moderate", "tiny", "zero", "mid", "moderate", "big", "tiny", "zero", "mid", "moderate", "big")


def magnitudes(rng: np.random.Generator, shape, max_exp: float, min_exp: float = TINY_EXP) -> np.ndarray:
    """Mixed magnitudes in ``[-10**max_exp, 10**max_exp]``: near the cap, tiny, ordinary, zero.

    ``big`` is ``10**u`` with ``u`` uniform in ``[max_exp - 1, max_exp]``,
    ``tiny`` in the lowest tenth of ``[min_exp, max_exp]`` (1e-30 .. 1e-24 by default),
    ``mid`` anywhere in between, ``moderate`` a normal of scale 3; signs are
    random. Every array of ``n`` entries holds the first ``n`` kinds of
    ``_PATTERN`` in a random order.
    """
    n = math.prod(shape)
    kinds = np.array([_PATTERN[i % len(_PATTERN)] for i in range(n)], dtype=object)
    rng.shuffle(kinds)
    kinds = kinds.reshape(shape)
    tiny_hi = min_exp + 0.1 * (max_exp - min_exp)
    u = np.select(
        [kinds == "big", kinds == "tiny"],
        [rng.uniform(max_exp - 1.0, max_exp, size=shape), rng.uniform(min_exp, tiny_hi, size=shape)],
        rng.uniform(min_exp, max_exp, size=shape),
    )
    extreme = 10.0**u * rng.choice([-1.0, 1.0], size=shape)
    moderate = rng.normal(0.0, 3.0, size=shape)
    out = np.where(kinds == "zero", 0.0, np.where(kinds == "moderate", moderate, extreme))
    return np.clip(out, -(10.0**max_exp), 10.0**max_exp)


def _one_spot(rng, shape) -> tuple:
    return np.unravel_index(int(rng.integers(math.prod(shape))), shape)


def _rows(rng, shape, kind):
    b, c = shape
    if kind == "onehot":
        return np.eye(c)[rng.integers(0, c, size=b)] if c else np.zeros(shape)
    z = rng.normal(0, 2, size=shape)
    if kind == "soft":
        e = np.exp(z - z.max(axis=-1, keepdims=True)) if b and c else z
        return e / e.sum(axis=-1, keepdims=True) if b and c else z
    # probrow: non-negative, not normalised, some exact zeros and ones; every
    # row has a positive entry (an all-zero row is no distribution).
    p = rng.uniform(0, 1, size=shape)
    p = np.where(rng.uniform(size=shape) < 0.2, 0.0, np.where(rng.uniform(size=shape) < 0.1, 1.0, p))
    if b and c:
        p[np.arange(b), rng.integers(0, c, size=b)] = rng.uniform(0.2, 1.0, size=b)
    return p


def draw_array(rng, kind: str, shape, dtype, exp: float):
    """One float argument of ``kind``: random, non-degenerate (see the module docstring)."""
    lo = _DTYPE_MIN_EXP.get(jnp.dtype(dtype), TINY_EXP)
    n = math.prod(shape)
    if kind in ("real", "realB", "hidden", "matrix"):
        x = magnitudes(rng, shape, exp, lo)
    elif kind == "pos":
        x = np.abs(magnitudes(rng, shape, exp, lo))
    elif kind in WEIGHT_KINDS:
        # Weights: 0 or >= 1e-3. A normalised reduction divides by the weights'
        # sum, whose Hessian then scales as 1 / w**2 (overflows for w ~ 1e-30).
        x = np.abs(magnitudes(rng, shape, min(exp, 15.0), lo))
        x = np.where((x > 0) & (x < 1e-3), 1e-3, x)
    elif kind == "logprob":
        x = -np.abs(magnitudes(rng, shape, exp, lo))
    elif kind == "prob":
        # exact 0s and 1s next to interior probabilities (at least one of each when n >= 3)
        x = np.where(rng.uniform(size=shape) < 0.3, rng.integers(0, 2, size=shape), rng.uniform(size=shape))
        if n >= 3:
            spots = rng.permutation(n)[:3]
            x.flat[spots] = [0.0, 1.0, rng.uniform(0.05, 0.95)]
    elif kind in ("probrow", "onehot", "soft"):
        x = _rows(rng, shape, kind)
    elif kind in ("binary", "binaryB"):
        x = rng.integers(0, 2, size=shape).astype(float)
        if n >= 2:
            spots = rng.permutation(n)[:2]
            x.flat[spots] = [0.0, 1.0]
    elif kind == "sign":
        x = rng.choice([-1.0, 1.0], size=shape)
    elif kind == "count":
        x = rng.integers(0, 20, size=shape).astype(float)
        if n:
            x[_one_spot(rng, shape)] = rng.integers(1, 20)
    else:
        raise ValueError(kind)
    return jnp.asarray(x, dtype)


def _turn(spec: Spec) -> int:
    """A fixed number per spec (stable across runs and processes)."""
    return zlib.crc32(spec.name.encode())


def _rotate(choices, k: int) -> list:
    """``choices`` starting at ``k``: hypothesis's first (simplest) pick differs per spec.

    The CI profile draws one example per spec, which is hypothesis's simplest:
    rotating the dtype, label dtype and seed by a per-spec number spreads that
    one example over the table, so every dtype (float32, bfloat16, float16)
    and every integer label dtype is run on many functions in every CI run.
    """
    choices = list(choices)
    k %= len(choices)
    return choices[k:] + choices[:k]


def _cap(spec: Spec, dtype) -> float:
    return min(spec.max_exp, _DTYPE_MAX_EXP.get(jnp.dtype(dtype), 30.0))


def _labels(rng, kind: str, shape, c: int, ignore_index, dtype) -> jax.Array:
    labels = rng.integers(0, max(c, 1), size=shape)
    if kind == "intign" and ignore_index is not None and jnp.issubdtype(dtype, jnp.signedinteger):
        labels = np.where(rng.uniform(size=shape) < 0.3, ignore_index, labels)
        if labels.size >= 2:  # one ignored example and one that is not
            spots = rng.permutation(labels.size)[:2]
            labels.flat[spots] = [ignore_index, rng.integers(0, max(c, 1))]
    return jnp.asarray(labels, dtype)


def _mask(rng, spec: Spec, args, b: int, c: int, full_row: bool = False) -> jax.Array:
    """A ``where`` mask that keeps and drops entries; each row keeps its integer target."""
    shape = args[spec.where].shape
    mask = rng.uniform(size=shape) < 0.7
    n = mask.size
    if n >= 2:
        spots = rng.permutation(n)[:2]
        mask.flat[spots] = [True, False]
    int_targets = [a for k, a in zip(spec.args, args, strict=True) if k in INT_KINDS]
    if full_row and mask.ndim == 2 and b >= 2 and not int_targets:
        mask[1] = False  # a row with every class masked
    for arg in int_targets:
        if mask.ndim == 2 and b:
            # keep each row's target class: masking it is a different (inf) loss
            mask[np.arange(b), np.clip(np.asarray(arg, np.int64), 0, c - 1)] = True
    return jnp.asarray(mask)


def _assemble(
    spec: Spec,
    rng,
    b: int,
    c: int,
    dtype,
    label_dtype,
    kwargs: dict,
    make_float,
    with_where: bool,
    full_row: bool = False,
    source: str = "draw",
) -> Case:
    dims = {"B": b, "C": c, "D": HIDDEN}
    args = []
    for kind in spec.args:
        shape = tuple(dims[ch] for ch in _SHAPES[kind])
        if kind in INT_KINDS:
            args.append(_labels(rng, kind, shape, c, kwargs.get("ignore_index"), label_dtype))
        else:
            args.append(make_float(kind, shape))
    kwargs = dict(kwargs)
    ranked = "realB" in spec.args and "binaryB" in spec.args and b >= 2
    if ranked:
        # a ranking loss is 0 when every positive outscores every negative by
        # the margin: make the top score a negative and the bottom one a positive
        scores, labels = spec.args.index("realB"), spec.args.index("binaryB")
        order = np.argsort(np.asarray(args[scores], np.float64))
        top, bottom = int(order[-1]), int(order[0])
        args[labels] = args[labels].at[top].set(0).at[bottom].set(1)
    if with_where and spec.where is not None:
        kwargs["where"] = _mask(rng, spec, args, b, c, full_row)
        if ranked and spec.where == scores:
            mask = np.asarray(kwargs["where"]).copy()
            mask[[top, bottom]] = True
            others = [i for i in range(b) if i not in (top, bottom)]
            if mask.all() and others:
                mask[others[0]] = False
            kwargs["where"] = jnp.asarray(mask)
    return Case(spec, args, kwargs, jnp.dtype(dtype), b, c, source)


def _allowed_shapes(spec: Spec, shapes) -> list:
    allowed = [(b, c) for b, c in shapes if (b > 0 or spec.empty) and c >= spec.min_classes]
    return allowed or [(3, spec.min_classes)]


@st.composite
def cases(draw, spec: Spec, dtypes=DTYPES, shapes=SHAPES, with_where: bool = False) -> Case:
    """A random call of ``spec``: shapes, dtype, magnitudes, options, mask."""
    turn = _turn(spec)
    dtype = jnp.dtype(draw(st.sampled_from(_rotate(dtypes, turn))))
    label_dtype = jnp.dtype(draw(st.sampled_from(_rotate(spec.label_dtypes, turn // 7))))
    b, c = draw(st.sampled_from(_allowed_shapes(spec, shapes)))
    cap = _cap(spec, dtype)
    exp = draw(st.sampled_from(list(dict.fromkeys(min(e, cap) for e in EXPONENTS))))
    # The seed rotates too: hypothesis's simplest integer is 0, for every spec.
    seed = (draw(st.integers(0, 2**32 - 1)) + turn) % 2**32
    rng = np.random.default_rng(seed)
    kwargs = spec.options(draw, c) if spec.options else {}
    return _assemble(
        spec,
        rng,
        b,
        c,
        dtype,
        label_dtype,
        kwargs,
        lambda kind, shape: draw_array(rng, kind, shape, dtype, exp),
        with_where,
    )


# --------------------------------------------------------------------------
# pinned cases: the corners of the input space, per function
# --------------------------------------------------------------------------


def _extreme_array(kind: str, shape, dtype, cap: float, shift: int = 0) -> np.ndarray:
    """Row 0: +-10**cap next to tiny values; row 1: a zero vector (or exact 0/1s); row 2: mixed.

    ``shift`` rotates the rows (and entries) so that two arguments of one kind
    differ: predictions of ``10**cap`` meet targets of 0, and so on.
    """
    big = 10.0**cap
    tiny = 10.0 ** _DTYPE_MIN_EXP.get(jnp.dtype(dtype), TINY_EXP)
    n = math.prod(shape)
    if kind in ("realB", "binaryB", "wB", "wC"):
        flat = {
            "realB": [big, 0.0, -big, tiny, 1.0],
            "binaryB": [1.0, 0.0, 1.0, 0.0, 1.0],
            "wB": [0.0, 1e-3, min(big, 1e15), 1.0, 0.0],
            "wC": [1e-3, 0.0, min(big, 1e15), 1.0, 2.0],
        }[kind]
        return np.resize(np.roll(np.asarray(flat, np.float64), shift), shape)
    if kind in ("hidden", "matrix", "real", "pos", "logprob", "wBC"):
        top = min(big, 1e15) if kind == "wBC" else big
        rows = [[top, -top, tiny, -tiny, 1.0], [0.0] * 5, [-1.0, 0.5, -top, 2.0, tiny]]
        if kind == "wBC":
            rows = [[top, 1e-3, 1.0, 0.0, 2.0], [0.0] * 5, [1.0, 0.0, top, 1e-3, 3.0]]
    elif kind == "prob":
        rows = [[0.0, 1.0, 0.0, 1.0, 0.5], [1.0, 0.0, 1.0, 0.0, 1.0], [0.5, tiny, 1.0 - 1e-7, 0.0, 1.0]]
    elif kind == "probrow":
        rows = [[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0], [tiny, 1.0, 0.0, 0.5, 0.0]]
    elif kind == "onehot":
        rows = [[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]]
    elif kind == "soft":
        rows = [[1.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25, 0.0]]
    elif kind == "binary":
        rows = [[1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 1.0]]
    elif kind == "sign":
        rows = [[1.0, -1.0, 1.0, -1.0, 1.0], [-1.0, 1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0, 1.0]]
    elif kind == "count":
        rows = [[0.0, 1.0, 5.0, 100.0, 2.0], [0.0] * 5, [3.0, 0.0, 19.0, 1.0, 7.0]]
    else:
        raise ValueError(kind)
    b, c = shape
    out = np.asarray(
        [np.roll(rows[(i + shift) % 3], shift)[:c] if c <= 5 else (rows[(i + shift) % 3] * c)[:c] for i in range(b)],
        np.float64,
    ).reshape(shape)
    if kind in ("pos",):
        out = np.abs(out)
    elif kind == "logprob":
        out = -np.abs(out)
    elif kind in ("soft", "onehot", "probrow") and c < 5 and b:
        # keep rows distributions after truncating to c classes
        out = np.where(out.sum(-1, keepdims=True) > 0, out, np.eye(c)[0])
        if kind == "soft":
            out = out / out.sum(-1, keepdims=True)
    assert n == out.size
    return out


def _ordinary_array(rng, kind: str, shape) -> np.ndarray:
    """Moderate values away from kinks, clips and zeros: where finite differences are exact enough."""
    if kind in ("real", "realB", "hidden", "matrix"):
        return rng.uniform(0.5, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    if kind == "pos":
        return rng.uniform(0.2, 3.0, size=shape)
    if kind == "logprob":
        return -rng.uniform(0.2, 3.0, size=shape)
    if kind == "prob":
        return rng.uniform(0.05, 0.95, size=shape)
    if kind in WEIGHT_KINDS:
        return rng.uniform(0.2, 2.0, size=shape)
    if kind == "probrow":
        return rng.uniform(0.1, 1.0, size=shape)
    return None  # labels: the random draw's


def _infinities(spec: Spec, args: list) -> list:
    """Put the infinities the contract allows into argument 0 (and 1 for log-targets)."""
    x = np.array(args[0], np.float64)
    target_kind = spec.args[1]
    t = np.asarray(args[1], np.float64)
    if spec.inf == "zero_mass":
        if target_kind in INT_KINDS:
            c = x.shape[-1]
            zero_mass = np.ones(x.shape, bool)
            rows = np.arange(x.shape[0])
            zero_mass[rows, np.clip(t.astype(np.int64), 0, c - 1)] = False
            zero_mass[t < 0] = True  # an ignored example: any logits
        else:
            zero_mass = t == 0
        # row 0: every zero-mass class -inf; row 2: half of them
        keep = np.zeros(x.shape, bool)
        keep[0] = True
        if x.shape[0] > 2:
            keep[2, ::2] = True
        if target_kind in INT_KINDS:
            keep[t < 0] = True  # an ignored example: a row of -inf logits (an empty softmax)
        x = np.where(zero_mass & keep, -np.inf, x)
    elif spec.inf == "binary":
        # a logit of +inf where the label is 1 and -inf where it is 0 (the loss is 0 there)
        sure = (t == 0) | (t == 1)
        keep = np.zeros(x.shape, bool)
        keep[0] = True
        x = np.where(sure & keep, np.where(t == 1, np.inf, -np.inf), x)
    elif spec.inf == "log_targets":
        # t = 0 (log-target -inf) with a log-prediction of -inf
        keep = np.zeros(x.shape, bool)
        keep[0, 1::2] = True
        x = np.where(keep, -np.inf, x)
        args = [args[0], jnp.asarray(np.where(keep, -np.inf, t), args[1].dtype), *args[2:]]
    elif spec.inf == "log_rate":
        # log-rate -inf where the count is 0
        keep = np.zeros(x.shape, bool)
        keep[0] = True
        x = np.where((t == 0) & keep, -np.inf, x)
    else:
        raise ValueError(spec.inf)
    return [jnp.asarray(x, args[0].dtype), *args[1:]]


def _ci_choices(spec: Spec):
    """The dtype, integer-label dtype and options of the CI profile's example for ``spec``."""
    turn = _turn(spec)
    dtype = jnp.dtype(_rotate(DTYPES, turn)[0])
    label_dtype = jnp.dtype(_rotate(spec.label_dtypes, turn // 7)[0])
    return turn, dtype, label_dtype, (spec.options.first() if spec.options else {})


def pin_names(spec: Spec) -> list[str]:
    """The pinned cases of ``spec`` (see :func:`pinned_case`)."""
    names = ["extremes", "ordinary"]
    if _ci_choices(spec)[1] == jnp.float16:
        names.append("extremes-float32")  # float16 caps magnitudes at 10**3.5
    if spec.inf:
        names.append("inf")
    if spec.empty:
        names.append("empty")
    return names


def pinned_case(spec: Spec, name: str) -> Case:
    """One explicit corner case of ``spec``.

    ``extremes``, ``ordinary`` and ``inf`` have the CI example's shape, dtype
    and options (``inf``: without label smoothing), so a test that compiles
    per shape, dtype and options reuses the CI example's program:

    * ``extremes``: per row, ``+-10**max_exp`` next to tiny values; a zero
      vector; a mixed row. Probabilities and binary labels of exactly 0 and 1,
      zero weights, one-hot and soft targets with exact zeros, a ``where``
      mask with a fully masked row (when no integer target forbids it).
    * ``ordinary``: moderate values away from zeros, clips and kinks (the
      gradient is compared with finite differences there).
    * ``extremes-float32`` (functions whose CI example is float16, which
      caps magnitudes at ``10**3.5``): ``extremes`` in float32, which reuses the
      compilation that checks float16 derivatives against float32 ones.
    * ``inf``: ``spec.inf``'s infinite inputs.
    * ``empty``: a batch of 0, in the next dtype and label dtype.

    (Size-1 dimensions, ``(1, 4)``, ``(2, 1)`` and ``(1, 1)``, are in
    :data:`SHAPES` for longer runs: pinning them would cost one more
    compilation per function.)
    """
    turn, dtype, label_dtype, options = _ci_choices(spec)
    rng = np.random.default_rng(turn + zlib.crc32(name.encode()))
    b, c = _allowed_shapes(spec, SHAPES)[0]
    with_where = spec.where is not None
    if name == "extremes-float32":
        name, dtype = "extremes", jnp.dtype(jnp.float32)
        source = "extremes-float32"
    else:
        source = name
    if name in ("extremes", "inf"):
        cap = _cap(spec, dtype)
        if name == "inf":
            options = {k: (0.0 if k == "label_smoothing" else v) for k, v in options.items()}
        count = iter(range(len(spec.args)))

        def extreme(kind, shape):
            return jnp.asarray(_extreme_array(kind, shape, dtype, cap, next(count)), dtype)

        case = _assemble(
            spec, rng, b, c, dtype, label_dtype, options, extreme, with_where, full_row=True, source=source
        )
        if name == "inf":
            case.args = _infinities(spec, case.args)
        return case
    if name == "ordinary":

        def make(kind, shape):
            x = _ordinary_array(rng, kind, shape)
            return draw_array(rng, kind, shape, dtype, 0.0) if x is None else jnp.asarray(x, dtype)

        return _assemble(spec, rng, b, c, dtype, label_dtype, options, make, with_where, source=name)
    if name != "empty":
        raise ValueError(name)
    dtype = jnp.dtype(_rotate(DTYPES, turn + 1)[0])
    label_dtype = jnp.dtype(_rotate(spec.label_dtypes, turn // 7 + 1)[0])
    b, c = 0, max(4, spec.min_classes)
    cap = _cap(spec, dtype)
    return _assemble(
        spec,
        rng,
        b,
        c,
        dtype,
        label_dtype,
        options,
        lambda kind, shape: draw_array(rng, kind, shape, dtype, cap),
        with_where,
        source=name,
    )


# --------------------------------------------------------------------------
# what was drawn: JAXLOSS_REPORT_DRAWS
# --------------------------------------------------------------------------

REPORT_ENV = "JAXLOSS_REPORT_DRAWS"


def _describe(arrays: Sequence[Any]) -> dict:
    """Shape, dtype and magnitudes of the float arrays in ``arrays`` (ints: dtype only)."""
    floats = [np.asarray(a, np.float64) for a in arrays if a is not None and jnp.issubdtype(a.dtype, jnp.floating)]
    flat = np.concatenate([f.ravel() for f in floats]) if floats else np.zeros(0)
    finite = np.abs(flat[np.isfinite(flat)])
    nonzero = finite[finite > 0]
    return {
        "shapes": [list(a.shape) for a in arrays if a is not None],
        "dtypes": sorted({str(a.dtype) for a in arrays if a is not None}),
        "size": int(flat.size),
        "min_abs": float(nonzero.min()) if nonzero.size else 0.0,
        "max_abs": float(nonzero.max()) if nonzero.size else 0.0,
        "zero_frac": float(np.mean(flat == 0)) if flat.size else 0.0,
        "inf": int(np.sum(np.isinf(flat))),
        "all_zero": bool(flat.size) and not np.any(flat),
        "empty": flat.size == 0,
    }


def report(function: str, source: str, inputs: Sequence[Any], value: Any = None, options: dict | None = None) -> None:
    """With ``JAXLOSS_REPORT_DRAWS=<file>``, append one JSON line about a case a property test ran."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    inputs = [a for a in inputs if a is not None]
    line = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0],
        "function": function,
        "source": source,
        "inputs": _describe(inputs),
        "options": {
            k: (v if isinstance(v, (int, float, str, bool, type(None))) else "array")
            for k, v in (options or {}).items()
        },
    }
    if value is not None:
        line["value"] = _describe(jax.tree_util.tree_leaves(value))
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def report_case(case: Case, value: Any = None, source: str | None = None) -> None:
    mask = case.kwargs.get("where")
    options = {k: v for k, v in case.kwargs.items() if k != "where"}
    if mask is not None:
        options["where"] = f"{int(np.sum(np.asarray(mask)))}/{np.asarray(mask).size} kept"
    report(case.spec.name, source or case.source, case.args, value, options)


def degeneracies(case: Case) -> list[str]:
    """What makes ``case`` a weak test: empty, all zero, a narrow range of magnitudes, one label."""
    problems = []
    spec = case.spec
    if case.batch == 0:
        problems.append("empty batch")
    floats = [a for a in case.args if jnp.issubdtype(a.dtype, jnp.floating)]
    if floats and not any(np.any(np.asarray(a, np.float64)) for a in floats):
        problems.append("all inputs zero")
    cap = _cap(spec, case.dtype)
    tiny = 1e-5 if case.dtype == jnp.float16 else 1e-20
    for kind, a in zip(spec.args, case.args, strict=True):
        x = np.abs(np.asarray(a, np.float64)).ravel()
        nz = x[x > 0]
        if kind in MAGNITUDE_KINDS:
            if not nz.size or nz.max() < 10.0 ** (cap - 1.0) or nz.min() > tiny:
                lo, hi = (nz.min(), nz.max()) if nz.size else (0.0, 0.0)
                problems.append(f"{kind}: magnitudes {lo:.1e}..{hi:.1e}")
            if not np.any((x >= 0.1) & (x <= 10.0)):
                problems.append(f"{kind}: nothing of ordinary size")
        elif kind in ("binary", "binaryB") and x.size >= 2 and len(np.unique(x)) < 2:
            problems.append(f"{kind}: one label value")
        elif kind == "prob" and x.size >= 3 and not np.any((x > 0) & (x < 1)):
            problems.append("prob: no interior probability")
        elif kind in WEIGHT_KINDS and not nz.size:
            problems.append(f"{kind}: all weights zero")
    if "where" in case.kwargs:
        m = np.asarray(case.kwargs["where"])
        if m.size >= 2 and (m.all() or not m.any()):
            problems.append("where: keeps all or nothing")
    return problems


# --------------------------------------------------------------------------
# the table: core functions
# --------------------------------------------------------------------------

# First entries: what the CI profile runs (see the module docstring).
_SMOOTHING = (0.1, 0.0, 1.0)

CORE: list[Spec] = [
    Spec(
        "softmax_cross_entropy",
        jaxloss.softmax_cross_entropy,
        ("real", "soft"),
        options=_opts(label_smoothing=_SMOOTHING),
        where=0,
        inf="zero_mass",
    ),
    Spec("softmax_cross_entropy/onehot", jaxloss.softmax_cross_entropy, ("real", "onehot"), where=0, inf="zero_mass"),
    Spec(
        "sparse_softmax_cross_entropy",
        jaxloss.sparse_softmax_cross_entropy,
        ("real", "intign"),
        options=_opts(label_smoothing=_SMOOTHING, ignore_index=(-100, None)),
        where=0,
        inf="zero_mass",
    ),
    Spec(
        "sparse_softmax_cross_entropy/z_loss",
        jaxloss.sparse_softmax_cross_entropy,
        ("real", "int"),
        options=_opts(z_loss=(1e-4, 1.0)),
        max_exp=15.0,
        inf="zero_mass",
    ),
    Spec(
        "sigmoid_binary_cross_entropy",
        jaxloss.sigmoid_binary_cross_entropy,
        ("real", "binary"),
        options=_opts(label_smoothing=_SMOOTHING),
        inf="binary",
    ),
    Spec(
        "sigmoid_binary_cross_entropy/pos_weight",
        jaxloss.sigmoid_binary_cross_entropy,
        ("real", "prob"),
        options=_opts(pos_weight=(3.0, 0.5)),
        inf="binary",
    ),
    Spec(
        "sigmoid_focal_loss",
        jaxloss.sigmoid_focal_loss,
        ("real", "binary"),
        options=_opts(alpha=(0.25, None), gamma=(2.0, 0.0, 0.5), label_smoothing=(0.1, 0.0)),
        inf="binary",
    ),
    Spec(
        "softmax_focal_loss",
        jaxloss.softmax_focal_loss,
        ("real", "soft"),
        options=_opts(alpha=(0.25, None), gamma=(2.0, 0.0), label_smoothing=(0.1, 0.0)),
        inf="zero_mass",
    ),
    Spec(
        "poly1_cross_entropy",
        jaxloss.poly1_cross_entropy,
        ("real", "onehot"),
        options=_opts(epsilon=(1.0, -1.0), label_smoothing=(0.1, 0.0)),
        inf="zero_mass",
    ),
    Spec(
        "categorical_cross_entropy",
        jaxloss.categorical_cross_entropy,
        ("probrow", "soft"),
        options=_opts(label_smoothing=(0.1, 0.0)),
    ),
    Spec(
        "binary_cross_entropy",
        jaxloss.binary_cross_entropy,
        ("prob", "prob"),
        options=_opts(label_smoothing=(0.1, 0.0)),
    ),
    Spec("log_loss", jaxloss.log_loss, ("prob", "binary")),
    Spec("weak_cross_entropy_2d", jaxloss.weak_cross_entropy_2d, ("real", "onehot"), inf="zero_mass"),
    Spec("kl_divergence", jaxloss.kl_divergence, ("logprob", "soft"), where=0, inf="zero_mass"),
    Spec(
        "kl_divergence/log_targets",
        jaxloss.kl_divergence,
        ("logprob", "logprob"),
        options=_opts(log_targets=(True,)),
        diff=(0, 1),
        where=0,
        inf="log_targets",
    ),
    Spec(
        "poisson_nll",
        jaxloss.poisson_nll,
        ("real", "count"),
        options=_opts(full=(True, False)),
        max_exp=1.5,
        inf="log_rate",
    ),
    Spec("poisson_nll/rate", jaxloss.poisson_nll, ("pos", "count"), options=_opts(log_input=(False,))),
    Spec("hinge", jaxloss.hinge, ("real", "sign"), smooth=False),
    Spec("squared_hinge", jaxloss.squared_hinge, ("real", "sign"), max_exp=15.0, smooth=False),
    Spec("categorical_hinge", jaxloss.categorical_hinge, ("real", "onehot"), smooth=False),
    Spec("multiclass_hinge", jaxloss.multiclass_hinge, ("real", "int"), smooth=False),
    Spec("squared_error", jaxloss.squared_error, ("real", "real"), diff=(0, 1), max_exp=15.0),
    Spec("absolute_error", jaxloss.absolute_error, ("real", "real"), diff=(0, 1), smooth=False),
    Spec("huber", jaxloss.huber, ("real", "real"), diff=(0, 1), options=_opts(delta=(0.5, 1.0))),
    Spec("log_cosh", jaxloss.log_cosh, ("real", "real"), diff=(0, 1)),
    Spec("cosine_distance", jaxloss.cosine_distance, ("real", "real"), diff=(0, 1)),
    Spec(
        "wmw_auc_loss",
        jaxloss.wmw_auc_loss,
        ("realB", "binaryB"),
        where=0,
        max_exp=8.0,
        rowwise=False,
        options=_opts(gamma=(0.2,), p=(2, 3)),
    ),
    Spec("contrastive", jaxloss.contrastive, ("pos", "binary"), options=_opts(margin=(1.0, 0.0)), max_exp=15.0),
    Spec(
        "fused_linear_cross_entropy",
        jaxloss.fused_linear_cross_entropy,
        ("hidden", "matrix", "intign"),
        diff=(0, 1),
        max_exp=15.0,
        rowwise=False,
        forward_mode=False,
        options=_opts(ignore_index=(-100, None), label_smoothing=(0.1, 0.0), chunk_size=(2, None)),
    ),
    # added with the segmentation/regression/focal family (ctc needs [B, T, K] logits: not in this table)
    Spec("dice", jaxloss.dice, ("prob", "binary"), diff=(0, 1)),
    Spec("tversky", jaxloss.tversky, ("prob", "binary"), diff=(0, 1), options=_opts(alpha=(0.5, 0.3), beta=(0.5, 0.7))),
    Spec("circle", jaxloss.circle, ("real", "int"), rowwise=False, max_exp=15.0, empty=False),
    Spec(
        "generalized_cross_entropy", jaxloss.generalized_cross_entropy, ("probrow", "int"), options=_opts(q=(0.5, 1.0))
    ),
    Spec(
        "absolute_percentage_error",
        jaxloss.absolute_percentage_error,
        ("real", "real"),
        diff=(0, 1),
        smooth=False,
        max_exp=29.0,
    ),
    Spec("squared_log_error", jaxloss.squared_log_error, ("pos", "pos"), diff=(0, 1)),
    Spec(
        "binary_focal_cross_entropy",
        jaxloss.binary_focal_cross_entropy,
        ("prob", "binary"),
        options=_opts(alpha=(0.25, None), gamma=(2.0, 0.0), label_smoothing=(0.1, 0.0)),
    ),
    Spec(
        "categorical_focal_cross_entropy",
        jaxloss.categorical_focal_cross_entropy,
        ("probrow", "onehot"),
        options=_opts(alpha=(0.25, None), gamma=(2.0, 0.0), label_smoothing=(0.1, 0.0)),
    ),
    Spec("pairwise_squared_error", jaxloss.pairwise_squared_error, ("real", "real"), diff=(0, 1), where=0, max_exp=7.0),
    Spec(
        "reduce",
        jaxloss.reduce,
        ("real", "wBC"),
        diff=(0, 1),
        where=0,
        max_exp=15.0,
        rowwise=False,
        options=_opts(reduction=("weighted_mean", "sum_by_nonzero_weights", "mean", "sum", "none")),
    ),
]

# --------------------------------------------------------------------------
# the table: compat twins (pure jax; no keras/tensorflow import)
# --------------------------------------------------------------------------


def _tf_reductions(first: str) -> Options:
    """Every ``tf_v1.Reduction``, ``first`` first (the CI profile's)."""
    return _opts(reduction=(first, *[r for r in dict.fromkeys(tf_v1.Reduction.all()) if r != first]))


_KERAS_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")

TWINS: list[Spec] = [
    # keras functions: (y_true, y_pred), per-sample values.
    Spec("keras.binary_crossentropy", keras.binary_crossentropy, ("binary", "prob"), diff=(1,)),
    Spec(
        "keras.binary_crossentropy/logits",
        lambda t, p: keras.binary_crossentropy(t, p, from_logits=True),
        ("binary", "real"),
        diff=(1,),
    ),
    Spec(
        "keras.categorical_crossentropy",
        keras.categorical_crossentropy,
        ("onehot", "probrow"),
        diff=(1,),
        options=_opts(label_smoothing=(0.1, 0.0)),
    ),
    Spec(
        "keras.categorical_crossentropy/logits",
        keras.categorical_crossentropy,
        ("soft", "real"),
        diff=(1,),
        options=_opts(from_logits=(True,)),
    ),
    Spec(
        "keras.sparse_categorical_crossentropy",
        keras.sparse_categorical_crossentropy,
        ("int", "real"),
        diff=(1,),
        options=_opts(from_logits=(True,)),
    ),
    Spec(
        "keras.sparse_categorical_crossentropy/probs",
        keras.sparse_categorical_crossentropy,
        ("int", "probrow"),
        diff=(1,),
    ),
    Spec(
        "keras.binary_focal_crossentropy",
        keras.binary_focal_crossentropy,
        ("binary", "real"),
        diff=(1,),
        options=_opts(from_logits=(True,), apply_class_balancing=(True, False)),
    ),
    Spec(
        "keras.categorical_focal_crossentropy",
        keras.categorical_focal_crossentropy,
        ("onehot", "real"),
        diff=(1,),
        options=_opts(from_logits=(True,)),
    ),
    Spec("keras.poisson", keras.poisson, ("count", "pos"), diff=(1,)),
    Spec("keras.kl_divergence", keras.kl_divergence, ("soft", "probrow"), diff=(1,)),
    Spec("keras.mean_squared_error", keras.mean_squared_error, ("real", "real"), diff=(0, 1), max_exp=15.0),
    Spec(
        "keras.mean_absolute_error",
        keras.mean_absolute_error,
        ("real", "real"),
        diff=(0, 1),
        smooth=False,
        max_exp=29.0,
    ),
    Spec("keras.huber", keras.huber, ("real", "real"), diff=(0, 1), max_exp=29.0),
    Spec("keras.log_cosh", keras.log_cosh, ("real", "real"), diff=(0, 1), max_exp=29.0),
    Spec("keras.cosine_similarity", keras.cosine_similarity, ("real", "real"), diff=(0, 1)),
    Spec("keras.hinge", keras.hinge, ("sign", "real"), diff=(1,), smooth=False, max_exp=29.0),
    Spec("keras.squared_hinge", keras.squared_hinge, ("binary", "real"), diff=(1,), smooth=False, max_exp=15.0),
    Spec("keras.categorical_hinge", keras.categorical_hinge, ("onehot", "real"), diff=(1,), smooth=False),
    Spec("keras.dice", keras.dice, ("binary", "prob"), diff=(1,), rowwise=False),
    Spec("keras.tversky", keras.tversky, ("binary", "prob"), diff=(1,), rowwise=False),
    Spec(
        "keras.mean_absolute_percentage_error",
        keras.mean_absolute_percentage_error,
        ("real", "real"),
        diff=(0, 1),
        smooth=False,
        max_exp=29.0,
    ),
    Spec("keras.mean_squared_logarithmic_error", keras.mean_squared_logarithmic_error, ("pos", "pos"), diff=(0, 1)),
    # keras classes: (y_true, y_pred, sample_weight), reduced.
    Spec(
        "keras.CategoricalCrossentropy",
        keras.CategoricalCrossentropy(from_logits=True),
        ("soft", "real", "wB"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
    ),
    Spec(
        "keras.SparseCategoricalCrossentropy",
        keras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        ("int", "real", "wB"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
    ),
    Spec(
        "keras.BinaryCrossentropy",
        keras.BinaryCrossentropy(label_smoothing=0.1),
        ("binary", "prob", "wB"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
    ),
    *[
        Spec(
            f"keras.MeanSquaredError/{r}",
            keras.MeanSquaredError(reduction=r),
            ("real", "real", "wB"),
            diff=(0, 1, 2),
            rowwise=False,
            max_exp=7.0,
        )
        for r in _KERAS_REDUCTIONS
    ],
    Spec("keras.Huber", keras.Huber(delta=2.0), ("real", "real", "wB"), diff=(0, 1, 2), rowwise=False, max_exp=14.0),
    Spec(
        "keras.CosineSimilarity",
        keras.CosineSimilarity(),
        ("real", "real", "wB"),
        diff=(0, 1, 2),
        rowwise=False,
        max_exp=15.0,
    ),
    # tf_v1: (labels, predictions, weights), reduced (SUM_BY_NONZERO_WEIGHTS by default).
    Spec(
        "tf_v1.sigmoid_cross_entropy",
        tf_v1.sigmoid_cross_entropy,
        ("binary", "real", "wBC"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
        options=_opts(label_smoothing=(0.1, 0)),
    ),
    Spec(
        "tf_v1.softmax_cross_entropy",
        tf_v1.softmax_cross_entropy,
        ("onehot", "real", "wB"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
        options=_opts(label_smoothing=(0.1, 0)),
    ),
    Spec(
        "tf_v1.sparse_softmax_cross_entropy",
        tf_v1.sparse_softmax_cross_entropy,
        ("int", "real", "wB"),
        diff=(1, 2),
        rowwise=False,
        max_exp=15.0,
        options=_tf_reductions("weighted_sum_by_nonzero_weights"),
    ),
    Spec("tf_v1.log_loss", tf_v1.log_loss, ("binary", "prob", "wBC"), diff=(1, 2), rowwise=False, max_exp=15.0),
    Spec(
        "tf_v1.hinge_loss",
        tf_v1.hinge_loss,
        ("binary", "real", "wBC"),
        diff=(1, 2),
        rowwise=False,
        smooth=False,
        max_exp=14.0,
    ),
    Spec("tf_v1.huber_loss", tf_v1.huber_loss, ("real", "real", "wBC"), diff=(0, 1, 2), rowwise=False, max_exp=14.0),
    Spec(
        "tf_v1.mean_squared_error",
        tf_v1.mean_squared_error,
        ("real", "real", "wBC"),
        diff=(0, 1, 2),
        rowwise=False,
        max_exp=7.0,
        options=_tf_reductions("weighted_mean"),
    ),
    Spec(
        "tf_v1.absolute_difference",
        tf_v1.absolute_difference,
        ("real", "real", "wBC"),
        diff=(0, 1, 2),
        rowwise=False,
        smooth=False,
        max_exp=14.0,
    ),
    Spec(
        "tf_v1.cosine_distance",
        lambda l, p: tf_v1.cosine_distance(l, p, axis=1),
        ("real", "real"),
        diff=(0, 1),
        rowwise=False,
        max_exp=15.0,
    ),
    Spec(
        "tf_v1.mean_pairwise_squared_error",
        tf_v1.mean_pairwise_squared_error,
        ("real", "real", "wBC"),
        diff=(0, 1, 2),
        rowwise=False,
        max_exp=7.0,
    ),
    Spec(
        "tf_v1.compute_weighted_loss",
        tf_v1.compute_weighted_loss,
        ("real", "wBC"),
        diff=(0, 1),
        rowwise=False,
        max_exp=15.0,
        options=_tf_reductions("weighted_sum_over_batch_size"),
    ),
    # tflearn: (y_pred, y_true), scalar means (nan for an empty batch, as tflearn): empty=False.
    Spec(
        "tflearn.softmax_categorical_crossentropy",
        tflearn.softmax_categorical_crossentropy,
        ("real", "onehot"),
        rowwise=False,
        empty=False,
    ),
    Spec(
        "tflearn.categorical_crossentropy",
        tflearn.categorical_crossentropy,
        ("probrow", "onehot"),
        rowwise=False,
        empty=False,
    ),
    Spec("tflearn.binary_crossentropy", tflearn.binary_crossentropy, ("real", "binary"), rowwise=False, empty=False),
    Spec(
        "tflearn.weighted_crossentropy",
        tflearn.weighted_crossentropy,
        ("real", "binary"),
        rowwise=False,
        empty=False,
        options=_opts(weight=(0.5, 2.0)),
    ),
    Spec(
        "tflearn.mean_square",
        tflearn.mean_square,
        ("real", "real"),
        diff=(0, 1),
        rowwise=False,
        empty=False,
        max_exp=15.0,
    ),
    Spec(
        "tflearn.hinge_loss",
        tflearn.hinge_loss,
        ("real", "sign"),
        rowwise=False,
        empty=False,
        smooth=False,
        max_exp=29.0,
    ),
    Spec("tflearn.roc_auc_score", tflearn.roc_auc_score, ("realB", "binaryB"), rowwise=False, empty=False, max_exp=8.0),
    Spec(
        "tflearn.weak_cross_entropy_2d", tflearn.weak_cross_entropy_2d, ("real", "onehot"), rowwise=False, empty=False
    ),
    Spec(
        "tflearn.contrastive_loss",
        tflearn.contrastive_loss,
        ("pos", "binary"),
        rowwise=False,
        empty=False,
        max_exp=15.0,
    ),
]

# The compat twins follow their originals' label dtypes: int32 here.
TWINS = [dataclasses.replace(s, label_dtypes=(jnp.int32,)) for s in TWINS]
ALL = CORE + TWINS
assert len({s.name for s in ALL}) == len(ALL)


def fewer(divisor: int = 2) -> settings:
    """Settings with fewer examples than the loaded profile (for compile-heavy tests)."""
    return settings(max_examples=max(1, settings.default.max_examples // divisor))


WITH_WHERE = [s for s in ALL if s.where is not None]
