"""``jaxloss.compat.tf_v1`` against ``tf.compat.v1.losses`` run in a TF1 graph.

Every reduction x every kind of weights x several label smoothings, for
``sigmoid_cross_entropy``, ``softmax_cross_entropy`` and
``compute_weighted_loss`` alone, plus the ValueErrors TensorFlow raises.
Each TensorFlow graph computes every reduction and smoothing at once, to
keep the file fast.
"""

from __future__ import annotations

import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss.compat import tf_v1

tf = pytest.importorskip("tensorflow")
L1 = tf.compat.v1.losses

R = tf_v1.Reduction
REDUCTIONS = R.all()
# TF graph building costs ~40 ms a loss, so the full cross product of
# reductions x weights uses two smoothings and test_label_smoothing covers the
# rest (TF ignores a negative smoothing).
SMOOTHINGS = (0, 0.2)
ALL_SMOOTHINGS = (0, 0.1, 0.5, 1.0, -0.3)
B, C, T = 4, 3, 5
RTOL, ATOL = 1e-6, 1e-7
# A softmax cross-entropy near 0 is logsumexp(x) - x_true, a difference of
# numbers of the size of the logits: its absolute rounding error is about
# eps * |logits| whichever way it is computed, and TF's kernel rounds
# differently from ours (seen: 0.00117952 vs 0.00117968 with logits ~5).
SOFTMAX_ATOL = 1e-6


def _weight_cases(loss_shape, rng):
    """The weights of the brief: scalar, [batch], [batch, 1], full, zeros, all-zero."""
    full = rng.uniform(0.1, 2.0, loss_shape).astype(np.float32)
    zeros = full.copy()
    zeros.reshape(-1)[::2] = 0.0
    return {
        "scalar": np.float32(0.7),
        "python_float": 2.5,
        "scalar_zero": np.float32(0.0),
        "batch": rng.uniform(0.1, 2.0, (B,)).astype(np.float32),
        "batch_1": rng.uniform(0.1, 2.0, (B, 1)).astype(np.float32),
        "full": full,
        "zeros": zeros,
        "all_zero": np.zeros(loss_shape, np.float32),
        "negative": (full - 1.0).astype(np.float32),
    }


def _inputs(kind, rng, shape=(B, C)):
    logits = (3.0 * rng.standard_normal(shape)).astype(np.float32)
    logits.reshape(-1)[:4] = [30.0, -30.0, 1e4, -1e4][: min(4, logits.size)]
    if kind == "sigmoid":
        labels = (rng.uniform(size=shape) > 0.5).astype(np.float32)
    else:
        labels = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    return labels, logits


def _tf_build(tf_loss, y, x, w, reductions=REDUCTIONS, smoothings=SMOOTHINGS):
    return {
        (red, ls): tf_loss(y, x, weights=w, label_smoothing=ls, reduction=red)
        for red in reductions
        for ls in smoothings
    }


def _tf_run(build, *arrays):
    # Constants like the tf1 fixture, but a python float stays a python float
    # (TF's _num_present takes a shortcut for it).
    with tf.Graph().as_default():
        consts = [a if isinstance(a, float) else tf.constant(a) for a in arrays]
        out = build(*consts)
        with tf.compat.v1.Session() as sess:
            return sess.run(out)


WEIGHT_KINDS = [
    "scalar",
    "python_float",
    "scalar_zero",
    "batch",
    "batch_1",
    "full",
    "zeros",
    "all_zero",
    "negative",
]
LOSS_SHAPES = {"sigmoid": (B, C), "softmax": (B,)}


def _invalid(loss, kind):
    # TF's rule: rank 0 or the rank of the losses. [batch] weights do not fit
    # sigmoid's [batch, classes] losses; [batch, 1] do not fit softmax's [batch].
    return (loss == "sigmoid" and kind == "batch") or (loss == "softmax" and kind == "batch_1")


