"""Core tests of the classification losses (jax + numpy only).

Values against float64 NumPy formulas, shapes for every class-axis position,
dtype policy, transformation invariance, finite values/gradients/Hessians at
the edges (logits +-1e30, probabilities exactly 0 and 1, zero vectors),
``where`` masks, the sparse loss's ``ignore_index`` and out-of-range labels,
option formulas, trace-time errors and the identities between the losses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss
from tests.helpers import (
    EXTREME_LOGITS,
    assert_all_finite,
    assert_transform_invariant,
    check_grads_x64,
    value_grad_hessian,
)

INF = np.inf
B, C = 4, 5
F32_EPS = np.float32(1e-7)  # Keras's clip, as float32 arithmetic sees it

# A float32 loss near 0 is a difference of numbers the size of the logits
# (logsumexp(z) - z_y): its absolute rounding error is ~1e-7 * |z|, so the
# comparisons with float64 formulas carry a small atol besides rtol.
RTOL, ATOL = 2e-6, 2e-6


# --------------------------------------------------------------------------
# float64 NumPy references
# --------------------------------------------------------------------------


def _f64(*xs):
    return [np.asarray(x, np.float64) for x in xs]


def np_log_softmax(z, axis=-1):
    (z,) = _f64(z)
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    # (z - m) - log(sum(exp(z - m))): no cancellation when one logit dominates.
    with np.errstate(divide="ignore", invalid="ignore"):
        return (z - m) - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def _xlog(coef, log_value):
    with np.errstate(invalid="ignore"):
        return np.where(coef == 0, 0.0, coef * log_value)


def _smooth(y, a, k):
    return y * (1.0 - a) + a / k


def np_softmax_ce(z, y, *, label_smoothing=0.0):
    z, y = _f64(z, y)
    y = _smooth(y, label_smoothing, z.shape[-1])
    return -np.sum(_xlog(y, np_log_softmax(z)), -1)


def np_sparse_ce(z, labels, *, label_smoothing=0.0, class_weights=None, ignore_index=None, z_loss=0.0):
    (z,) = _f64(z)
    n = z.shape[-1]
    w = np.ones(n) if class_weights is None else np.broadcast_to(np.float64(class_weights), (n,))
    log_p = np_log_softmax(z)
    m = np.max(z, -1)
    lse = np.log(np.sum(np.exp(z - m[..., None]), -1)) + m
    safe = np.clip(labels, 0, n - 1)
    nll_y = -np.take_along_axis(log_p, safe[..., None], -1)[..., 0]
    loss = (1 - label_smoothing) * w[safe] * nll_y
    if label_smoothing:
        loss = loss + label_smoothing / n * np.sum(-log_p * w, -1)
    loss = loss + z_loss * lse**2
    if ignore_index is not None:
        loss = np.where(labels == ignore_index, 0.0, loss)
    return loss


def _np_softplus(x):
    return np.logaddexp(0.0, x)


def _np_sigmoid(x):
    return np.exp(-_np_softplus(-x))


def np_sigmoid_bce(z, y, *, label_smoothing=0.0, pos_weight=None):
    z, y = _f64(z, y)
    y = _smooth(y, label_smoothing, 2.0)
    q = 1.0 if pos_weight is None else np.float64(pos_weight)
    return q * y * _np_softplus(-z) + (1 - y) * _np_softplus(z)


def np_sigmoid_focal(z, y, *, alpha=None, gamma=2.0, label_smoothing=0.0):
    z, y = _f64(z, y)
    y = _smooth(y, label_smoothing, 2.0)
    ce = y * _np_softplus(-z) + (1 - y) * _np_softplus(z)
    one_minus_pt = y * _np_sigmoid(-z) + (1 - y) * _np_sigmoid(z)
    loss = one_minus_pt**gamma * ce
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def np_softmax_focal(z, y, *, alpha=None, gamma=2.0, label_smoothing=0.0):
    z, y = _f64(z, y)
    y = _smooth(y, label_smoothing, z.shape[-1])
    log_p = np_log_softmax(z)
    a = 1.0 if alpha is None else np.float64(alpha)
    return -np.sum(a * (-np.expm1(log_p)) ** gamma * _xlog(y, log_p), -1)


def np_poly1(z, y, *, epsilon=1.0, label_smoothing=0.0):
    z, y = _f64(z, y)
    y = _smooth(y, label_smoothing, z.shape[-1])
    log_p = np_log_softmax(z)
    return -np.sum(_xlog(y, log_p), -1) + epsilon * np.sum(y * (1 - np.exp(log_p)), -1)


def _clip32(p, eps):
    # The clip bounds as float32 computes them (1 - 1e-7 rounds to 1 - 1.19e-7).
    lo = np.float64(np.float32(eps))
    hi = np.float64(np.float32(1) - np.float32(eps))
    return np.clip(p, lo, hi)


def np_cce(p, y, *, label_smoothing=0.0, epsilon=1e-7):
    p, y = _f64(p, y)
    y = _smooth(y, label_smoothing, p.shape[-1])
    s = p.sum(-1, keepdims=True)
    q = p / np.where(s == 0, 1.0, s)
    return -np.sum(y * np.log(_clip32(q, epsilon)), -1)


def np_bce(p, y, *, label_smoothing=0.0, epsilon=1e-7):
    p, y = _f64(p, y)
    y = _smooth(y, label_smoothing, 2.0)
    q = _clip32(p, epsilon)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def np_weak(z, y, *, epsilon=1e-4, class_weights=None):
    z, y = _f64(z, y)
    h = 1.0 if class_weights is None else np.float64(class_weights)
    return -np.sum(_xlog(h * y, np_log_softmax(z + epsilon)), -1)


# --------------------------------------------------------------------------
# the cases every generic test runs over
# --------------------------------------------------------------------------


def _compiled(fn):
    """``fn`` compiled with its options baked in as constants.

    Eager dispatch of a loss on a fresh shape costs ~1 s (every primitive is
    compiled on its own); one compiled program costs ~0.15 s. Eager mode
    itself is covered by ``test_eager_jit_vmap_agree`` and the error tests.
    """

    def call(*args, **options):
        key = (fn, tuple(sorted((k, _hashable(v)) for k, v in options.items())))
        if key not in _JIT_CACHE:
            _JIT_CACHE[key] = jax.jit(functools.partial(fn, **options))
        return _JIT_CACHE[key](*args)

    return call


_JIT_CACHE: dict = {}


def _hashable(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    return (type(v).__name__, v)


class _Compiled:
    def __getattr__(self, name):
        return _compiled(getattr(jaxloss, name))


jl = _Compiled()


def _grad(fn, argnums=0):
    # Compiled: op-by-op dispatch of a gradient is slower than compiling it.
    return jax.jit(jax.grad(fn, argnums=argnums))


def _value_and_grad(fn, argnums=0):
    return jax.jit(jax.value_and_grad(fn, argnums=argnums))


def _rng(seed):
    return np.random.default_rng(seed)


def _logits(rng, shape, scale=3.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _soft_labels(rng, shape):
    y = rng.random(shape) + 0.05
    return (y / y.sum(-1, keepdims=True)).astype(np.float32)


def _one_hot(rng, shape):
    return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


def _probs(rng, shape):
    p = rng.random(shape) + 0.02
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    inputs: Callable[[np.random.Generator, tuple], tuple]
    kind: str  # "class" (reduces an axis), "elementwise", "sparse"
    pred: str = "logits"  # "logits" or "probs"
    options: tuple = ()  # extra keyword options for the value test

    def __repr__(self):
        return self.name

    def jfn(self, *args, **options):
        return _compiled(self.fn)(*args, **options)


def _dense_in(rng, shape):
    return _logits(rng, shape), _soft_labels(rng, shape)


def _sparse_in(rng, shape):
    return _logits(rng, shape), rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)


def _binary_in(rng, shape):
    return _logits(rng, shape), rng.random(shape).astype(np.float32)


def _prob_cat_in(rng, shape):
    return _probs(rng, shape), _soft_labels(rng, shape)


def _prob_bin_in(rng, shape):
    return (rng.random(shape) * 0.98 + 0.01).astype(np.float32), rng.random(shape).astype(np.float32)


CASES = [
    Case(
        "softmax_cross_entropy",
        jaxloss.softmax_cross_entropy,
        np_softmax_ce,
        _dense_in,
        "class",
        options=({}, {"label_smoothing": 0.3}),
    ),
    Case(
        "sparse_softmax_cross_entropy",
        jaxloss.sparse_softmax_cross_entropy,
        np_sparse_ce,
        _sparse_in,
        "sparse",
        options=({}, {"label_smoothing": 0.2, "class_weights": np.linspace(0.5, 2, C), "z_loss": 1e-2}),
    ),
    Case(
        "sigmoid_binary_cross_entropy",
        jaxloss.sigmoid_binary_cross_entropy,
        np_sigmoid_bce,
        _binary_in,
        "elementwise",
        options=({}, {"label_smoothing": 0.1, "pos_weight": 2.5}),
    ),
    Case(
        "sigmoid_focal_loss",
        jaxloss.sigmoid_focal_loss,
        np_sigmoid_focal,
        _binary_in,
        "elementwise",
        options=({}, {"alpha": 0.25, "gamma": 0.5, "label_smoothing": 0.1}, {"gamma": 3.0}),
    ),
    Case(
        "softmax_focal_loss",
        jaxloss.softmax_focal_loss,
        np_softmax_focal,
        _dense_in,
        "class",
        options=(
            {},
            {"alpha": np.linspace(0.2, 1.0, C), "gamma": 1.5, "label_smoothing": 0.1},
            {"alpha": 0.25, "gamma": 0.0},
        ),
    ),
    Case(
        "poly1_cross_entropy",
        jaxloss.poly1_cross_entropy,
        np_poly1,
        _dense_in,
        "class",
        options=({}, {"epsilon": -0.5, "label_smoothing": 0.2}, {"epsilon": 2.0}),
    ),
    Case(
        "categorical_cross_entropy",
        jaxloss.categorical_cross_entropy,
        np_cce,
        _prob_cat_in,
        "class",
        pred="probs",
        options=({}, {"label_smoothing": 0.1, "epsilon": 1e-3}),
    ),
    Case(
        "binary_cross_entropy",
        jaxloss.binary_cross_entropy,
        np_bce,
        _prob_bin_in,
        "elementwise",
        pred="probs",
        options=({}, {"label_smoothing": 0.2, "epsilon": 1e-3}),
    ),
    Case(
        "weak_cross_entropy_2d",
        jaxloss.weak_cross_entropy_2d,
        np_weak,
        _dense_in,
        "class",
        options=({}, {"epsilon": 0.5, "class_weights": np.linspace(0.5, 2, C)}),
    ),
]
CASE_IDS = [c.name for c in CASES]
AXIS_CASES = [c for c in CASES if c.kind in ("class", "sparse") and c.name != "weak_cross_entropy_2d"]


def _value_option_cases():
    for case in CASES:
        for i, opts in enumerate(case.options):
            yield pytest.param(case, opts, id=f"{case.name}-{i}")


@pytest.mark.parametrize(("case", "opts"), list(_value_option_cases()))
def test_values_match_numpy(case, opts):
    rng = _rng(len(case.name))
    shape = (2, 3, C) if case.name == "weak_cross_entropy_2d" else (B, C)
    pred, target = case.inputs(rng, shape)
    out = case.jfn(pred, target, **opts)
    expected_shape = shape if case.kind == "elementwise" else shape[:-1]
    assert out.shape == expected_shape
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, case.ref(pred, target, **opts), rtol=RTOL, atol=ATOL)


def test_values_one_hot_and_printed_examples():
    # Simple values checked by hand.
    z = np.array([[2.0, 1.0, 0.1]], np.float32)
    y = np.array([[1.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(jl.softmax_cross_entropy(z, y), [0.4170299], rtol=1e-6)
    np.testing.assert_allclose(jl.sparse_softmax_cross_entropy(z, np.array([0])), [0.4170299], rtol=1e-6)
    # Keras's documented example of CategoricalCrossentropy: [0.0513, 2.303].
    y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], np.float32)
    np.testing.assert_allclose(jl.categorical_cross_entropy(y_pred, y_true), [0.0512933, 2.3025851], rtol=1e-5)
    # Zero logits: log C for every softmax loss with a one-hot label.
    zero = np.zeros((2, C), np.float32)
    oh = np.eye(C, dtype=np.float32)[[0, 3]]
    np.testing.assert_allclose(jl.softmax_cross_entropy(zero, oh), np.log(C), rtol=1e-6)
    np.testing.assert_allclose(jl.sigmoid_binary_cross_entropy(0.0, 1.0), np.log(2.0), rtol=1e-6)


# --------------------------------------------------------------------------
# shapes and axes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", AXIS_CASES, ids=lambda c: c.name)
def test_axis_positions(case):
    rng = _rng(7)
    pred, target = case.inputs(rng, (2, 3, C))  # class axis last
    base = case.jfn(pred, target)
    assert base.shape == (2, 3)
    for axis in (0, -2):
        pred_moved = np.moveaxis(pred, -1, axis)
        target_moved = target if case.kind == "sparse" else np.moveaxis(target, -1, axis)
        out = case.jfn(pred_moved, target_moved, axis=axis)
        assert out.shape == (2, 3), (axis, out.shape)
        np.testing.assert_allclose(out, base, rtol=1e-6, atol=1e-7)


def test_weak_cross_entropy_2d_shape():
    rng = _rng(8)
    z, y = _logits(rng, (2, 4, 3, C)), _one_hot(rng, (2, 4, 3, C))
    out = jl.weak_cross_entropy_2d(z, y)
    assert out.shape == (2, 4, 3)
    np.testing.assert_allclose(out, np_weak(z, y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "elementwise"], ids=lambda c: c.name)
def test_elementwise_broadcasting(case):
    rng = _rng(9)
    pred, target = case.inputs(rng, (B, C))
    # Targets broadcast to the predictions' shape; they never widen it.
    out = case.jfn(pred, target[:, :1])
    assert out.shape == (B, C)
    np.testing.assert_allclose(out, case.jfn(pred, np.broadcast_to(target[:, :1], (B, C))), rtol=1e-7)
    with pytest.raises(ValueError, match=r"must broadcast to the shape of `\w+`, \(4, 1\)"):
        case.jfn(pred[:, :1], target)
    out = case.jfn(pred, target[0])
    assert out.shape == (B, C)
    # Scalars work too.
    assert case.jfn(pred[0, 0], target[0, 0]).shape == ()


def test_dense_labels_broadcast_to_logits():
    rng = _rng(10)
    z, y = _logits(rng, (B, C)), _soft_labels(rng, (C,))
    out = jl.softmax_cross_entropy(z, y)
    assert out.shape == (B,)
    np.testing.assert_allclose(out, np_softmax_ce(z, np.broadcast_to(y, (B, C))), rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------


def _cast_floats(x, dtype):
    x = np.asarray(x)
    return jnp.asarray(x, dtype) if np.issubdtype(x.dtype, np.floating) else jnp.asarray(x)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_16_bit_inputs_compute_in_float32(case, dtype):
    rng = _rng(11)
    pred, target = case.inputs(rng, (B, C))
    pred16, target16 = _cast_floats(pred, dtype), _cast_floats(target, dtype)
    out = case.jfn(pred16, target16)
    assert out.dtype == jnp.float32
    # The same (rounded) inputs, computed in float32 from the start.
    ref = case.jfn(_cast_floats(pred16, jnp.float32), _cast_floats(target16, jnp.float32))
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    if dtype == jnp.float16:
        return
    # 16-bit predictions with float32 targets.
    out = case.jfn(pred16, target)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, case.jfn(_cast_floats(pred16, jnp.float32), target), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float64_stays_float64(case):
    rng = _rng(12)
    pred, target = case.inputs(rng, (B, C))
    with jax.enable_x64(True):
        out = case.jfn(_cast_floats(pred, jnp.float64), _cast_floats(target, jnp.float64), **case.options[-1])
        assert out.dtype == jnp.float64
        # float64 reaches the float64 formula far below float32 rounding.
        np.testing.assert_allclose(out, case.ref(pred, target, **case.options[-1]), rtol=1e-10, atol=1e-12)
        g = jax.jit(jax.grad(lambda p: jnp.sum(case.fn(p, _cast_floats(target, jnp.float64)))))(
            _cast_floats(pred, jnp.float64)
        )
        assert g.dtype == jnp.float64


@pytest.mark.parametrize("case", [c for c in CASES if c.kind != "sparse"], ids=lambda c: c.name)
def test_integer_targets_are_cast(case):
    rng = _rng(13)
    pred, _ = case.inputs(rng, (B, C))
    target = _one_hot(rng, (B, C))
    out_int = case.jfn(pred, target.astype(np.int32))
    np.testing.assert_allclose(out_int, case.jfn(pred, target), rtol=1e-7)
    assert out_int.dtype == jnp.float32
    if case.name == "softmax_cross_entropy":
        np.testing.assert_allclose(case.jfn(pred, target.astype(bool)), out_int, rtol=1e-7)


# --------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_eager_jit_vmap_agree(case):
    rng = _rng(14)
    pred, target = case.inputs(rng, (B, C))
    # Eager dispatch costs ~2 s a loss and eager vmap ~3.5 s more (each
    # primitive compiled on its own), so eager == jit is checked here and the
    # helper (jit == vmap) gets the compiled function.
    np.testing.assert_allclose(case.fn(pred, target), jax.jit(case.fn)(pred, target), rtol=1e-6, atol=1e-6)
    assert_transform_invariant(jax.jit(case.fn), pred, target)
    fn = functools.partial(case.fn, **case.options[-1])
    np.testing.assert_allclose(
        jax.jit(jax.vmap(lambda a, b: fn(a[None], b[None])[0]))(pred, target), fn(pred, target), rtol=1e-6, atol=1e-6
    )
    # vmap along a non-leading axis of both inputs, and jit of vmap.
    if case.kind == "elementwise":
        batched = jax.jit(jax.vmap(fn, in_axes=1, out_axes=1))(pred, target)
        np.testing.assert_allclose(batched, fn(pred, target), rtol=1e-6, atol=1e-7)
    # forward and reverse mode agree.
    scalar = lambda p: jnp.sum(fn(p, target))
    g_rev, g_fwd = jax.jit(lambda p: (jax.grad(scalar)(p), jax.jacfwd(scalar)(p)))(pred)
    np.testing.assert_allclose(g_fwd, g_rev, rtol=1e-5, atol=1e-6)


def test_options_are_static_under_jit():
    rng = _rng(15)
    z, y = _dense_in(rng, (B, C))
    labels = rng.integers(0, C, (B,))
    f = jax.jit(lambda z, y, a: jaxloss.softmax_cross_entropy(z, y, label_smoothing=a), static_argnums=2)
    np.testing.assert_allclose(f(z, y, 0.3), np_softmax_ce(z, y, label_smoothing=0.3), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(f(z, y, 0.0), np_softmax_ce(z, y), rtol=RTOL, atol=ATOL)
    g = jax.jit(
        lambda z, a, zl: jaxloss.sparse_softmax_cross_entropy(z, labels, label_smoothing=a, z_loss=zl),
        static_argnums=(1, 2),
    )
    np.testing.assert_allclose(
        g(z, 0.2, 0.01), np_sparse_ce(z, labels, label_smoothing=0.2, z_loss=0.01), rtol=RTOL, atol=ATOL
    )
    h = jax.jit(lambda z, y, gamma: jaxloss.sigmoid_focal_loss(z, y, gamma=gamma), static_argnums=2)
    np.testing.assert_allclose(h(z, y, 1.5), np_sigmoid_focal(z, y, gamma=1.5), rtol=RTOL, atol=ATOL)
    # A traced option raises and says why.
    with pytest.raises(TypeError, match="`label_smoothing` is a static option"):
        jax.jit(lambda z, y, a: jaxloss.softmax_cross_entropy(z, y, label_smoothing=a))(z, y, 0.3)


# --------------------------------------------------------------------------
# edges: extreme logits, probabilities 0 and 1, zero vectors
# --------------------------------------------------------------------------


def _row_vgh(fn, pred, target):
    """Per-row value, gradients (in pred and target) and Hessian (in pred), jitted."""

    def one(p, t):
        return fn(p[None], t[None])[0]

    def all_(p, t):
        v = one(p, t)
        gp, gt = jax.grad(one, argnums=(0, 1))(p, t)
        return v, gp, gt, jax.hessian(one)(p, t)

    return jax.jit(jax.vmap(all_))(pred, target)


def _elem_vgh(fn, pred, target):
    def all_(p, t):
        v = fn(p, t)
        gp, gt = jax.grad(fn, argnums=(0, 1))(p, t)
        return v, gp, gt, jax.grad(jax.grad(fn))(p, t)

    pred, target = jnp.broadcast_arrays(jnp.asarray(pred), jnp.asarray(target))
    return jax.jit(jax.vmap(all_))(pred.ravel(), target.ravel())


def _extreme_rows():
    e = EXTREME_LOGITS
    a, b = np.meshgrid(e, e, indexing="ij")
    rows = np.stack([a.ravel(), b.ravel(), np.zeros(a.size, np.float32)], -1)
    return rows.astype(np.float32)  # [81, 3]


def _extreme_labels(n):
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.5, 0.3]], np.float32)
    return np.tile(labels, (n // 4 + 1, 1))[:n]


DENSE_LOGIT_FNS = {
    "softmax_cross_entropy": jaxloss.softmax_cross_entropy,
    "softmax_cross_entropy_smoothed": functools.partial(jaxloss.softmax_cross_entropy, label_smoothing=0.1),
    "softmax_focal_loss": jaxloss.softmax_focal_loss,
    # (gamma=0.5 and gamma=0: test_softmax_focal_hessian_finite_for_confident_predictions)
    "poly1_cross_entropy": jaxloss.poly1_cross_entropy,
    "weak_cross_entropy_2d": jaxloss.weak_cross_entropy_2d,
}


@pytest.mark.parametrize("name", list(DENSE_LOGIT_FNS))
def test_dense_logit_losses_finite_at_extreme_logits(name):
    fn = DENSE_LOGIT_FNS[name]
    z = _extreme_rows()
    y = _extreme_labels(len(z))
    v, gz, gy, h = _row_vgh(fn, z, y)
    for what, arr in (("value", v), ("grad logits", gz), ("grad labels", gy), ("hessian", h)):
        assert_all_finite(arr, f"{name} {what}")
    # Values are right too (NumPy float64 on the same float32 inputs).
    ref = {
        "softmax_cross_entropy": lambda: np_softmax_ce(z, y),
        "softmax_cross_entropy_smoothed": lambda: np_softmax_ce(z, y, label_smoothing=0.1),
        "poly1_cross_entropy": lambda: np_poly1(z, y),
        "weak_cross_entropy_2d": lambda: np_weak(z, y),
    }.get(name)
    if ref is not None:
        np.testing.assert_allclose(v, ref(), rtol=1e-6, atol=1e-5)


def test_cross_entropy_gradient_at_huge_tied_logits():
    # The gradient of softmax cross-entropy is softmax(z) - y: each row sums to 0
    # and, for logits [t, t, 0] with t huge, equals [0.5, 0.5, 0] - y exactly in
    # float32 (jax.nn.softmax gets it). logsumexp(z) rounds to t there, so a
    # softmax taken as exp(z - logsumexp(z)) is not normalised.
    z = _extreme_rows()
    y = _extreme_labels(len(z))
    gz = _grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y)))(z)
    expected = np.asarray(jax.nn.softmax(z, -1)) - y
    np.testing.assert_allclose(gz, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.sum(np.asarray(gz, np.float64), -1), 0.0, atol=1e-6)
    labels = np.arange(len(z)) % 3
    g_sparse = _grad(lambda a: jnp.sum(jaxloss.sparse_softmax_cross_entropy(a, labels)))(z)
    np.testing.assert_allclose(g_sparse, np.asarray(jax.nn.softmax(z, -1)) - np.eye(3)[labels], atol=1e-6)


def test_sparse_finite_at_extreme_logits():
    z = _extreme_rows()
    labels = np.arange(len(z)) % 3
    # No z_loss here: z_loss * logsumexp(z)**2 at |z| = 1e30 is 1e60, beyond
    # float32 whatever the implementation; it is checked at 1e4 below.
    fns = [
        (jaxloss.sparse_softmax_cross_entropy, z),
        (
            functools.partial(
                jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.1, class_weights=np.array([0.5, 1.0, 2.0])
            ),
            z,
        ),
        (functools.partial(jaxloss.sparse_softmax_cross_entropy, z_loss=1e-4), np.clip(z, -1e4, 1e4)),
    ]
    for fn, zz in fns:

        def one(p, t, fn=fn):
            return fn(p[None], t[None])[0]

        v, g, h = jax.jit(jax.vmap(lambda p, t, one=one: (one(p, t), jax.grad(one)(p, t), jax.hessian(one)(p, t))))(
            zz, labels
        )
        assert_all_finite((v, g, h), "sparse value/grad/hessian")
    np.testing.assert_allclose(
        jl.sparse_softmax_cross_entropy(z, labels), np_sparse_ce(z, labels), rtol=1e-6, atol=1e-5
    )


SIGMOID_FNS = {
    "sigmoid_binary_cross_entropy": jaxloss.sigmoid_binary_cross_entropy,
    "sigmoid_binary_cross_entropy_opts": functools.partial(
        jaxloss.sigmoid_binary_cross_entropy, label_smoothing=0.1, pos_weight=3.0
    ),
    "sigmoid_focal_loss": jaxloss.sigmoid_focal_loss,
    "sigmoid_focal_loss_opts": functools.partial(
        jaxloss.sigmoid_focal_loss, alpha=0.25, gamma=0.5, label_smoothing=0.1
    ),
}


@pytest.mark.parametrize("name", list(SIGMOID_FNS))
def test_sigmoid_losses_finite_at_extreme_logits(name):
    fn = SIGMOID_FNS[name]
    z = EXTREME_LOGITS[:, None]
    y = np.array([0.0, 1.0, 0.3], np.float32)
    v, gz, gy, h = _elem_vgh(fn, z, y)
    for what, arr in (("value", v), ("grad logits", gz), ("grad labels", gy), ("hessian", h)):
        assert_all_finite(arr, f"{name} {what}")
    ref = {
        "sigmoid_binary_cross_entropy": lambda: np_sigmoid_bce(z, y),
        "sigmoid_binary_cross_entropy_opts": lambda: np_sigmoid_bce(z, y, label_smoothing=0.1, pos_weight=3.0),
        "sigmoid_focal_loss": lambda: np_sigmoid_focal(z, y),
    }.get(name)
    if ref is not None:
        np.testing.assert_allclose(v, ref().ravel(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sigmoid_binary_cross_entropy", "sigmoid_focal_loss"])
def test_sigmoid_infinite_logits_give_zero_or_inf(name):
    fn = _compiled(SIGMOID_FNS[name])
    z = np.array([INF, INF, -INF, -INF, INF, -INF], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.5], np.float32)
    out = np.asarray(fn(z, y))
    np.testing.assert_array_equal(out, [0.0, INF, 0.0, INF, INF, INF])
    # Where the value is 0 the gradient is 0, not nan.
    zero = np.array([0, 2])
    g = _grad(lambda a: jnp.sum(fn(a, y[zero])))(z[zero])
    np.testing.assert_array_equal(g, 0.0)
    # With pos_weight and label smoothing too.
    if name == "sigmoid_binary_cross_entropy":
        out = np.asarray(fn(z, y, pos_weight=2.0, label_smoothing=0.0))
        np.testing.assert_array_equal(out, [0.0, INF, 0.0, INF, INF, INF])
        assert not np.any(np.isnan(np.asarray(fn(z, y, label_smoothing=0.2))))


def test_softmax_losses_minus_inf_logit_with_zero_label_mass():
    z = np.array([[2.0, -INF, 0.5, -INF], [-INF, 1.0, -INF, 3.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.3, 0.0, 0.7]], np.float32)
    labels = np.array([0, 3])
    fns = {
        "softmax_cross_entropy": lambda a: jaxloss.softmax_cross_entropy(a, y),
        "sparse": lambda a: jaxloss.sparse_softmax_cross_entropy(a, labels),
        "sparse_weighted": lambda a: jaxloss.sparse_softmax_cross_entropy(
            a, labels, class_weights=np.array([1.0, 2.0, 3.0, 4.0]), z_loss=0.1
        ),
        "softmax_focal_loss": lambda a: jaxloss.softmax_focal_loss(a, y),
        "poly1_cross_entropy": lambda a: jaxloss.poly1_cross_entropy(a, y),
        "weak_cross_entropy_2d": lambda a: jaxloss.weak_cross_entropy_2d(a, y),
    }
    for name, f in fns.items():
        scalar = lambda a, f=f: jnp.sum(f(a))
        v, g, h = jax.jit(lambda a, scalar=scalar: (scalar(a), jax.grad(scalar)(a), jax.hessian(scalar)(a)))(z)
        assert_all_finite((v, g, h), name)
        np.testing.assert_array_equal(np.asarray(g)[~np.isfinite(z)], 0.0)
    np.testing.assert_allclose(jax.jit(fns["softmax_cross_entropy"])(z), np_softmax_ce(z, y), rtol=RTOL)
    np.testing.assert_allclose(jax.jit(fns["sparse"])(z), np_sparse_ce(z, labels), rtol=RTOL)


def test_softmax_focal_hessian_finite_for_confident_predictions():
    # A logit gap of ~17 or more makes softmax(z)_c round to exactly 1 in
    # float32: a common, confident prediction, not an extreme input.
    z = np.array([[30.0, 0.0, 0.0], [17.0, 0.0, 0.0], [0.0, 20.0, -5.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    for gamma in (0.0, 0.5, 2.0):
        fn = functools.partial(jaxloss.softmax_focal_loss, gamma=gamma)
        v, gz, gy, h = _row_vgh(fn, z, y)
        assert_all_finite((v, gz, gy), f"gamma={gamma} value/gradient")
        assert_all_finite(h, f"gamma={gamma} hessian")
        np.testing.assert_allclose(v, np_softmax_focal(z, y, gamma=gamma), rtol=1e-5, atol=1e-7)


def test_zero_vectors():
    # Zero logits (also inside the extreme grids above) give log C / log 2.
    z = np.zeros((3, C), np.float32)
    y = np.eye(C, dtype=np.float32)[[0, 2, 4]]
    np.testing.assert_allclose(jl.softmax_cross_entropy(z, y), np.log(C), rtol=1e-6)
    np.testing.assert_allclose(jl.sparse_softmax_cross_entropy(z, np.array([0, 1, 4])), np.log(C), rtol=1e-6)
    np.testing.assert_allclose(jl.softmax_focal_loss(z, y, gamma=2.0), (1 - 1 / C) ** 2 * np.log(C), rtol=1e-6)
    np.testing.assert_allclose(jl.poly1_cross_entropy(z, y), np.log(C) + 1 - 1 / C, rtol=1e-6)
    np.testing.assert_allclose(jl.sigmoid_focal_loss(z, y, gamma=2.0), 0.25 * np.log(2.0), rtol=1e-6)
    # Zero labels give 0 with zero gradients in the logits.
    zeros = np.zeros_like(y)
    for fn in (jl.softmax_cross_entropy, jl.softmax_focal_loss, jl.weak_cross_entropy_2d):
        np.testing.assert_array_equal(fn(z, zeros), 0.0)
        np.testing.assert_array_equal(_grad(lambda a, fn=fn: jnp.sum(fn(a, zeros)))(z), 0.0)
    # Zero probabilities: -sum(y) log(eps), finite non-zero gradient (in the label's class).
    v, g = _value_and_grad(lambda p: jnp.sum(jaxloss.categorical_cross_entropy(p, y)))(z)
    np.testing.assert_allclose(v, -3 * np.log(np.float32(1e-7)), rtol=1e-6)
    assert_all_finite(g)
    np.testing.assert_allclose(g, -y / np.float32(1e-7), rtol=1e-6)


def _np_bce_grad(p, y, eps=1e-7):
    # d/dp of the formula at the clipped point (straight-through derivative).
    q = _clip32(np.float64(p), eps)
    return -y / q + (1 - y) / (1 - q)


def test_binary_cross_entropy_probabilities_zero_and_one():
    p = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5], np.float32)
    y = np.array([0.0, 1.0, 0.3, 0.0, 1.0, 0.3, 1.0], np.float32)
    v, gp, gy, h = _elem_vgh(jaxloss.binary_cross_entropy, p, y)
    assert_all_finite((v, gp, gy, h))
    # float32 rounds 1 - 1e-7 to 1 - 1.19e-7 (Keras too): atol covers log of it.
    np.testing.assert_allclose(v, np_bce(p, y), rtol=1e-5, atol=3e-8)
    assert np.all(np.asarray(gp) != 0.0)
    np.testing.assert_allclose(gp, _np_bce_grad(p, y), rtol=1e-5)
    # Correct sign: a positive label pulls a zero probability up, a negative
    # label pulls a probability of one down.
    assert gp[1] < 0 and gp[3] > 0
    # Second derivative of the formula at the clipped point: y/q^2 + (1-y)/(1-q)^2 > 0.
    assert np.all(np.asarray(h) > 0)


def _np_cce_grad(p, y, eps=1e-7):
    p, y = _f64(p, y)
    s = p.sum(-1, keepdims=True)
    safe_s = np.where(s == 0, 1.0, s)
    q = p / safe_s
    c = _clip32(q, eps)
    # dq_c/dp_j = delta_cj / s - p_c / s^2 (no renormalisation for a zero row).
    coef = -y / c  # d loss / dq_c
    own = coef / safe_s
    cross = np.where(s == 0, 0.0, np.sum(coef * p, -1, keepdims=True) / safe_s**2)
    return own - cross


def test_categorical_cross_entropy_probabilities_zero_and_one():
    p = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0.5, 0.5, 0], [0, 0, 1]], np.float32)
    y = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.3, 0.5]], np.float32)
    v, gp, gy, h = _row_vgh(jaxloss.categorical_cross_entropy, p, y)
    assert_all_finite((v, gp, gy, h))
    np.testing.assert_allclose(v, np_cce(p, y), rtol=1e-5)
    # A row of zeros gives -sum(y) log(eps).
    np.testing.assert_allclose(v[2], -np.log(np.float32(1e-7)), rtol=1e-6)
    # Every row has a non-zero gradient (Keras's is all zeros), equal to the
    # derivative of the formula at the clipped point.
    assert np.all(np.any(np.asarray(gp) != 0, -1))
    np.testing.assert_allclose(gp, _np_cce_grad(p, y), rtol=1e-5, atol=1e-6)
    # The label's class at probability 0 is pulled up.
    assert gp[1, 0] < 0 and gp[2, 1] < 0 and gp[3, 2] < 0


def test_probability_losses_with_epsilon_zero_have_no_nan():
    # epsilon=0 is an allowed clip ([0, 0.5)); a zero label next to a zero
    # probability must still give 0 * log 0 = 0, not nan.
    p = jnp.array([[0.0, 1.0]])
    y = jnp.array([[0.0, 1.0]])
    np.testing.assert_allclose(jl.categorical_cross_entropy(p, y, epsilon=0.0), [0.0], atol=1e-7)
    np.testing.assert_allclose(jl.binary_cross_entropy(p, y, epsilon=0.0), [[0.0, 0.0]], atol=1e-7)


# --------------------------------------------------------------------------
# where masks
# --------------------------------------------------------------------------

MASK = np.array(
    [
        [1, 1, 0, 1, 0],
        [0, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0],  # fully masked row
    ],
    bool,
)


def _poison(x, mask, values=(np.nan, INF, -INF)):
    x = np.array(x, np.float32, copy=True)
    idx = np.argwhere(~mask)
    for k, (i, j) in enumerate(idx):
        x[i, j] = values[k % len(values)]
    return x


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_softmax_cross_entropy_where_equals_dropping(smoothing):
    rng = _rng(20)
    z, y = _logits(rng, (B, C)), _soft_labels(rng, (B, C))
    y = np.where(MASK, y, 0.0).astype(np.float32)
    zp, yp = _poison(z, MASK), _poison(y, MASK, (np.nan, INF))
    f = lambda a, b: jaxloss.softmax_cross_entropy(a, b, where=MASK, label_smoothing=smoothing)
    out = f(zp, yp)
    assert_all_finite(out)
    for i in range(B):
        keep = MASK[i]
        expected = np_softmax_ce(z[i, keep], y[i, keep], label_smoothing=smoothing) if keep.any() else 0.0
        np.testing.assert_allclose(out[i], expected, rtol=RTOL, atol=ATOL)
    gz, gy = jax.jit(jax.grad(lambda a, b: jnp.sum(f(a, b)), argnums=(0, 1)))(zp, yp)
    assert_all_finite((gz, gy), "gradient")
    np.testing.assert_array_equal(np.asarray(gz)[~MASK], 0.0)
    np.testing.assert_array_equal(np.asarray(gy)[~MASK], 0.0)
    assert out[3] == 0.0
    h = jax.jit(jax.hessian(lambda a: jnp.sum(f(a, yp))))(zp)
    assert_all_finite(h, "hessian")
    np.testing.assert_array_equal(np.asarray(h)[~MASK], 0.0)
    # A mask broadcast along the batch (shape [C]) works too.
    out_b = jl.softmax_cross_entropy(zp[2], y[2], where=MASK[0])
    np.testing.assert_allclose(out_b, np_softmax_ce(z[2, MASK[0]], y[2, MASK[0]]), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "opts", [{}, {"label_smoothing": 0.2, "class_weights": np.linspace(0.5, 2.0, C), "z_loss": 0.05}]
)
def test_sparse_where_equals_dropping(opts):
    rng = _rng(21)
    z = _logits(rng, (B, C))
    labels = np.array([1, 4, 2, 0])  # each on an unmasked class (row 3 is empty)
    zp = _poison(z, MASK)
    f = lambda a: jaxloss.sparse_softmax_cross_entropy(a, labels, where=MASK, **opts)
    out = f(zp)
    assert_all_finite(out)
    for i in range(3):
        keep = MASK[i]
        sub_opts = dict(opts)
        if "class_weights" in opts:
            sub_opts["class_weights"] = opts["class_weights"][keep]
        new_label = np.cumsum(keep)[labels[i]] - 1
        expected = np_sparse_ce(z[i : i + 1, keep], np.array([new_label]), **sub_opts)[0]
        np.testing.assert_allclose(out[i], expected, rtol=RTOL, atol=ATOL)
    assert out[3] == 0.0
    g = jax.jit(jax.grad(lambda a: jnp.sum(f(a))))(zp)
    assert_all_finite(g, "gradient")
    np.testing.assert_array_equal(np.asarray(g)[~MASK], 0.0)
    np.testing.assert_array_equal(np.asarray(g)[3], 0.0)
    h = jax.jit(jax.hessian(lambda a: jnp.sum(f(a))))(zp)
    assert_all_finite(h, "hessian")


def test_fully_masked_rows_are_zero_with_zero_gradients():
    z = np.array([[np.nan, 1.0, INF]], np.float32)
    y = np.array([[np.nan, 1.0, 0.0]], np.float32)
    none = np.zeros((1, 3), bool)
    dense = lambda a, b: jaxloss.softmax_cross_entropy(a, b, where=none, label_smoothing=0.1)
    sparse = lambda a: jaxloss.sparse_softmax_cross_entropy(
        a, np.array([1]), where=none, z_loss=0.1, label_smoothing=0.1
    )
    np.testing.assert_array_equal(jax.jit(dense)(z, y), [0.0])
    np.testing.assert_array_equal(jax.jit(sparse)(z), [0.0])
    gz, gy = jax.jit(jax.grad(lambda a, b: jnp.sum(dense(a, b)), argnums=(0, 1)))(z, y)
    np.testing.assert_array_equal(gz, 0.0)
    np.testing.assert_array_equal(gy, 0.0)
    np.testing.assert_array_equal(jax.jit(jax.grad(lambda a: jnp.sum(sparse(a))))(z), 0.0)
    np.testing.assert_array_equal(jax.jit(jax.hessian(lambda a: jnp.sum(sparse(a))))(z), 0.0)
    np.testing.assert_array_equal(jax.jit(jax.hessian(lambda a: jnp.sum(dense(a, y))))(z), 0.0)


def test_sparse_minus_inf_logit_is_like_a_masked_class():
    # The sparse docstring: classes masked by `where` (or with a -inf logit)
    # are left out of the normaliser and of the smoothing sum (K counts the rest).
    z = np.array([[2.0, -INF, 0.5, 1.0]], np.float32)
    labels = np.array([0])
    by_mask = jl.sparse_softmax_cross_entropy(z, labels, label_smoothing=0.2, where=np.isfinite(z))
    by_inf = jl.sparse_softmax_cross_entropy(z, labels, label_smoothing=0.2)
    np.testing.assert_allclose(by_inf, by_mask, rtol=1e-6)


# --------------------------------------------------------------------------
# sparse: ignore_index, out-of-range labels, checkify
# --------------------------------------------------------------------------


@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_sparse_ignore_index(ignore_index):
    rng = _rng(30)
    z = _logits(rng, (B, C))
    labels = np.array([1, ignore_index, 3, ignore_index])
    f = lambda a: jaxloss.sparse_softmax_cross_entropy(
        a, labels, ignore_index=ignore_index, label_smoothing=0.1, class_weights=np.linspace(1, 2, C), z_loss=0.1
    )
    out = f(z)
    np.testing.assert_array_equal(np.asarray(out)[[1, 3]], 0.0)
    ref = np_sparse_ce(
        z, labels, ignore_index=ignore_index, label_smoothing=0.1, class_weights=np.linspace(1, 2, C), z_loss=0.1
    )
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)
    g = _grad(lambda a: jnp.sum(f(a)))(z)
    np.testing.assert_array_equal(np.asarray(g)[[1, 3]], 0.0)
    assert np.all(np.asarray(g)[[0, 2]] != 0.0)
    # nan logits in an ignored row do not leak into the other rows' gradients.
    zn = z.copy()
    zn[1] = np.nan
    gn = _grad(lambda a: jnp.sum(f(a)[jnp.array([0, 2])]))(zn)
    np.testing.assert_allclose(np.asarray(gn)[[0, 2]], np.asarray(g)[[0, 2]], rtol=1e-6)


def test_sparse_out_of_range_label_gives_nan_for_that_example_only():
    rng = _rng(31)
    z = _logits(rng, (B, C))
    for bad in (C, -1, 1000):
        labels = np.array([0, bad, 2, 3])
        for opts in ({}, {"ignore_index": -100}, {"label_smoothing": 0.1, "class_weights": np.ones(C)}):
            out = np.asarray(jl.sparse_softmax_cross_entropy(z, labels, **opts))
            assert np.isnan(out[1]), (bad, opts)
            assert np.all(np.isfinite(out[[0, 2, 3]]))
            good = np.asarray(jl.sparse_softmax_cross_entropy(z[[0, 2, 3]], labels[[0, 2, 3]], **opts))
            np.testing.assert_allclose(out[[0, 2, 3]], good, rtol=1e-6)
        out = jax.jit(jaxloss.sparse_softmax_cross_entropy)(z, labels)
        assert np.isnan(out[1]) and np.all(np.isfinite(np.asarray(out)[[0, 2, 3]]))


def test_sparse_out_of_range_label_raises_under_checkify():
    rng = _rng(32)
    z = _logits(rng, (B, C))
    f = functools.partial(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)
    checked_jit = checkify.checkify(jax.jit(f), errors=checkify.user_checks)
    jit_checked = jax.jit(checkify.checkify(f, errors=checkify.user_checks))
    for checked in (checked_jit, jit_checked):
        err, out = checked(z, np.array([0, 1, C, 2]))
        assert err.get() is not None
        assert "labels" in err.get()
        assert np.isnan(out[2])
        with pytest.raises(Exception, match="labels"):
            err.throw()
        err, _ = checked(z, np.array([0, 1, -1, 2]))
        assert err.get() is not None
        # In range, or ignored: no error.
        err, out = checked(z, np.array([0, -100, 4, 2]))
        assert err.get() is None
        assert_all_finite(out)
    # Under vmap as well.
    err, _ = jax.jit(checkify.checkify(jax.vmap(f), errors=checkify.user_checks))(
        z[:, None], np.array([[0], [9], [1], [2]])
    )
    assert err.get() is not None


# --------------------------------------------------------------------------
# option formulas
# --------------------------------------------------------------------------


def test_label_smoothing_formulas():
    rng = _rng(40)
    z, y = _logits(rng, (B, C)), _one_hot(rng, (B, C))
    a = 0.3
    ys = y * (1 - a) + a / C
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(z, y, label_smoothing=a), jl.softmax_cross_entropy(z, ys), rtol=1e-6
    )
    np.testing.assert_allclose(jl.softmax_focal_loss(z, y, label_smoothing=a), jl.softmax_focal_loss(z, ys), rtol=1e-6)
    np.testing.assert_allclose(
        jl.poly1_cross_entropy(z, y, label_smoothing=a), jl.poly1_cross_entropy(z, ys), rtol=1e-6
    )
    p = _probs(rng, (B, C))
    np.testing.assert_allclose(
        jl.categorical_cross_entropy(p, y, label_smoothing=a), jl.categorical_cross_entropy(p, ys), rtol=1e-6
    )
    yb = rng.integers(0, 2, (B, C)).astype(np.float32)
    ybs = yb * (1 - a) + a / 2
    for fn, pred in ((jl.sigmoid_binary_cross_entropy, z), (jl.sigmoid_focal_loss, z), (jl.binary_cross_entropy, p)):
        np.testing.assert_allclose(fn(pred, yb, label_smoothing=a), fn(pred, ybs), rtol=1e-6)
    # Smoothing 1 gives the uniform target.
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(z, y, label_smoothing=1.0), -np.mean(np_log_softmax(z), -1), rtol=RTOL, atol=ATOL
    )
    labels = np.argmax(y, -1)
    np.testing.assert_allclose(
        jl.sparse_softmax_cross_entropy(z, labels, label_smoothing=1.0),
        -np.mean(np_log_softmax(z), -1),
        rtol=RTOL,
        atol=ATOL,
    )


def test_sparse_class_weights_and_z_loss_formulas():
    rng = _rng(41)
    z = _logits(rng, (B, C))
    labels = rng.integers(0, C, (B,))
    w = np.linspace(0.5, 2.0, C).astype(np.float32)
    base = np.asarray(jl.sparse_softmax_cross_entropy(z, labels))
    # Class weights scale each example by w[label].
    np.testing.assert_allclose(jl.sparse_softmax_cross_entropy(z, labels, class_weights=w), w[labels] * base, rtol=1e-6)
    # A scalar and a [1] weight scale uniformly.
    np.testing.assert_allclose(jl.sparse_softmax_cross_entropy(z, labels, class_weights=2.0), 2 * base, rtol=1e-6)
    np.testing.assert_allclose(
        jl.sparse_softmax_cross_entropy(z, labels, class_weights=np.array([3.0])), 3 * base, rtol=1e-6
    )
    # z_loss adds z_loss * logsumexp(z)^2.
    lse = np.log(np.sum(np.exp(np.float64(z)), -1))
    np.testing.assert_allclose(
        jl.sparse_softmax_cross_entropy(z, labels, z_loss=0.1), base + 0.1 * lse**2, rtol=1e-6, atol=1e-6
    )
    # Smoothing with weights, torch's formula.
    np.testing.assert_allclose(
        jl.sparse_softmax_cross_entropy(z, labels, class_weights=w, label_smoothing=0.4),
        np_sparse_ce(z, labels, class_weights=w, label_smoothing=0.4),
        rtol=RTOL,
        atol=ATOL,
    )
    # Gradient of z_loss alone: 2 * z_loss * lse * softmax.
    g = _grad(
        lambda a: jnp.sum(
            jaxloss.sparse_softmax_cross_entropy(a, labels, z_loss=0.1) - jl.sparse_softmax_cross_entropy(a, labels)
        )
    )(z)
    p = np.exp(np_log_softmax(z))
    np.testing.assert_allclose(g, 0.2 * lse[:, None] * p, rtol=1e-4, atol=1e-5)


def test_weight_options_of_other_losses():
    rng = _rng(42)
    z, y = _dense_in(rng, (B, C))
    h = np.linspace(0.5, 2.0, C).astype(np.float32)
    np.testing.assert_allclose(
        jl.weak_cross_entropy_2d(z, y, class_weights=h), jl.weak_cross_entropy_2d(z, y * h), rtol=1e-6
    )
    np.testing.assert_allclose(jl.softmax_focal_loss(z, y, alpha=h), jl.softmax_focal_loss(z, y * h), rtol=1e-6)
    yb = rng.random((B, C)).astype(np.float32)
    q = rng.random((C,)).astype(np.float32) + 0.5
    np.testing.assert_allclose(
        jl.sigmoid_binary_cross_entropy(z, yb, pos_weight=q), np_sigmoid_bce(z, yb, pos_weight=q), rtol=RTOL, atol=ATOL
    )
    yh = rng.integers(0, 2, (B, C)).astype(np.float32)
    np.testing.assert_allclose(
        jl.sigmoid_focal_loss(z, yh, alpha=0.25),
        np.where(yh == 1, 0.25, 0.75) * jl.sigmoid_focal_loss(z, yh),
        rtol=1e-6,
    )


# --------------------------------------------------------------------------
# trace-time errors
# --------------------------------------------------------------------------

Z = np.zeros((B, C), np.float32)
Y = np.eye(C, dtype=np.float32)[:B]
LAB = np.arange(B)

ERROR_CASES = [
    # (id, callable, exception type, pattern)
    ("dense_shape", lambda: jaxloss.softmax_cross_entropy(Z, Y[:, :3]), ValueError, "`labels`"),
    ("focal_shape", lambda: jaxloss.softmax_focal_loss(Z, Y[:3]), ValueError, "`labels`"),
    ("poly_shape", lambda: jaxloss.poly1_cross_entropy(Z, Y[:, :2]), ValueError, "`labels`"),
    ("cce_shape", lambda: jaxloss.categorical_cross_entropy(Z, Y[:, :2]), ValueError, "`labels`"),
    ("weak_shape", lambda: jaxloss.weak_cross_entropy_2d(Z, Y[:, :2]), ValueError, "`labels`"),
    ("sigmoid_shape", lambda: jaxloss.sigmoid_binary_cross_entropy(Z, Y[:, :3]), ValueError, "`labels`"),
    ("sfocal_shape", lambda: jaxloss.sigmoid_focal_loss(Z, Y[:, :3]), ValueError, "`labels`"),
    ("bce_shape", lambda: jaxloss.binary_cross_entropy(Z, Y[:, :3]), ValueError, "`labels`"),
    ("sparse_shape", lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB[:3]), ValueError, "`labels`"),
    ("sparse_shape_rank", lambda: jaxloss.sparse_softmax_cross_entropy(Z, Y.astype(int)), ValueError, "`labels`"),
    ("int_logits_dense", lambda: jaxloss.softmax_cross_entropy(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_logits_sparse", lambda: jaxloss.sparse_softmax_cross_entropy(Z.astype(int), LAB), TypeError, "`logits`"),
    ("int_logits_sigmoid", lambda: jaxloss.sigmoid_binary_cross_entropy(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_logits_sfocal", lambda: jaxloss.sigmoid_focal_loss(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_logits_focal", lambda: jaxloss.softmax_focal_loss(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_logits_poly", lambda: jaxloss.poly1_cross_entropy(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_logits_weak", lambda: jaxloss.weak_cross_entropy_2d(Z.astype(int), Y), TypeError, "`logits`"),
    ("int_probs_cce", lambda: jaxloss.categorical_cross_entropy(Y.astype(int), Y), TypeError, "`probs`"),
    ("int_probs_bce", lambda: jaxloss.binary_cross_entropy(Y.astype(int), Y), TypeError, "`probs`"),
    ("bool_logits", lambda: jaxloss.softmax_cross_entropy(Y.astype(bool), Y), TypeError, "`logits`"),
    ("complex_labels", lambda: jaxloss.softmax_cross_entropy(Z, Y.astype(np.complex64)), TypeError, "`labels`"),
    (
        "float_labels_sparse",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB.astype(np.float32)),
        TypeError,
        "`labels`",
    ),
    ("ls_dense", lambda: jaxloss.softmax_cross_entropy(Z, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    (
        "ls_sparse",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, label_smoothing=1.5),
        ValueError,
        "`label_smoothing`",
    ),
    (
        "ls_neg",
        lambda: jaxloss.sigmoid_binary_cross_entropy(Z, Y, label_smoothing=-0.1),
        ValueError,
        "`label_smoothing`",
    ),
    ("ls_sfocal", lambda: jaxloss.sigmoid_focal_loss(Z, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    ("ls_focal", lambda: jaxloss.softmax_focal_loss(Z, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    ("ls_poly", lambda: jaxloss.poly1_cross_entropy(Z, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    ("ls_cce", lambda: jaxloss.categorical_cross_entropy(Y, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    ("ls_bce", lambda: jaxloss.binary_cross_entropy(Y, Y, label_smoothing=1.5), ValueError, "`label_smoothing`"),
    (
        "ls_nan",
        lambda: jaxloss.softmax_cross_entropy(Z, Y, label_smoothing=float("nan")),
        ValueError,
        "`label_smoothing`",
    ),
    ("ls_str", lambda: jaxloss.softmax_cross_entropy(Z, Y, label_smoothing="0.1"), TypeError, "`label_smoothing`"),
    ("gamma_sfocal", lambda: jaxloss.sigmoid_focal_loss(Z, Y, gamma=-1.0), ValueError, "`gamma`"),
    ("gamma_focal", lambda: jaxloss.softmax_focal_loss(Z, Y, gamma=-0.5), ValueError, "`gamma`"),
    ("alpha_sfocal", lambda: jaxloss.sigmoid_focal_loss(Z, Y, alpha=1.5), ValueError, "`alpha`"),
    ("alpha_focal_shape", lambda: jaxloss.softmax_focal_loss(Z, Y, alpha=np.ones(3)), ValueError, "`alpha`"),
    ("axis_dense", lambda: jaxloss.softmax_cross_entropy(Z, Y, axis=2), ValueError, "`axis`"),
    ("axis_dense_neg", lambda: jaxloss.softmax_cross_entropy(Z, Y, axis=-3), ValueError, "`axis`"),
    ("axis_sparse", lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, axis=5), ValueError, "`axis`"),
    ("axis_focal", lambda: jaxloss.softmax_focal_loss(Z, Y, axis=2), ValueError, "`axis`"),
    ("axis_poly", lambda: jaxloss.poly1_cross_entropy(Z, Y, axis=2), ValueError, "`axis`"),
    ("axis_cce", lambda: jaxloss.categorical_cross_entropy(Y, Y, axis=2), ValueError, "`axis`"),
    ("axis_float", lambda: jaxloss.softmax_cross_entropy(Z, Y, axis=1.0), TypeError, "`axis`"),
    (
        "axis_scalar_logits",
        lambda: jaxloss.softmax_cross_entropy(np.float32(1.0), np.float32(1.0)),
        ValueError,
        "`logits`",
    ),
    (
        "where_shape_dense",
        lambda: jaxloss.softmax_cross_entropy(Z, Y, where=np.ones((B, 3), bool)),
        ValueError,
        "`where`",
    ),
    (
        "where_shape_sparse",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, where=np.ones((3, C), bool)),
        ValueError,
        "`where`",
    ),
    ("where_grows", lambda: jaxloss.softmax_cross_entropy(Z, Y, where=np.ones((2, B, C), bool)), ValueError, "`where`"),
    ("where_dtype", lambda: jaxloss.softmax_cross_entropy(Z, Y, where=np.ones((B, C))), TypeError, "`where`"),
    (
        "cw_shape",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, class_weights=np.ones(3)),
        ValueError,
        "`class_weights`",
    ),
    (
        "cw_rank",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, class_weights=np.ones((1, C))),
        ValueError,
        "`class_weights`",
    ),
    ("cw_weak", lambda: jaxloss.weak_cross_entropy_2d(Z, Y, class_weights=np.ones(2)), ValueError, "`class_weights`"),
    (
        "ignore_float",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, ignore_index=1.5),
        TypeError,
        "`ignore_index`",
    ),
    (
        "ignore_str",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, ignore_index="-100"),
        TypeError,
        "`ignore_index`",
    ),
    (
        "ignore_bool",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, ignore_index=True),
        TypeError,
        "`ignore_index`",
    ),
    ("z_loss_neg", lambda: jaxloss.sparse_softmax_cross_entropy(Z, LAB, z_loss=-1.0), ValueError, "`z_loss`"),
    (
        "pos_weight_shape",
        lambda: jaxloss.sigmoid_binary_cross_entropy(Z, Y, pos_weight=np.ones(3)),
        ValueError,
        "`pos_weight`",
    ),
    ("eps_cce", lambda: jaxloss.categorical_cross_entropy(Y, Y, epsilon=0.5), ValueError, "`epsilon`"),
    ("eps_bce", lambda: jaxloss.binary_cross_entropy(Y, Y, epsilon=-1e-3), ValueError, "`epsilon`"),
    ("none_logits", lambda: jaxloss.softmax_cross_entropy(None, Y), TypeError, "`logits`"),
    ("none_labels", lambda: jaxloss.sigmoid_binary_cross_entropy(Z, None), TypeError, "`labels`"),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_trace_time_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_errors_raise_at_trace_time_under_jit():
    with pytest.raises(ValueError, match="`labels`"):
        jax.jit(jaxloss.softmax_cross_entropy)(Z, Y[:, :3])
    with pytest.raises(TypeError, match="`labels`"):
        jax.jit(jaxloss.sparse_softmax_cross_entropy)(Z, LAB.astype(np.float32))
    with pytest.raises(ValueError, match="`label_smoothing`"):
        jax.jit(functools.partial(jaxloss.softmax_cross_entropy, label_smoothing=1.5))(Z, Y)
    with pytest.raises(ValueError, match="`gamma`"):
        jax.jit(functools.partial(jaxloss.sigmoid_focal_loss, gamma=-2.0))(Z, Y)
    with pytest.raises(ValueError, match="`where`"):
        jax.jit(lambda z, y, w: jaxloss.softmax_cross_entropy(z, y, where=w))(Z, Y, np.ones((B, 2), bool))
    with pytest.raises(ValueError, match="`class_weights`"):
        jax.jit(lambda z, w: jaxloss.sparse_softmax_cross_entropy(z, LAB, class_weights=w))(Z, np.ones(2))
    # The message names the expected and the received value.
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        jaxloss.softmax_cross_entropy(Z, Y[:, :3])
    with pytest.raises(ValueError, match="1.5"):
        jaxloss.softmax_cross_entropy(Z, Y, label_smoothing=1.5)


# --------------------------------------------------------------------------
# identities between the losses
# --------------------------------------------------------------------------


def test_dense_on_one_hot_equals_sparse():
    opts = {"label_smoothing": 0.2}  # smoothing 0 is the shortcut path of the same code
    rng = _rng(50)
    z = _logits(rng, (3, B, C))
    labels = rng.integers(0, C, (3, B))
    y = np.eye(C, dtype=np.float32)[labels]
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(z, y), jl.sparse_softmax_cross_entropy(z, labels), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(z, y, **opts), jl.sparse_softmax_cross_entropy(z, labels, **opts), rtol=1e-6, atol=1e-6
    )
    # On another axis, and with a mask.
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(np.moveaxis(z, -1, 0), np.moveaxis(y, -1, 0), axis=0, **opts),
        jl.sparse_softmax_cross_entropy(np.moveaxis(z, -1, 0), labels, axis=0, **opts),
        rtol=1e-6,
        atol=1e-6,
    )
    mask = rng.random((3, B, C)) > 0.4
    mask[np.arange(3)[:, None], np.arange(B)[None], labels] = True
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(z, y, where=mask, **opts),
        jl.sparse_softmax_cross_entropy(z, labels, where=mask, **opts),
        rtol=1e-6,
        atol=1e-6,
    )
    g_dense = _grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y, **opts)))(z)
    g_sparse = _grad(lambda a: jnp.sum(jaxloss.sparse_softmax_cross_entropy(a, labels, **opts)))(z)
    np.testing.assert_allclose(g_dense, g_sparse, rtol=1e-5, atol=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy():
    rng = _rng(51)
    z, y = _dense_in(rng, (B, C))
    np.testing.assert_allclose(jl.softmax_focal_loss(z, y, gamma=0.0), jl.softmax_cross_entropy(z, y), rtol=1e-6)
    np.testing.assert_allclose(
        jl.softmax_focal_loss(z, y, gamma=0.0, label_smoothing=0.3),
        jl.softmax_cross_entropy(z, y, label_smoothing=0.3),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        jl.softmax_focal_loss(z, y, gamma=0.0, alpha=0.4), 0.4 * np.asarray(jl.softmax_cross_entropy(z, y)), rtol=1e-6
    )
    g1 = _grad(lambda a: jnp.sum(jaxloss.softmax_focal_loss(a, y, gamma=0.0)))(z)
    g2 = _grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y)))(z)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)
    yb = rng.random((B, C)).astype(np.float32)
    np.testing.assert_allclose(
        jl.sigmoid_focal_loss(z, yb, gamma=0.0), jl.sigmoid_binary_cross_entropy(z, yb), rtol=1e-6
    )
    np.testing.assert_allclose(
        jl.sigmoid_focal_loss(z, yb, gamma=0.0, label_smoothing=0.2),
        jl.sigmoid_binary_cross_entropy(z, yb, label_smoothing=0.2),
        rtol=1e-6,
    )
    g1 = _grad(lambda a: jnp.sum(jaxloss.sigmoid_focal_loss(a, yb, gamma=0.0)))(z)
    g2 = _grad(lambda a: jnp.sum(jaxloss.sigmoid_binary_cross_entropy(a, yb)))(z)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)
    # poly1 with epsilon 0 is cross-entropy; weak CE without weights is CE of z + eps.
    np.testing.assert_allclose(jl.poly1_cross_entropy(z, y, epsilon=0.0), jl.softmax_cross_entropy(z, y), rtol=1e-6)
    np.testing.assert_allclose(jl.weak_cross_entropy_2d(z, y), jl.softmax_cross_entropy(z, y), rtol=1e-5, atol=1e-6)


def test_probability_losses_agree_with_logit_losses_away_from_the_clip():
    rng = _rng(52)
    z, y = _logits(rng, (B, C), scale=1.5), _soft_labels(rng, (B, C))
    p = np.asarray(jax.nn.softmax(z, -1))
    np.testing.assert_allclose(jl.categorical_cross_entropy(p, y), jl.softmax_cross_entropy(z, y), rtol=1e-5, atol=1e-6)
    g_prob = _grad(lambda a: jnp.sum(jaxloss.categorical_cross_entropy(jax.nn.softmax(a, -1), y)))(z)
    g_logit = _grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y)))(z)
    np.testing.assert_allclose(g_prob, g_logit, rtol=1e-4, atol=1e-6)
    # Unnormalised probabilities are renormalised.
    np.testing.assert_allclose(jl.categorical_cross_entropy(3.0 * p, y), jl.categorical_cross_entropy(p, y), rtol=1e-6)
    yb = rng.random((B, C)).astype(np.float32)
    s = np.asarray(jax.nn.sigmoid(z))
    np.testing.assert_allclose(
        jl.binary_cross_entropy(s, yb), jl.sigmoid_binary_cross_entropy(z, yb), rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------
# generalized cross-entropy and the focal cross-entropies from probabilities
# --------------------------------------------------------------------------


def _np_bfce(p, y, alpha=None, gamma=2.0, ls=0.0, eps=1e-7):
    p, y = np.float64(p), np.float64(y)
    y = y * (1 - ls) + 0.5 * ls
    # The clip in float32, as Keras (and we) compute it: 1 - eps rounds.
    c = np.float64(np.clip(np.float32(p), np.float32(eps), np.float32(1) - np.float32(eps)))
    bce = -(y * np.log(c) + (1 - y) * np.log(1 - c))
    out = (1 - (y * p + (1 - y) * (1 - p))) ** gamma * bce
    return out if alpha is None else (y * alpha + (1 - y) * (1 - alpha)) * out


def _np_cfce(p, y, alpha=None, gamma=2.0, ls=0.0, eps=1e-7):
    p, y = np.float64(p), np.float64(y)
    y = y * (1 - ls) + ls / y.shape[-1]
    c = np.clip(p / p.sum(-1, keepdims=True), eps, 1 - eps)
    per = (1 - c) ** gamma * (-y * np.log(c))
    return (per * (1.0 if alpha is None else np.asarray(alpha))).sum(-1)


def _new_probs(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    p = rng.random(shape).astype(np.float32) + 0.01
    return (p / p.sum(-1, keepdims=True)).astype(np.float32), rng.integers(0, shape[-1], shape[:-1])


@pytest.mark.parametrize("q", [0.05, 0.5, 1.0])
def test_gce_values_and_axis(q):
    p, y = _new_probs()
    out = jaxloss.generalized_cross_entropy(p, y, q=q)
    p_y = np.take_along_axis(np.float64(p), y[:, None], -1)[:, 0]
    np.testing.assert_allclose(out, (1 - p_y**q) / q, rtol=1e-5)
    np.testing.assert_allclose(jaxloss.generalized_cross_entropy(p.T, y, q=q, axis=0), out, rtol=1e-6)


def test_gce_gradient_exact_and_finite_at_zero():
    p = jnp.array([[0.0, 0.3, 0.7], [1.0, 0.0, 0.0], [0.2, 0.2, 0.6]])
    y = jnp.array([0, 0, 2])
    g = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.generalized_cross_entropy(x, y, q=0.5))))(p)
    floor = np.sqrt(np.finfo(np.float32).tiny)
    np.testing.assert_allclose(g[0, 0], -(floor**-0.5), rtol=1e-5)
    np.testing.assert_allclose(g[1, 0], -1.0, rtol=1e-6)
    np.testing.assert_allclose(g[2, 2], -(0.6**-0.5), rtol=1e-6)
    assert np.all(np.asarray(g)[[0, 0, 1, 1, 2, 2], [1, 2, 1, 2, 0, 1]] == 0)
    for q in [1e-3, 0.5, 1.0]:
        f = lambda z, q=q: jaxloss.generalized_cross_entropy(z, y, q=q)  # noqa: E731
        v, gr, h = jax.jit(lambda x, f=f: value_grad_hessian(f, x))(p)
        assert_all_finite((v, gr, h))
    check_grads_x64(jax.jit(lambda x: jaxloss.generalized_cross_entropy(x, y, q=0.3)), (p * 0.8 + 0.05,))


def test_gce_out_of_range_label_is_nan():
    p, _ = _new_probs(1, (3, 4))
    out = jaxloss.generalized_cross_entropy(p, jnp.array([0, 4, -1]))
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


@pytest.mark.parametrize("opts", [{}, {"alpha": 0.3, "gamma": 0.5, "label_smoothing": 0.2}, {"gamma": 0.0}])
def test_binary_focal_values(opts):
    rng = np.random.default_rng(2)
    p = rng.random((3, 6)).astype(np.float32)
    p[0, :3] = [0.0, 1.0, 1.0]
    y = (rng.random((3, 6)) > 0.5).astype(np.float32)
    y[0, :3] = [1.0, 1.0, 0.0]
    out = jaxloss.binary_focal_cross_entropy(p, y, **opts)
    ref = _np_bfce(p, y, opts.get("alpha"), opts.get("gamma", 2.0), opts.get("label_smoothing", 0.0))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_binary_focal_extreme_probabilities(gamma):
    p = jnp.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = jnp.array([1.0, 0.0, 0.0, 1.0, 1.0])
    f = lambda x: jaxloss.binary_focal_cross_entropy(x, y, gamma=gamma)  # noqa: E731
    v, g, h = jax.jit(lambda x: value_grad_hessian(f, x))(p)
    assert_all_finite((v, g, h))
    # At the clip (wrong class, p exactly 0 or 1) the gradient is not Keras's 0.
    assert g[0] < 0 and g[1] > 0
    check_grads_x64(jax.jit(lambda x: jaxloss.binary_focal_cross_entropy(x, y, gamma=gamma)), (p * 0.9 + 0.05,))


@pytest.mark.parametrize(
    "opts", [{}, {"alpha": 0.25}, {"alpha": [0.1, 0.2, 0.3, 0.4, 1.0], "gamma": 0.5, "label_smoothing": 0.1}]
)
def test_categorical_focal_values(opts):
    p, y = _new_probs(3)
    p[0] = [0.0, 1.0, 0.0, 0.0, 0.0]
    oh = np.eye(5, dtype=np.float32)[y]
    out = jaxloss.categorical_focal_cross_entropy(p, oh, **opts)
    ref = _np_cfce(p, oh, opts.get("alpha"), opts.get("gamma", 2.0), opts.get("label_smoothing", 0.0))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(jaxloss.categorical_focal_cross_entropy(p.T, oh.T, axis=0, **opts), out, rtol=1e-6)


def test_categorical_focal_extremes_and_gradients():
    p = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    y = jnp.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for gamma in [0.0, 0.5, 2.0]:
        f = lambda x, gamma=gamma: jaxloss.categorical_focal_cross_entropy(x, y, gamma=gamma)  # noqa: E731
        v, g, h = jax.jit(lambda x, f=f: value_grad_hessian(f, x))(p)
        assert_all_finite((v, g, h))
        assert g[0, 0] < 0  # wrong class at the clip: not Keras's 0
    check_grads_x64(jax.jit(lambda x: jaxloss.categorical_focal_cross_entropy(x, y, alpha=0.5)), (p * 0.8 + 0.05,))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
def test_new_probability_losses_16_bit(dtype):
    p, y = _new_probs(4)
    oh = np.eye(5, dtype=np.float32)[y]
    p16 = jnp.asarray(p, dtype)
    for fn, lab in [
        (jaxloss.generalized_cross_entropy, y),
        (jaxloss.binary_focal_cross_entropy, oh),
        (jaxloss.categorical_focal_cross_entropy, oh),
    ]:
        out = fn(p16, lab)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(out, fn(p16.astype(jnp.float32), lab), rtol=1e-6)


def test_new_probability_losses_jit_vmap():
    p, y = _new_probs(5)
    oh = np.eye(5, dtype=np.float32)[y]
    assert_transform_invariant(lambda a, b: jaxloss.generalized_cross_entropy(a, b, q=0.7), p, y)
    assert_transform_invariant(lambda a, b: jaxloss.binary_focal_cross_entropy(a, b, alpha=0.3), p, oh)
    assert_transform_invariant(lambda a, b: jaxloss.categorical_focal_cross_entropy(a, b, gamma=1.5), p, oh)


_P3 = np.full((2, 3), 1 / 3, np.float32)
_Y3 = np.eye(3, dtype=np.float32)[[0, 1]]


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: jaxloss.generalized_cross_entropy(_P3, np.array([0, 1]), q=0.0), ValueError, "q"),
        (lambda: jaxloss.generalized_cross_entropy(_P3, np.array([0, 1]), q=1.5), ValueError, "q"),
        (lambda: jaxloss.generalized_cross_entropy(_P3, np.array([0.0, 1.0])), TypeError, "labels"),
        (lambda: jaxloss.generalized_cross_entropy(_P3, np.array([0, 1, 2])), ValueError, "labels"),
        (lambda: jaxloss.binary_focal_cross_entropy(_P3, _Y3, gamma=-1.0), ValueError, "gamma"),
        (lambda: jaxloss.binary_focal_cross_entropy(_P3, _Y3, alpha=1.5), ValueError, "alpha"),
        (lambda: jaxloss.binary_focal_cross_entropy(_P3, _Y3, label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: jaxloss.binary_focal_cross_entropy(_P3, np.ones((3, 2))), ValueError, "labels"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, _Y3, alpha=np.ones(4)), ValueError, "alpha"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, _Y3, alpha=-0.5), ValueError, "alpha"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, _Y3, gamma=-0.1), ValueError, "gamma"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, _Y3, label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, np.ones((2, 4))), ValueError, "labels"),
        (lambda: jaxloss.categorical_focal_cross_entropy(_P3, _Y3, epsilon=0.5), ValueError, "epsilon"),
    ],
)
def test_new_probability_losses_trace_time_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# --------------------------------------------------------------------------
# tiny probability rows, ignored rows holding nan, huge focal logits
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["categorical_cross_entropy", "categorical_focal_cross_entropy"])
def test_renormalised_tiny_rows_have_finite_gradients(fn):
    # Rows summing to ~1e-19 (sigmoids of -50 and below, or 1e-20): the
    # renormalisation p / sum(p) is scale-free, so the value is that of the
    # row times 1e20 and the gradient 1e20 times its gradient. Autodiff of
    # p / sum(p) squared the sum, which flushes to 0: nan.
    f = getattr(jaxloss, fn)
    labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for row in (jnp.full((3,), 1e-20), jax.nn.sigmoid(jnp.array([-50.0, -52.0, -55.0]))):
        probs = jnp.stack([row, row])
        scale = jnp.float32(1.0) / jnp.sum(row)
        loss = lambda p: jnp.sum(f(p, labels))  # noqa: E731
        value, grad = jax.jit(jax.value_and_grad(loss))(probs)
        ref_value, ref_grad = jax.value_and_grad(loss)(probs * scale)
        assert_all_finite(grad, "gradient")
        np.testing.assert_allclose(value, ref_value, rtol=1e-6)
        np.testing.assert_allclose(grad, ref_grad * scale, rtol=1e-4)
    # The value is Keras's: log(3) for a uniform row, whatever its scale.
    np.testing.assert_allclose(
        jaxloss.categorical_cross_entropy(jnp.full((1, 3), 1e-20), labels[:1]), [np.log(3.0)], rtol=1e-6
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sparse_ignored_row_with_nonfinite_logits_is_exactly_zero(bad):
    logits = jnp.array([[2.0, 1.0, 0.1], [bad, 1.0, bad], [0.5, 2.5, 0.3]])
    labels = jnp.array([0, -100, 2])
    kwargs = dict(ignore_index=-100, label_smoothing=0.1, z_loss=1e-3)

    def loss(z):
        return jnp.sum(jaxloss.sparse_softmax_cross_entropy(z, labels, **kwargs))

    value = jaxloss.sparse_softmax_cross_entropy(logits, labels, **kwargs)
    assert float(value[1]) == 0.0
    clean = logits.at[1].set(0.0)
    np.testing.assert_allclose(value, jaxloss.sparse_softmax_cross_entropy(clean, labels, **kwargs), rtol=1e-6)
    for derivative in (jax.grad(loss), jax.jacfwd(loss), jax.hessian(loss)):
        d = jax.jit(derivative)(logits)
        assert_all_finite(d, "derivative")
        np.testing.assert_array_equal(np.asarray(d)[1], 0.0)
    np.testing.assert_allclose(jax.grad(loss)(logits), jax.grad(loss)(clean), rtol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_gradient_at_huge_logits(gamma):
    # At |z| = 2e38 the loss is 0 (right side) or |z| (wrong side, where the
    # weight is 1): the gradient is 0 or the sign of z, never nan.
    z = jnp.array([2e38, 2e38, -2e38, -2e38, 1e30, -1e30])
    y = jnp.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])

    def loss(v):
        return jnp.sum(jaxloss.sigmoid_focal_loss(v, y, gamma=gamma))

    expected = [0.0, 1.0, -1.0, 0.0, 1.0, -1.0]
    for derivative in (jax.grad(loss), jax.jit(jax.grad(loss)), jax.jit(jax.jacfwd(loss))):
        np.testing.assert_array_equal(derivative(z), expected)
    tangent = jnp.linspace(-1.0, 1.0, 6)
    hvp = jax.jit(lambda v: jax.jvp(jax.grad(loss), (v,), (tangent,))[1])(z)
    assert_all_finite(hvp, "Hessian-vector product")
    np.testing.assert_allclose(jaxloss.sigmoid_focal_loss(z, y, gamma=gamma), [0, 2e38, 2e38, 0, 1e30, 1e30])


@pytest.mark.parametrize(
    "loss, dtype, most",
    [
        ("sparse", jnp.float32, 0.0),  # the kept exponentials become the gradient in place
        ("sparse", jnp.bfloat16, 1.0),  # the float32 copy of the logits
        ("poly1", jnp.float32, 1.0),  # autodiff kept two (the softmax and the guarded log-softmax)
    ],
)
def test_value_and_grad_keeps_few_float32_copies_of_the_logits(loss, dtype, most):
    # XLA's own count of the temporary bytes of the compiled value_and_grad,
    # in units of one float32 [N, C] array (no timing).
    n, c = 256, 4096
    logits = jax.ShapeDtypeStruct((n, c), dtype)
    if loss == "sparse":
        labels = jax.ShapeDtypeStruct((n,), jnp.int32)
        fn = jaxloss.sparse_softmax_cross_entropy
    else:
        labels = jax.ShapeDtypeStruct((n, c), dtype)
        fn = jaxloss.poly1_cross_entropy
    step = jax.jit(jax.value_and_grad(lambda z, y: jnp.mean(fn(z, y))))
    temp = step.lower(logits, labels).compile().memory_analysis().temp_size_in_bytes
    assert temp / (n * c * 4) < most + 0.05
