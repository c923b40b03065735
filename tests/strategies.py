"""Hypothesis strategies and the table of losses the property tests run over.

One :class:`Spec` per function: how to draw its arguments (a *kind* per
positional argument, in call order), which of them to differentiate, its
options, whether it takes a ``where`` mask, and how large its inputs may be
before the exact result overflows (``max_exp``). Adding a function to the
property suite is adding one entry to :data:`CORE` or :data:`TWINS`.

Arrays are drawn from a small set of shapes (JAX compiles once per shape):
``(B, C)`` in :data:`SHAPES`. Magnitudes are mixed
within one array: zeros, moderate values and ``10**u`` with ``u`` uniform in
``[-30, e]``, ``e`` drawn by hypothesis up to the spec's and the dtype's cap.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import jaxloss
from jaxloss.compat import keras, tf_v1, tflearn

# (B, C) pairs: a full batch, size-1 dimensions, an empty batch. Few, so that
# JAX's per-shape compilations are shared across the whole table.
SHAPES = ((3, 4), (1, 1), (0, 4))
HIDDEN = 3  # D of fused_linear_cross_entropy
DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
# The first entry is hypothesis's first (simplest) choice: make it the extreme one.
EXPONENTS = (30.0, 0.0, 2.0, 8.0, 15.0)
# float16 tops out at 65504; a gradient (returned in float16) must fit too.
_DTYPE_MAX_EXP = {jnp.dtype(jnp.float16): 3.5, jnp.dtype(jnp.bfloat16): 30.0}

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
FLOAT_KINDS = frozenset(_SHAPES) - {"int", "intign"}


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to call one loss in the property tests.

    Attributes:
      name: test id.
      fn: the callable.
      args: argument kinds, in call order (see ``_SHAPES``).
      diff: positions of the arguments to differentiate.
      options: ``options(draw, num_classes) -> dict`` of keyword options.
      where: position of the argument a ``where=`` mask is shaped like.
      smooth: twice differentiable almost everywhere (Hessian-vector products).
      max_exp: cap on log10 of drawn magnitudes (the exact loss must fit
        float32, e.g. 15 for a square).
      rowwise: output row ``i`` depends only on batch row ``i``.
      empty: a batch of 0 is allowed.
      min_classes: the smallest ``C`` it takes.
      forward_mode: supports ``jvp`` (not a ``custom_vjp``).
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[str, ...]
    diff: tuple[int, ...] = (0,)
    options: Callable[[Any, int], dict] | None = None
    where: int | None = None
    smooth: bool = True
    max_exp: float = 30.0
    rowwise: bool = True
    empty: bool = True
    min_classes: int = 1
    forward_mode: bool = True

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

    def call(self, *args, **extra):
        return self.spec.fn(*args, **{**self.kwargs, **extra})


def _opts(**choices: Any) -> Callable[[Any, int], dict]:
    """Options drawn independently from fixed lists."""

    def draw_options(draw, num_classes):
        return {k: draw(st.sampled_from(v)) for k, v in choices.items()}

    return draw_options


def magnitudes(rng: np.random.Generator, shape, max_exp: float) -> np.ndarray:
    """Mixed magnitudes in ``(-10**max_exp, 10**max_exp)``, zeros included."""
    which = rng.integers(0, 4, size=shape)
    moderate = rng.normal(0.0, 3.0, size=shape)
    extreme = 10.0 ** rng.uniform(-30.0, max_exp, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    out = np.where(which == 0, 0.0, np.where(which == 1, moderate, extreme))
    return np.clip(out, -(10.0**max_exp), 10.0**max_exp)


def _rows(rng, shape, kind):
    b, c = shape
    if kind == "onehot":
        return np.eye(c)[rng.integers(0, c, size=b)] if c else np.zeros(shape)
    z = rng.normal(0, 2, size=shape)
    if kind == "soft":
        e = np.exp(z - z.max(axis=-1, keepdims=True)) if b else z
        return e / e.sum(axis=-1, keepdims=True) if b else z
    # probrow: non-negative, not normalised, some exact zeros and ones.
    p = rng.uniform(0, 1, size=shape)
    return np.where(rng.uniform(size=shape) < 0.2, 0.0, p)


def draw_array(rng, kind: str, shape, dtype, exp: float):
    if kind == "real":
        x = magnitudes(rng, shape, exp)
    elif kind == "pos":
        x = np.abs(magnitudes(rng, shape, exp))
    elif kind in ("wBC", "wB", "wC"):
        # Weights: 0 or >= 1e-3. A normalised reduction divides by the weights'
        # sum, whose Hessian then scales as 1 / w**2 (overflows for w ~ 1e-30).
        x = np.abs(magnitudes(rng, shape, min(exp, 15.0)))
        x = np.where((x > 0) & (x < 1e-3), 1e-3, x)
    elif kind == "realB":
        x = magnitudes(rng, shape, exp)
    elif kind == "logprob":
        x = -np.abs(magnitudes(rng, shape, exp))
    elif kind == "prob":
        x = np.where(rng.uniform(size=shape) < 0.3, rng.integers(0, 2, size=shape), rng.uniform(size=shape))
    elif kind in ("probrow", "onehot", "soft"):
        x = _rows(rng, shape, kind)
    elif kind in ("binary", "binaryB"):
        x = rng.integers(0, 2, size=shape).astype(float)
    elif kind == "sign":
        x = rng.choice([-1.0, 1.0], size=shape)
    elif kind == "count":
        x = rng.integers(0, 20, size=shape).astype(float)
    elif kind in ("hidden", "matrix"):
        x = magnitudes(rng, shape, exp)
    else:
        raise ValueError(kind)
    return jnp.asarray(x, dtype)


def _turn(spec: Spec) -> int:
    """A fixed number per spec (stable across runs and processes)."""
    return zlib.crc32(spec.name.encode())


def _rotate(choices, k: int) -> list:
    """``choices`` starting at ``k``: hypothesis's first (simplest) pick differs per spec.

    The CI profile draws one example per spec, which is hypothesis's simplest:
    rotating the dtype and shape lists by a per-spec number spreads that one
    example's dtype and shape over the table, so every dtype (float32,
    bfloat16, float16) and shape (size-1 and empty batches included) is run
    on many functions in every CI run. Magnitudes are not rotated: the first
    is always the extreme one (up to 1e30, or the spec's and dtype's cap).
    """
    choices = list(choices)
    k %= len(choices)
    return choices[k:] + choices[:k]


@st.composite
def cases(draw, spec: Spec, dtypes=DTYPES, shapes=SHAPES, with_where: bool = False) -> Case:
    """A random call of ``spec``: shapes, dtype, magnitudes, options, mask."""
    turn = _turn(spec)
    dtype = jnp.dtype(draw(st.sampled_from(_rotate(dtypes, turn))))
    allowed = [(b, c) for b, c in shapes if (b > 0 or spec.empty) and c >= spec.min_classes]
    b, c = draw(st.sampled_from(_rotate(allowed or [(3, spec.min_classes)], turn // len(dtypes))))
    cap = min(spec.max_exp, _DTYPE_MAX_EXP.get(dtype, 30.0))
    exp = draw(st.sampled_from(list(dict.fromkeys(min(e, cap) for e in EXPONENTS))))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dims = {"B": b, "C": c, "D": HIDDEN}
    args = []
    for kind in spec.args:
        shape = tuple(dims[ch] for ch in _SHAPES[kind])
        if kind in ("int", "intign"):
            labels = rng.integers(0, c, size=shape)
            if kind == "intign":
                labels = np.where(rng.uniform(size=shape) < 0.3, -100, labels)
            args.append(jnp.asarray(labels, jnp.int32))
        else:
            args.append(draw_array(rng, kind, shape, dtype, exp))
    kwargs = spec.options(draw, c) if spec.options else {}
    if kwargs.get("ignore_index") is None:
        # -100 is a label only when it is the ignore_index.
        args = [jnp.where(a == -100, 0, a) if k == "intign" else a for k, a in zip(spec.args, args, strict=True)]
    if with_where and spec.where is not None:
        mask = rng.uniform(size=args[spec.where].shape) < 0.7
        for kind, arg in zip(spec.args, args, strict=True):
            if kind in ("int", "intign") and mask.ndim == 2 and b:
                # keep each row's target class: masking it is a different (inf) loss
                mask[np.arange(b), np.clip(np.asarray(arg), 0, c - 1)] = True
        kwargs["where"] = jnp.asarray(mask)
    return Case(spec, args, kwargs, dtype, b, c)


# --------------------------------------------------------------------------
# the table: core functions
# --------------------------------------------------------------------------

_SMOOTHING = (0.0, 0.1, 1.0)

CORE: list[Spec] = [
    Spec("softmax_cross_entropy", jaxloss.softmax_cross_entropy, ("real", "soft"),
         options=_opts(label_smoothing=_SMOOTHING), where=0),
    Spec("softmax_cross_entropy/onehot", jaxloss.softmax_cross_entropy, ("real", "onehot"), where=0),
    Spec("sparse_softmax_cross_entropy", jaxloss.sparse_softmax_cross_entropy, ("real", "intign"),
         options=_opts(label_smoothing=_SMOOTHING, ignore_index=(None, -100)), where=0),
    Spec("sparse_softmax_cross_entropy/z_loss", jaxloss.sparse_softmax_cross_entropy, ("real", "int"),
         options=_opts(z_loss=(1e-4, 1.0)), max_exp=15.0),
    Spec("sigmoid_binary_cross_entropy", jaxloss.sigmoid_binary_cross_entropy, ("real", "binary"),
         options=_opts(label_smoothing=_SMOOTHING)),
    Spec("sigmoid_binary_cross_entropy/pos_weight", jaxloss.sigmoid_binary_cross_entropy, ("real", "prob"),
         options=_opts(pos_weight=(0.5, 3.0))),
    Spec("sigmoid_focal_loss", jaxloss.sigmoid_focal_loss, ("real", "binary"),
         options=_opts(alpha=(None, 0.25), gamma=(0.0, 0.5, 2.0), label_smoothing=(0.0, 0.1))),
    Spec("softmax_focal_loss", jaxloss.softmax_focal_loss, ("real", "soft"),
         options=_opts(alpha=(None, 0.25), gamma=(0.0, 2.0), label_smoothing=(0.0, 0.1))),
    Spec("poly1_cross_entropy", jaxloss.poly1_cross_entropy, ("real", "onehot"),
         options=_opts(epsilon=(-1.0, 1.0), label_smoothing=(0.0, 0.1))),
    Spec("categorical_cross_entropy", jaxloss.categorical_cross_entropy, ("probrow", "soft"),
         options=_opts(label_smoothing=(0.0, 0.1))),
    Spec("binary_cross_entropy", jaxloss.binary_cross_entropy, ("prob", "prob"),
         options=_opts(label_smoothing=(0.0, 0.1))),
    Spec("log_loss", jaxloss.log_loss, ("prob", "binary")),
    Spec("weak_cross_entropy_2d", jaxloss.weak_cross_entropy_2d, ("real", "onehot")),
    Spec("kl_divergence", jaxloss.kl_divergence, ("logprob", "soft"), where=0),
    Spec("kl_divergence/log_targets", jaxloss.kl_divergence, ("logprob", "logprob"),
         options=_opts(log_targets=(True,)), diff=(0, 1), where=0),
    Spec("poisson_nll", jaxloss.poisson_nll, ("real", "count"), options=_opts(full=(False, True)), max_exp=1.5),
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
    Spec("wmw_auc_loss", jaxloss.wmw_auc_loss, ("realB", "binaryB"), where=0, max_exp=8.0, rowwise=False,
         options=_opts(gamma=(0.2,), p=(2, 3))),
    Spec("contrastive", jaxloss.contrastive, ("pos", "binary"), options=_opts(margin=(0.0, 1.0)), max_exp=15.0),
    Spec("fused_linear_cross_entropy", jaxloss.fused_linear_cross_entropy, ("hidden", "matrix", "intign"),
         diff=(0, 1), max_exp=15.0, rowwise=False, forward_mode=False,
         options=_opts(ignore_index=(None, -100), label_smoothing=(0.0, 0.1), chunk_size=(None, 2))),
    # added with the segmentation/regression/focal family (ctc needs [B, T, K] logits: not in this table)
    Spec("dice", jaxloss.dice, ("prob", "binary"), diff=(0, 1)),
    Spec("tversky", jaxloss.tversky, ("prob", "binary"), diff=(0, 1), options=_opts(alpha=(0.5, 0.3), beta=(0.5, 0.7))),
    Spec("circle", jaxloss.circle, ("real", "int"), rowwise=False, max_exp=15.0, empty=False),
    Spec("generalized_cross_entropy", jaxloss.generalized_cross_entropy, ("probrow", "int"),
         options=_opts(q=(0.5, 1.0))),
    Spec("absolute_percentage_error", jaxloss.absolute_percentage_error, ("real", "real"), diff=(0, 1), smooth=False,
         max_exp=29.0),
    Spec("squared_log_error", jaxloss.squared_log_error, ("pos", "pos"), diff=(0, 1)),
    Spec("binary_focal_cross_entropy", jaxloss.binary_focal_cross_entropy, ("prob", "binary"),
         options=_opts(alpha=(None, 0.25), gamma=(0.0, 2.0), label_smoothing=(0.0, 0.1))),
    Spec("categorical_focal_cross_entropy", jaxloss.categorical_focal_cross_entropy, ("probrow", "onehot"),
         options=_opts(alpha=(None, 0.25), gamma=(0.0, 2.0), label_smoothing=(0.0, 0.1))),
    Spec("pairwise_squared_error", jaxloss.pairwise_squared_error, ("real", "real"), diff=(0, 1), where=0,
         max_exp=7.0),
    Spec("reduce", jaxloss.reduce, ("real", "wBC"), diff=(0, 1), where=0, max_exp=15.0, rowwise=False,
         options=_opts(reduction=jaxloss.REDUCTIONS)),
]

# --------------------------------------------------------------------------
# the table: compat twins (pure jax; no keras/tensorflow import)
# --------------------------------------------------------------------------

_TF_REDUCTIONS = _opts(reduction=tf_v1.Reduction.all())
_KERAS_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")

TWINS: list[Spec] = [
    # keras functions: (y_true, y_pred), per-sample values.
    Spec("keras.binary_crossentropy", keras.binary_crossentropy, ("binary", "prob"), diff=(1,)),
    Spec("keras.binary_crossentropy/logits", lambda t, p: keras.binary_crossentropy(t, p, from_logits=True),
         ("binary", "real"), diff=(1,)),
    Spec("keras.categorical_crossentropy", keras.categorical_crossentropy, ("onehot", "probrow"), diff=(1,),
         options=_opts(label_smoothing=(0.0, 0.1))),
    Spec("keras.categorical_crossentropy/logits", keras.categorical_crossentropy, ("soft", "real"), diff=(1,),
         options=_opts(from_logits=(True,))),
    Spec("keras.sparse_categorical_crossentropy", keras.sparse_categorical_crossentropy, ("int", "real"),
         diff=(1,), options=_opts(from_logits=(True,))),
    Spec("keras.sparse_categorical_crossentropy/probs", keras.sparse_categorical_crossentropy, ("int", "probrow"),
         diff=(1,)),
    Spec("keras.binary_focal_crossentropy", keras.binary_focal_crossentropy, ("binary", "real"), diff=(1,),
         options=_opts(from_logits=(True,), apply_class_balancing=(False, True))),
    Spec("keras.categorical_focal_crossentropy", keras.categorical_focal_crossentropy, ("onehot", "real"),
         diff=(1,), options=_opts(from_logits=(True,))),
    Spec("keras.poisson", keras.poisson, ("count", "pos"), diff=(1,)),
    Spec("keras.kl_divergence", keras.kl_divergence, ("soft", "probrow"), diff=(1,)),
    Spec("keras.mean_squared_error", keras.mean_squared_error, ("real", "real"), diff=(0, 1), max_exp=15.0),
    Spec("keras.mean_absolute_error", keras.mean_absolute_error, ("real", "real"), diff=(0, 1), smooth=False,
         max_exp=29.0),
    Spec("keras.huber", keras.huber, ("real", "real"), diff=(0, 1), max_exp=29.0),
    Spec("keras.log_cosh", keras.log_cosh, ("real", "real"), diff=(0, 1), max_exp=29.0),
    Spec("keras.cosine_similarity", keras.cosine_similarity, ("real", "real"), diff=(0, 1)),
    Spec("keras.hinge", keras.hinge, ("sign", "real"), diff=(1,), smooth=False, max_exp=29.0),
    Spec("keras.squared_hinge", keras.squared_hinge, ("binary", "real"), diff=(1,), smooth=False, max_exp=15.0),
    Spec("keras.categorical_hinge", keras.categorical_hinge, ("onehot", "real"), diff=(1,), smooth=False),
    Spec("keras.dice", keras.dice, ("binary", "prob"), diff=(1,), rowwise=False),
    Spec("keras.tversky", keras.tversky, ("binary", "prob"), diff=(1,), rowwise=False),
    Spec("keras.mean_absolute_percentage_error", keras.mean_absolute_percentage_error, ("real", "real"),
         diff=(0, 1), smooth=False, max_exp=29.0),
    Spec("keras.mean_squared_logarithmic_error", keras.mean_squared_logarithmic_error, ("pos", "pos"), diff=(0, 1)),
    # keras classes: (y_true, y_pred, sample_weight), reduced.
    Spec("keras.CategoricalCrossentropy", keras.CategoricalCrossentropy(from_logits=True),
         ("soft", "real", "wB"), diff=(1, 2), rowwise=False, max_exp=15.0),
    Spec("keras.SparseCategoricalCrossentropy", keras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
         ("int", "real", "wB"), diff=(1, 2), rowwise=False, max_exp=15.0),
    Spec("keras.BinaryCrossentropy", keras.BinaryCrossentropy(label_smoothing=0.1), ("binary", "prob", "wB"),
         diff=(1, 2), rowwise=False, max_exp=15.0),
    *[
        Spec(f"keras.MeanSquaredError/{r}", keras.MeanSquaredError(reduction=r), ("real", "real", "wB"),
             diff=(0, 1, 2), rowwise=False, max_exp=7.0)
        for r in _KERAS_REDUCTIONS
    ],
    Spec("keras.Huber", keras.Huber(delta=2.0), ("real", "real", "wB"), diff=(0, 1, 2), rowwise=False, max_exp=14.0),
    Spec("keras.CosineSimilarity", keras.CosineSimilarity(), ("real", "real", "wB"), diff=(0, 1, 2), rowwise=False,
         max_exp=15.0),
    # tf_v1: (labels, predictions, weights), reduced (SUM_BY_NONZERO_WEIGHTS by default).
    Spec("tf_v1.sigmoid_cross_entropy", tf_v1.sigmoid_cross_entropy, ("binary", "real", "wBC"), diff=(1, 2),
         rowwise=False, max_exp=15.0, options=_opts(label_smoothing=(0, 0.1))),
    Spec("tf_v1.softmax_cross_entropy", tf_v1.softmax_cross_entropy, ("onehot", "real", "wB"), diff=(1, 2),
         rowwise=False, max_exp=15.0, options=_opts(label_smoothing=(0, 0.1))),
    Spec("tf_v1.sparse_softmax_cross_entropy", tf_v1.sparse_softmax_cross_entropy, ("int", "real", "wB"),
         diff=(1, 2), rowwise=False, max_exp=15.0, options=_TF_REDUCTIONS),
    Spec("tf_v1.log_loss", tf_v1.log_loss, ("binary", "prob", "wBC"), diff=(1, 2), rowwise=False, max_exp=15.0),
    Spec("tf_v1.hinge_loss", tf_v1.hinge_loss, ("binary", "real", "wBC"), diff=(1, 2), rowwise=False,
         smooth=False, max_exp=14.0),
    Spec("tf_v1.huber_loss", tf_v1.huber_loss, ("real", "real", "wBC"), diff=(0, 1, 2), rowwise=False,
         max_exp=14.0),
    Spec("tf_v1.mean_squared_error", tf_v1.mean_squared_error, ("real", "real", "wBC"), diff=(0, 1, 2),
         rowwise=False, max_exp=7.0, options=_TF_REDUCTIONS),
    Spec("tf_v1.absolute_difference", tf_v1.absolute_difference, ("real", "real", "wBC"), diff=(0, 1, 2),
         rowwise=False, smooth=False, max_exp=14.0),
    Spec("tf_v1.cosine_distance", lambda l, p: tf_v1.cosine_distance(l, p, axis=1), ("real", "real"), diff=(0, 1),
         rowwise=False, max_exp=15.0),
    Spec("tf_v1.mean_pairwise_squared_error", tf_v1.mean_pairwise_squared_error, ("real", "real", "wBC"),
         diff=(0, 1, 2), rowwise=False, max_exp=7.0),
    Spec("tf_v1.compute_weighted_loss", tf_v1.compute_weighted_loss, ("real", "wBC"), diff=(0, 1),
         rowwise=False, max_exp=15.0, options=_TF_REDUCTIONS),
    # tflearn: (y_pred, y_true), scalar means (nan for an empty batch, as tflearn): empty=False.
    Spec("tflearn.softmax_categorical_crossentropy", tflearn.softmax_categorical_crossentropy, ("real", "onehot"),
         rowwise=False, empty=False),
    Spec("tflearn.categorical_crossentropy", tflearn.categorical_crossentropy, ("probrow", "onehot"),
         rowwise=False, empty=False),
    Spec("tflearn.binary_crossentropy", tflearn.binary_crossentropy, ("real", "binary"),
         rowwise=False, empty=False),
    Spec("tflearn.weighted_crossentropy", tflearn.weighted_crossentropy, ("real", "binary"),
         rowwise=False, empty=False,
         options=_opts(weight=(0.5, 2.0))),
    Spec("tflearn.mean_square", tflearn.mean_square, ("real", "real"), diff=(0, 1),
         rowwise=False, empty=False, max_exp=15.0),
    Spec("tflearn.hinge_loss", tflearn.hinge_loss, ("real", "sign"),
         rowwise=False, empty=False, smooth=False, max_exp=29.0),
    Spec("tflearn.roc_auc_score", tflearn.roc_auc_score, ("realB", "binaryB"),
         rowwise=False, empty=False, max_exp=8.0),
    Spec("tflearn.weak_cross_entropy_2d", tflearn.weak_cross_entropy_2d, ("real", "onehot"),
         rowwise=False, empty=False),
    Spec("tflearn.contrastive_loss", tflearn.contrastive_loss, ("pos", "binary"),
         rowwise=False, empty=False, max_exp=15.0),
]

ALL = CORE + TWINS


def fewer(divisor: int = 2) -> settings:
    """Settings with fewer examples than the loaded profile (for compile-heavy tests)."""
    return settings(max_examples=max(1, settings.default.max_examples // divisor))


WITH_WHERE = [s for s in ALL if s.where is not None]
