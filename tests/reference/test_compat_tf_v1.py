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
import tensorflow as tf  # noqa: E402  (a missing reference library fails, never skips)

from jaxloss.compat import tf_v1

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
            k: _tf_build(L1.softmax_cross_entropy, tf.constant(y), x, tf.constant(w)) for k, (y, w) in cases.items()
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
        got = jax.jit(jax.grad(lambda y, x, w, ours=ours: ours(y, x, w, label_smoothing=0.2), argnums=(0, 1, 2)))(
            soft, logits, w
        )
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


# --------------------------------------------------------------------------
# The rest of tf.compat.v1.losses: sparse softmax, log, hinge, Huber, MSE,
# absolute difference, cosine distance, mean pairwise squared error.
# --------------------------------------------------------------------------

# Each spec: (TF builder, our call, loss shape for the weights, has reduction).
# Builders take (labels, predictions, weights, reduction) and TF-style kwargs.
HUBER_DELTA = 0.7
ELEMENTWISE = ("log_loss", "hinge_loss", "huber_loss", "mean_squared_error", "absolute_difference")
NEW_LOSSES = ("sparse_softmax_cross_entropy", *ELEMENTWISE, "cosine_distance", "mean_pairwise_squared_error")


def _extra_kwargs(name):
    return {"huber_loss": {"delta": HUBER_DELTA}, "cosine_distance": {"axis": 1}}.get(name, {})


def _new_loss_shape(name):
    return {"sparse_softmax_cross_entropy": (B,), "cosine_distance": (B, 1)}.get(name, (B, C))


def _new_inputs(name, rng):
    """(labels, predictions) for a new loss, with a few edge values."""
    if name == "sparse_softmax_cross_entropy":
        logits = (3.0 * rng.standard_normal((B, C))).astype(np.float32)
        logits[0, :2] = [30.0, -30.0]
        return rng.integers(0, C, (B,)).astype(np.int32), logits
    if name == "log_loss":
        labels = (rng.uniform(size=(B, C)) > 0.5).astype(np.float32)
        labels[0, 0] = 0.3  # soft labels are fine too
        return labels, rng.uniform(0.05, 0.95, (B, C)).astype(np.float32)
    if name == "hinge_loss":
        logits = (2.0 * rng.standard_normal((B, C))).astype(np.float32)
        logits[0, :2] = [1.0, -1.0]  # on the hinge
        return (rng.uniform(size=(B, C)) > 0.5).astype(np.float32), logits
    labels = (2.0 * rng.standard_normal((B, C))).astype(np.float32)
    predictions = (2.0 * rng.standard_normal((B, C))).astype(np.float32)
    predictions[0, 0] = labels[0, 0]  # a zero error
    if name == "huber_loss":
        predictions[0, 1] = labels[0, 1] + HUBER_DELTA  # at delta
    return labels, predictions


def _new_case(name, kind):
    rng = np.random.default_rng(zlib.crc32(f"{name}/{kind}".encode()))
    labels, predictions = _new_inputs(name, rng)
    if name == "mean_pairwise_squared_error":
        return labels, predictions, _weight_cases((B, C), rng)[kind]
    return labels, predictions, _weight_cases(_new_loss_shape(name), rng)[kind]


def _new_invalid(name, kind):
    # [batch] weights never fit rank-2 losses; sparse's [batch] losses take both
    # [batch] and [batch, 1] (TF squeezes the trailing 1).
    return kind == "batch" and name != "sparse_softmax_cross_entropy"


def _tf_new(name, y, p, w, reduction=None):
    fn = getattr(L1, name)
    if name == "mean_pairwise_squared_error":
        return fn(y, p, weights=w)
    return fn(y, p, weights=w, reduction=reduction, **_extra_kwargs(name))


def _ours_new(name, y, p, w, reduction=None):
    fn = getattr(tf_v1, name)
    if name == "mean_pairwise_squared_error":
        return fn(y, p, weights=w)
    return fn(y, p, weights=w, reduction=reduction, **_extra_kwargs(name))


def _reductions(name):
    return (None,) if name == "mean_pairwise_squared_error" else REDUCTIONS


# The brief's weights (scalar, per-batch, full, zeros) and the empty cases;
# python floats and negative weights are covered by the cross-entropies.
NEW_WEIGHT_KINDS = [k for k in WEIGHT_KINDS if k not in ("python_float", "negative")]