def _case(loss, kind):
    rng = np.random.default_rng(zlib.crc32(f"{loss}/{kind}".encode()))
    labels, logits = _inputs(loss, rng)
    return labels, logits, _weight_cases(LOSS_SHAPES[loss], rng)[kind]


@pytest.fixture(scope="module")
def tf_expected():
    """TF's value for every loss x valid weights x reduction x smoothing, one graph per loss."""
    out = {}
    for loss in LOSS_SHAPES:
        cases = {k: _case(loss, k) for k in WEIGHT_KINDS if not _invalid(loss, k)}
        tf_loss = getattr(L1, f"{loss}_cross_entropy")
        with tf.Graph().as_default():
            graph = {}
            for kind, (y, x, w) in cases.items():
                w = w if isinstance(w, float) else tf.constant(w)
                graph[kind] = _tf_build(tf_loss, tf.constant(y), tf.constant(x), w)
            with tf.compat.v1.Session() as sess:
                for kind, values in sess.run(graph).items():
                    out[loss, kind] = values
    return out


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("weights_kind", WEIGHT_KINDS)
def test_losses_every_reduction_weights_smoothing(loss, weights_kind, tf_expected):
    labels, logits, weights = _case(loss, weights_kind)
    tf_loss = getattr(L1, f"{loss}_cross_entropy")
    ours = getattr(tf_v1, f"{loss}_cross_entropy")
    if _invalid(loss, weights_kind):
        with pytest.raises(ValueError, match="broadcast"):
            with tf.Graph().as_default():
                tf_loss(tf.constant(labels), tf.constant(logits), weights=tf.constant(weights))
        with pytest.raises(ValueError, match="broadcast"):
            ours(labels, logits, weights=weights)
        return
    for (red, ls), want in tf_expected[loss, weights_kind].items():
        got = ours(labels, logits, weights=weights, label_smoothing=ls, reduction=red)
        assert got.dtype == jnp.float32
        assert got.shape == np.shape(want), (red, ls)
        atol = SOFTMAX_ATOL if loss == "softmax" else ATOL
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol, err_msg=f"{red}, smoothing {ls}")


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_label_smoothing(loss):
    rng = np.random.default_rng(zlib.crc32(f"smoothing/{loss}".encode()))
    labels, logits = _inputs(loss, rng)
    if loss == "softmax":
        labels = rng.dirichlet(np.ones(C), B).astype(np.float32)  # soft labels too
    w = _weight_cases(LOSS_SHAPES[loss], rng)["zeros"]
    reductions = (R.NONE, R.SUM_BY_NONZERO_WEIGHTS, R.MEAN)
    tf_loss = getattr(L1, f"{loss}_cross_entropy")
    want = _tf_run(lambda y, x, w: _tf_build(tf_loss, y, x, w, reductions, ALL_SMOOTHINGS), labels, logits, w)
    ours = getattr(tf_v1, f"{loss}_cross_entropy")
    for (red, ls), v in want.items():
        got = ours(labels, logits, w, label_smoothing=ls, reduction=red)
        atol = SOFTMAX_ATOL if loss == "softmax" else ATOL
        np.testing.assert_allclose(got, v, rtol=RTOL, atol=atol, err_msg=f"{red} {ls}")
    # A negative smoothing is ignored, as in TF.
    np.testing.assert_array_equal(ours(labels, logits, w, label_smoothing=-0.3), ours(labels, logits, w))


def test_default_reduction_is_sum_by_nonzero_weights():
    rng = np.random.default_rng(3)
    labels, logits = _inputs("sigmoid", rng)
    w = np.array([[1.0], [0.0], [2.0], [0.0]], np.float32)
    want = _tf_run(lambda y, x, w: L1.sigmoid_cross_entropy(y, x, weights=w), labels, logits, w)
    np.testing.assert_allclose(tf_v1.sigmoid_cross_entropy(labels, logits, w), want, rtol=RTOL)
    per = np.asarray(tf_v1.sigmoid_cross_entropy(labels, logits, reduction=R.NONE))
    np.testing.assert_allclose(want, (per * w).sum() / 6.0, rtol=1e-5)