@pytest.fixture(scope="module")
def tf_expected_new():
    """TF's value for every new loss x valid weights x reduction, in one graph."""
    with tf.Graph().as_default():
        graph = {}
        for name in NEW_LOSSES:
            for kind in NEW_WEIGHT_KINDS:
                if _new_invalid(name, kind):
                    continue
                y, p, w = _new_case(name, kind)
                w = w if isinstance(w, float) else tf.constant(w)
                y, p = tf.constant(y), tf.constant(p)
                graph[name, kind] = {red: _tf_new(name, y, p, w, red) for red in _reductions(name)}
        with tf.compat.v1.Session() as sess:
            return sess.run(graph)


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_new_losses_every_reduction_and_weights(name, tf_expected_new):
    rtol = RTOL
    # Softmax cross-entropy near 0: see SOFTMAX_ATOL. Pairwise: a difference
    # of two sums of squares of size ~10, rounded differently by TF.
    atol = {"sparse_softmax_cross_entropy": SOFTMAX_ATOL, "mean_pairwise_squared_error": 1e-5}.get(name, ATOL)
    for kind in NEW_WEIGHT_KINDS:
        y, p, w = _new_case(name, kind)
        if _new_invalid(name, kind):
            with pytest.raises(ValueError, match="broadcast"):
                with tf.Graph().as_default():
                    _tf_new(name, tf.constant(y), tf.constant(p), tf.constant(w), R.NONE)
            with pytest.raises(ValueError, match="broadcast"):
                _ours_new(name, y, p, w, R.NONE)
            continue
        for red, want in tf_expected_new[name, kind].items():
            got = _ours_new(name, y, p, w, red)
            assert got.dtype == jnp.float32
            assert got.shape == np.shape(want), (kind, red)
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name} {kind} {red}")


def test_new_losses_default_reduction_and_weights():
    # Default weights=1.0 and SUM_BY_NONZERO_WEIGHTS; labels/predictions of
    # rank 3 for the elementwise ones.
    rng = np.random.default_rng(11)
    y = (rng.uniform(size=(B, T, C)) > 0.5).astype(np.float32)
    p = rng.uniform(0.1, 0.9, (B, T, C)).astype(np.float32)

    def build(y, p):
        return {name: getattr(L1, name)(y, p) for name in ELEMENTWISE} | {
            "mean_pairwise_squared_error": L1.mean_pairwise_squared_error(y, p),
            "cosine_distance": L1.cosine_distance(y, p, axis=-1),
        }

    want = _tf_run(build, y, p)
    for name, v in want.items():
        rtol = RTOL
        kw = {"axis": -1} if name == "cosine_distance" else {}
        np.testing.assert_allclose(getattr(tf_v1, name)(y, p, **kw), v, rtol=rtol, atol=ATOL, err_msg=name)


def test_sparse_softmax_squeezes_like_tf():
    rng = np.random.default_rng(12)
    logits = (2.0 * rng.standard_normal((B, T, C))).astype(np.float32)
    labels = rng.integers(0, C, (B, T)).astype(np.int64)
    cases = {
        "labels_b1": (labels[:, :1], logits[:, 0], np.float32(1.5)),
        "weights_b1": (labels[:, 0], logits[:, 0], rng.uniform(size=(B, 1)).astype(np.float32)),
        "both_b1": (labels[:, :1], logits[:, 0], np.array([[1.0], [0.0], [2.0], [0.5]], np.float32)),
        "logits_c1": (labels[:, 0], logits[:, :1, :, None][:, 0], np.float32(1.0)),
        "rank3_bt": (labels, logits, rng.uniform(size=(B, T)).astype(np.float32)),
        "rank3_1t": (labels, logits, rng.uniform(size=(1, T)).astype(np.float32)),
        "rank3_bt1": (labels, logits, rng.uniform(size=(B, T, 1)).astype(np.float32)),
    }

    def build():
        return {
            k: {
                red: L1.sparse_softmax_cross_entropy(tf.constant(y), tf.constant(x), tf.constant(w), reduction=red)
                for red in REDUCTIONS
            }
            for k, (y, x, w) in cases.items()
        }

    want = _tf_run(build)
    for k, (y, x, w) in cases.items():
        for red, v in want[k].items():
            got = tf_v1.sparse_softmax_cross_entropy(y, x, w, reduction=red)
            assert got.shape == np.shape(v), (k, red)
            np.testing.assert_allclose(got, v, rtol=RTOL, atol=SOFTMAX_ATOL, err_msg=f"{k} {red}")