def test_softmax_higher_rank_logits():
    # Losses are logits.shape[:-1] = [B, T]; weights [B, 1], [1, T], [B, T] fit,
    # [B] (rank 1) does not.
    rng = np.random.default_rng(4)
    labels, logits = _inputs("softmax", rng, (B, T, C))
    soft = rng.dirichlet(np.ones(C), (B, T)).astype(np.float32)
    cases = {
        "hard_b1": (labels, rng.uniform(size=(B, 1)).astype(np.float32)),
        "soft_1t": (soft, rng.uniform(size=(1, T)).astype(np.float32)),
        "soft_bt": (soft, rng.uniform(size=(B, T)).astype(np.float32)),
    }

    def build(x):
        return {
            k: _tf_build(L1.softmax_cross_entropy, tf.constant(y), x, tf.constant(w))
            for k, (y, w) in cases.items()
        }

    want = _tf_run(build, logits)
    for k, (y, w) in cases.items():
        for (red, ls), v in want[k].items():
            got = tf_v1.softmax_cross_entropy(y, logits, w, label_smoothing=ls, reduction=red)
            np.testing.assert_allclose(got, v, rtol=RTOL, atol=SOFTMAX_ATOL, err_msg=f"{k} {red} {ls}")
    with pytest.raises(ValueError):
        with tf.Graph().as_default():
            L1.softmax_cross_entropy(labels, logits, np.ones(B, np.float32))
    with pytest.raises(ValueError, match="rank"):
        tf_v1.softmax_cross_entropy(labels, logits, np.ones(B, np.float32))


@pytest.mark.parametrize(
    "weights",
    [
        1.0,
        np.float32(0.0),
        np.array([[0.5], [0.0], [2.0], [1.0]], np.float32),
        np.array([[0.5, 0.0, 2.0, 1.0, 3.0]], np.float32),
        np.ones((1, 1), np.float32),
        "full",
        "all_zero",
    ],
    ids=["one", "zero", "b1", "1t", "11", "full", "all_zero"],
)
def test_compute_weighted_loss(weights):
    rng = np.random.default_rng(5)
    losses = rng.uniform(0.0, 3.0, (B, T)).astype(np.float32)
    if isinstance(weights, str):
        weights = rng.uniform(size=(B, T)).astype(np.float32) * (weights == "full")
        weights[0, :2] = 0.0

    def build(lo, w):
        return {red: L1.compute_weighted_loss(lo, w, reduction=red) for red in REDUCTIONS}

    want = _tf_run(build, losses, weights)
    for red, v in want.items():
        got = tf_v1.compute_weighted_loss(losses, weights, reduction=red)
        assert got.shape == np.shape(v)
        np.testing.assert_allclose(got, v, rtol=RTOL, atol=ATOL, err_msg=red)


@pytest.mark.parametrize("shape", [(B,), (B, T, 1), (B, 2), (2, T)])
def test_compute_weighted_loss_invalid_weights(shape):
    losses = np.ones((B, T), np.float32)
    w = np.ones(shape, np.float32)
    with pytest.raises(ValueError):
        _tf_run(lambda lo, w: L1.compute_weighted_loss(lo, w), losses, w)
    with pytest.raises(ValueError, match="broadcast"):
        tf_v1.compute_weighted_loss(losses, w)