def test_mean_pairwise_squared_error_graph_not_eager():
    # TF2 eager counts every element of the batch for scalar weights
    # (_num_present's shortcut); graph mode counts per example: ours = graph.
    rng = np.random.default_rng(13)
    y = rng.standard_normal((B, C)).astype(np.float32)
    p = rng.standard_normal((B, C)).astype(np.float32)
    graph = _tf_run(lambda y, p: L1.mean_pairwise_squared_error(y, p), y, p)
    eager = L1.mean_pairwise_squared_error(y, p).numpy()
    d = (p - y).astype(np.float64)
    by_hand = (2 * (d**2).sum(1) / (C - 1) - 2 * d.sum(1) ** 2 / (C * (C - 1))).sum()
    ours = tf_v1.mean_pairwise_squared_error(y, p)
    np.testing.assert_allclose(graph, by_hand, rtol=1e-5)
    np.testing.assert_allclose(ours, graph, rtol=RTOL)
    assert not np.isclose(eager, graph, rtol=1e-2)
    # The mean over pairs i < j of ((p_i - p_j) - (y_i - y_j))**2, summed over the batch.
    pairs = [(i, j) for i in range(C) for j in range(i + 1, C)]
    per = [np.mean([(d[b, i] - d[b, j]) ** 2 for i, j in pairs]) for b in range(B)]
    np.testing.assert_allclose(ours, np.sum(per), rtol=1e-5)
    # A single element per example has no pairs: 0, not nan.
    np.testing.assert_array_equal(tf_v1.mean_pairwise_squared_error(y[:, :1], p[:, :1]), 0.0)
    with pytest.raises(TypeError):  # no reduction argument, as in TF
        tf_v1.mean_pairwise_squared_error(y, p, reduction=R.SUM)


def test_mean_pairwise_squared_error_rank3_weights():
    rng = np.random.default_rng(14)
    y = rng.standard_normal((B, T, C)).astype(np.float32)
    p = rng.standard_normal((B, T, C)).astype(np.float32)
    full = rng.uniform(size=(B, T, C)).astype(np.float32)
    full[0] = 0.0
    full[1, 0] = 0.0
    cases = [np.float32(2.0), full, full[:, :, :1], full[:1], np.zeros((B, 1, 1), np.float32)]
    want = _tf_run(lambda y, p: [L1.mean_pairwise_squared_error(y, p, tf.constant(w)) for w in cases], y, p)
    for w, v in zip(cases, want, strict=True):
        got = tf_v1.mean_pairwise_squared_error(y, p, w)
        np.testing.assert_allclose(got, v, rtol=1e-5, atol=1e-5, err_msg=str(np.shape(w)))


def test_cosine_distance_not_normalised_like_tf():
    # TF assumes unit vectors and does not normalise; neither do we (the core
    # jaxloss.cosine_distance normalises and would give 1 - cos here).
    y = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    p = np.array([[3.0, 1.0], [1.0, 1.0], [1.0, 0.0]], np.float32)
    want = _tf_run(lambda y, p: L1.cosine_distance(y, p, axis=1, reduction=R.NONE), y, p)
    np.testing.assert_allclose(want, [[-5.0], [-1.0], [1.0]])
    np.testing.assert_allclose(tf_v1.cosine_distance(y, p, axis=1, reduction=R.NONE), want, rtol=RTOL)
    np.testing.assert_allclose(tf_v1.cosine_distance(y, p, dim=1, reduction=R.NONE), want, rtol=RTOL)
    # axis=0 keeps the first axis: losses [1, 2], weights [1, 2] or [1, 1].
    w = np.array([[0.5, 2.0]], np.float32)
    want0 = _tf_run(lambda y, p, w: L1.cosine_distance(y, p, axis=0, weights=w), y, p, w)
    np.testing.assert_allclose(tf_v1.cosine_distance(y, p, axis=0, weights=w), want0, rtol=RTOL)


def test_log_loss_edges_match_tf():
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], np.float32)
    p = np.array([0.0, 1.0, 1e-4, 1.0 - 1e-4, 1.0, 0.0], np.float32)
    want = _tf_run(lambda y, p: L1.log_loss(y, p, reduction=R.NONE), y, p)
    np.testing.assert_allclose(tf_v1.log_loss(y, p, reduction=R.NONE), want, rtol=RTOL)