def test_compute_weighted_loss_integer_losses_and_dtypes():
    losses = np.array([[1, 2], [3, 4]], np.int32)
    got = tf_v1.compute_weighted_loss(losses, np.array([[1.0], [0.5]], np.float32), reduction=R.SUM)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, 6.5)
    # 16-bit losses: TF returns float16, we return float32 (the package's policy).
    lf = np.array([0.1, 0.2, 0.3], np.float16)
    want = _tf_run(lambda lo: L1.compute_weighted_loss(lo, 2.0, reduction=R.MEAN), lf)
    got = tf_v1.compute_weighted_loss(lf, 2.0, reduction=R.MEAN)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_float64_stays_float64():
    rng = np.random.default_rng(6)
    labels, logits = _inputs("sigmoid", rng)
    logits64 = logits.astype(np.float64)
    # TF rounds the weighted sum through float32; ours stays float64, so the
    # two agree to float32 precision only.
    want = _tf_run(lambda y, x: L1.sigmoid_cross_entropy(y, x, reduction=R.MEAN), labels, logits64)
    with jax.enable_x64(True):
        got = tf_v1.sigmoid_cross_entropy(labels, logits64, reduction=R.MEAN)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gradients_match_tf():
    rng = np.random.default_rng(7)
    for loss, y_shape in (("sigmoid", (B, C)), ("softmax", (B,))):
        labels, logits = _inputs(loss, rng)
        logits = (logits / 1e4).astype(np.float32) if loss == "softmax" else logits
        soft = rng.uniform(size=labels.shape).astype(np.float32)
        if loss == "softmax":
            # TF's softmax kernel's gradient is softmax - labels, exact only
            # for labels summing to 1 (see test_softmax_gradient_unnormalised).
            soft /= soft.sum(-1, keepdims=True)
        w = rng.uniform(size=y_shape).astype(np.float32)
        tf_loss = getattr(L1, f"{loss}_cross_entropy")
        ours = getattr(tf_v1, f"{loss}_cross_entropy")

        def build(y, x, w, tf_loss=tf_loss):
            out = tf_loss(y, x, weights=w, label_smoothing=0.2)
            gy, gx, gw = tf.gradients(out, [y, x, w])
            return (tf.zeros_like(y) if gy is None else gy), gx, gw

        want = _tf_run(build, soft, logits, w)
        got = jax.jit(
            jax.grad(lambda y, x, w, ours=ours: ours(y, x, w, label_smoothing=0.2), argnums=(0, 1, 2))
        )(soft, logits, w)
        for g, v, name in zip(got, want, ("labels", "logits", "weights"), strict=True):
            np.testing.assert_allclose(g, v, rtol=1e-5, atol=1e-7, err_msg=f"{loss} d/d{name}")
    # softmax stops the gradient into the labels, as TF does (checked above: 0).


def test_softmax_gradient_unnormalised_labels():
    # TF's softmax kernel backpropagates softmax(x) - y, the derivative only
    # when the labels sum to 1. Ours is the true derivative, sum(y) * softmax(x) - y.
    x = np.array([[1.0, -0.5, 2.0]], np.float32)
    y = np.array([[0.5, 0.5, 0.5]], np.float32)
    tf_grad = _tf_run(lambda y, x: tf.gradients(L1.softmax_cross_entropy(y, x), x)[0], y, x)
    got = jax.jit(jax.grad(lambda x: tf_v1.softmax_cross_entropy(y, x)))(x)
    p = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(tf_grad, p - y, rtol=1e-6)
    np.testing.assert_allclose(got, 1.5 * p - y, rtol=1e-6)


def test_jit_and_static_reduction():
    rng = np.random.default_rng(8)
    labels, logits = _inputs("softmax", rng)
    w = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    for red in REDUCTIONS:
        f = jax.jit(functools.partial(tf_v1.softmax_cross_entropy, reduction=red, label_smoothing=0.1))
        np.testing.assert_allclose(
            f(labels, logits, w),
            tf_v1.softmax_cross_entropy(labels, logits, w, reduction=red, label_smoothing=0.1),
            rtol=1e-6,
        )