def test_new_losses_gradients_match_tf():
    rng = np.random.default_rng(15)
    names = [n for n in NEW_LOSSES if n != "log_loss"] + ["log_loss"]
    inputs = {}
    for name in names:
        y, p = _new_inputs(name, rng)
        if name == "hinge_loss":
            p[0, :2] = [1.5, -1.5]  # at the kink TF's relu has slope 0, jnp.maximum 1/2
        if name == "absolute_difference":
            p[0, 0] += 0.5  # zero error: see test_absolute_difference_gradient_at_zero_error
        inputs[name] = (y, p, rng.uniform(0.1, 2.0, _new_loss_shape(name)).astype(np.float32))
    inputs["mean_pairwise_squared_error"] = (*inputs["mean_pairwise_squared_error"][:2], np.float32(0.7))

    def build():
        out = {}
        for name, (y, p, w) in inputs.items():
            p_t, w_t = tf.constant(p), tf.constant(w)
            out[name] = tf.gradients(_tf_new(name, tf.constant(y), p_t, w_t, R.SUM_BY_NONZERO_WEIGHTS), [p_t, w_t])
        return out

    want = _tf_run(build)
    for name, (y, p, w) in inputs.items():
        got = jax.grad(lambda p, w, name=name, y=y: _ours_new(name, y, p, w, R.SUM_BY_NONZERO_WEIGHTS), (0, 1))(p, w)
        rtol = 1e-5  # TF sums in another order
        for g, v, arg in zip(got, want[name], ("predictions", "weights"), strict=True):
            np.testing.assert_allclose(g, v, rtol=rtol, atol=1e-6, err_msg=f"{name} d/d{arg}")


def test_absolute_difference_gradient_at_zero_error():
    y = np.array([1.0, 2.0], np.float32)
    p = np.array([1.0, 3.0], np.float32)
    want = _tf_run(lambda y, p: tf.gradients(L1.absolute_difference(y, p, reduction=R.SUM), p)[0], y, p)
    np.testing.assert_allclose(want, [0.0, 1.0])
    got = jax.grad(lambda p: tf_v1.absolute_difference(y, p, reduction=R.SUM))(p)
    np.testing.assert_allclose(got, want)


def test_new_losses_jit_dtypes_and_integer_inputs():
    for name in NEW_LOSSES:
        y, p, w = _new_case(name, "zeros")
        # Two reductions: jit compiles cost ~0.2 s each.
        for red in _reductions(name)[:2]:
            kw = {} if red is None else {"reduction": red}
            f = jax.jit(functools.partial(getattr(tf_v1, name), **kw, **_extra_kwargs(name)))
            np.testing.assert_allclose(f(y, p, weights=w), _ours_new(name, y, p, w, red), rtol=1e-6, atol=1e-7)
        # 16-bit predictions: computed and returned in float32.
        got = _ours_new(name, y, p.astype(np.float16), w, R.MEAN)
        assert got.dtype == jnp.float32, name
        want = _ours_new(name, y, p.astype(np.float16).astype(np.float32), w, R.MEAN)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)
    # Integer labels and predictions are cast to float32, as TF does.
    yi, pi = np.array([[1, 2], [3, 4]], np.int32), np.array([[1, 3], [5, 4]], np.int32)
    for name in ("mean_squared_error", "absolute_difference", "huber_loss", "hinge_loss"):
        want = _tf_run(lambda y, p, name=name: getattr(L1, name)(y, p), yi, pi)
        got = getattr(tf_v1, name)(yi, pi)
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=RTOL, err_msg=name)


def _new_error_cases(name):
    y, p = _new_inputs(name, np.random.default_rng(17))
    loss_shape = _new_loss_shape(name)
    cases = [
        ("labels_none", None, p, {}),
        ("predictions_none", y, None, {}),
        ("weights_none", y, p, {"weights": None}),
        ("weights_rank", y, p, {"weights": np.ones((*loss_shape, 2), np.float32)}),
        ("weights_dim", y, p, {"weights": np.ones((2,) + loss_shape[1:], np.float32)}),
    ]
    if name == "sparse_softmax_cross_entropy":
        cases += [
            ("batch_mismatch", y[:3], p, {}),
            ("label_rank", y[:, None, None], p, {}),
            ("logits_rank", y, p[0], {}),
        ]
    else:
        cases += [("shape_mismatch", y[:, :2], p, {}), ("rank_mismatch", y[:, :1, None], p, {})]
    if name != "mean_pairwise_squared_error":
        cases.append(("bad_reduction", y, p, {"reduction": "sum"}))
    if name == "cosine_distance":
        cases += [("axis_none", y, p, {"axis": None}), ("axis_and_dim", y, p, {"dim": 1})]
    return cases


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_new_losses_value_errors_like_tf(name):
    for case, y, p, kw in _new_error_cases(name):  # noqa: B007 (named for tracebacks)
        kw = _extra_kwargs(name) | kw
        with pytest.raises(ValueError):
            with tf.Graph().as_default():
                const = lambda a: None if a is None else tf.constant(a)
                getattr(L1, name)(const(y), const(p), **kw)
        with pytest.raises(ValueError):
            getattr(tf_v1, name)(y, p, **kw)
        with pytest.raises(ValueError):
            jax.jit(lambda kw=kw, y=y, p=p: getattr(tf_v1, name)(y, p, **kw))()