def test_reduction_class_matches_tf():
    assert R.all() == L1.Reduction.all()
    names = (
        "NONE",
        "SUM",
        "MEAN",
        "SUM_OVER_BATCH_SIZE",
        "SUM_BY_NONZERO_WEIGHTS",
        "SUM_OVER_NONZERO_WEIGHTS",
    )
    for name in names:
        assert getattr(R, name) == getattr(L1.Reduction, name)
    for key in R.all():
        R.validate(key)
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        R.validate("sum")
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        L1.Reduction.validate("sum")


def _error_cases():
    y = np.eye(C, dtype=np.float32)[[0, 1, 2, 0]]
    x = np.zeros((B, C), np.float32)
    return [
        ("labels_none", dict(labels=None, logits=x)),
        ("logits_none", dict(labels=y, logits=None)),
        ("weights_none", dict(labels=y, logits=x, weights=None)),
        ("shape_mismatch", dict(labels=y[:, :2], logits=x)),
        ("label_rank_mismatch", dict(labels=y[:, :1], logits=x)),
        ("batch_mismatch", dict(labels=y[:3], logits=x)),
        ("weights_rank", dict(labels=y, logits=x, weights=np.ones((B, C, 1), np.float32))),
        ("weights_dim", dict(labels=y, logits=x, weights=np.ones((2, 1), np.float32))),
        ("bad_reduction", dict(labels=y, logits=x, reduction="mean")),
    ]


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("case", _error_cases(), ids=lambda c: c[0])
def test_value_errors_like_tf(loss, case):
    name, kw = case
    kw = dict(kw)
    labels, logits = kw.pop("labels"), kw.pop("logits")
    tf_loss = getattr(L1, f"{loss}_cross_entropy")
    ours = getattr(tf_v1, f"{loss}_cross_entropy")
    if loss == "softmax" and name == "weights_rank":
        kw["weights"] = np.ones((B, 1), np.float32)
    if loss == "softmax" and name == "weights_dim":
        kw["weights"] = np.ones((2,), np.float32)
    # TF raises ValueError in graph mode ...
    with pytest.raises(ValueError):
        with tf.Graph().as_default():
            const = lambda a: None if a is None else tf.constant(a)
            tf_loss(const(labels), const(logits), **kw)
    # ... and so does the twin, at trace time.
    with pytest.raises(ValueError):
        ours(labels, logits, **kw)
    with pytest.raises(ValueError):
        jax.jit(lambda: ours(labels, logits, **kw))()


def test_label_smoothing_above_one_is_rejected():
    # Deliberate difference: TF builds labels outside [0, 1]; we refuse.
    y, x = _inputs("sigmoid", np.random.default_rng(9))
    with pytest.raises(ValueError, match="label_smoothing"):
        tf_v1.sigmoid_cross_entropy(y, x, label_smoothing=1.5)


def test_zero_weight_on_infinite_loss_is_zero():
    # Deliberate difference: TF gives 0 * inf = nan.
    y = np.array([[1.0], [0.0]], np.float32)
    x = np.array([[-np.inf], [0.0]], np.float32)
    w = np.array([[0.0], [1.0]], np.float32)
    got = tf_v1.sigmoid_cross_entropy(y, x, w, reduction=R.SUM)
    np.testing.assert_allclose(got, np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize(
    "kw",
    [{"weights": None}, {"reduction": "sum"}, {"weights": np.ones(B, np.float32)}],
    ids=["weights_none", "bad_reduction", "weights_rank"],
)
def test_compute_weighted_loss_value_errors(kw):
    losses = np.ones((B, T), np.float32)
    with pytest.raises(ValueError):
        with tf.Graph().as_default():
            L1.compute_weighted_loss(tf.constant(losses), **kw)
    with pytest.raises(ValueError):
        tf_v1.compute_weighted_loss(losses, **kw)
    with pytest.raises(ValueError, match="losses"):
        tf_v1.compute_weighted_loss(None)