@pytest.mark.parametrize(
    "dtype, num_classes, values",
    [
        (np.int8, 200, [0, 127, 5, 100]),  # int8 labels index more than 127 classes
        (np.uint8, 300, [255, 156, 0, 200]),  # uint8 labels above 127
        (np.int16, 40000, [32767, 129, 20000, 0]),
    ],
)
def test_sparse_softmax_integer_label_dtypes(dtype, num_classes, values):
    # TF takes int32/int64 labels only; the twin takes any integer dtype and
    # gives the values of int32 labels, and TF's on the same values.
    rng = np.random.default_rng(19)
    logits = (2.0 * rng.standard_normal((len(values), num_classes))).astype(np.float32)
    narrow = np.array(values, dtype)
    wide = narrow.astype(np.int32)
    assert np.array_equal(wide, values)
    w = np.array([1.0, 0.0, 2.0, 0.5], np.float32)

    def build(y, x, w):
        return {red: L1.sparse_softmax_cross_entropy(y, x, w, reduction=red) for red in REDUCTIONS}

    want = _tf_run(build, wide, logits, w)
    for red, v in want.items():
        got = tf_v1.sparse_softmax_cross_entropy(narrow, logits, w, reduction=red)
        np.testing.assert_array_equal(got, tf_v1.sparse_softmax_cross_entropy(wide, logits, w, reduction=red))
        np.testing.assert_allclose(got, v, rtol=RTOL, atol=SOFTMAX_ATOL, err_msg=red)
    grad = jax.jit(jax.grad(lambda x, y: tf_v1.sparse_softmax_cross_entropy(y, x, w)))
    np.testing.assert_array_equal(grad(logits, narrow), grad(logits, wide))


def test_sparse_softmax_label_errors():
    logits = np.zeros((B, C), np.float32)
    labels = np.array([0, 1, 2, 0], np.int32)
    # Float labels: TypeError in both.
    with pytest.raises(TypeError):
        with tf.Graph().as_default():
            L1.sparse_softmax_cross_entropy(tf.constant(labels.astype(np.float32)), tf.constant(logits))
    with pytest.raises(TypeError):
        tf_v1.sparse_softmax_cross_entropy(labels.astype(np.float32), logits)
    # [B, 2] weights for [B] labels: TF tries to squeeze the last dim.
    w = np.ones((B, 2), np.float32)
    with pytest.raises(ValueError):
        with tf.Graph().as_default():
            L1.sparse_softmax_cross_entropy(tf.constant(labels), tf.constant(logits), tf.constant(w))
    with pytest.raises(ValueError, match="squeeze"):
        tf_v1.sparse_softmax_cross_entropy(labels, logits, w)
    # A label out of range: TF raises when the graph runs; ours gives nan.
    bad = np.array([0, 1, 3, 0], np.int32)
    got = tf_v1.sparse_softmax_cross_entropy(bad, logits, reduction=R.NONE)
    assert np.isnan(got[2]) and np.all(np.isfinite(np.delete(np.asarray(got), 2)))


def test_huber_delta_and_log_loss_epsilon_options():
    rng = np.random.default_rng(18)
    y, p = _new_inputs("huber_loss", rng)
    deltas = (0.1, 1.0, 5.0)
    want = _tf_run(lambda y, p: [L1.huber_loss(y, p, delta=d, reduction=R.SUM) for d in deltas], y, p)
    for d, v in zip(deltas, want, strict=True):
        np.testing.assert_allclose(tf_v1.huber_loss(y, p, delta=d, reduction=R.SUM), v, rtol=RTOL)
    with pytest.raises(ValueError, match="delta"):  # TF accepts delta <= 0
        tf_v1.huber_loss(y, p, delta=0.0)
    y, p = _new_inputs("log_loss", rng)
    eps = (0.0, 1e-3, 0.1)
    want = _tf_run(lambda y, p: [L1.log_loss(y, p, epsilon=e, reduction=R.SUM) for e in eps], y, p)
    for e, v in zip(eps, want, strict=True):
        np.testing.assert_allclose(tf_v1.log_loss(y, p, epsilon=e, reduction=R.SUM), v, rtol=RTOL)
