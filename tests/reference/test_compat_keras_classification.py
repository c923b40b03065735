"""``jaxloss.compat.keras`` against real Keras 3 (JAX backend, set by conftest).

Values agree to rtol 1e-6 in float32 (1e-5 where Keras's own rounding is
larger, said where it applies); errors are raised where Keras raises; the
gradients differ from Keras's on purpose where Keras's clip makes them 0.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import keras  # noqa: E402  (a missing reference library fails, never skips)
import numpy as np
import pytest
from jax.experimental import checkify

from jaxloss.compat import keras as jk  # noqa: E402

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
RTOL = 1e-6


def _close(ours, theirs, rtol=RTOL, atol=0.0):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def _keras_or_error(fn, *args, **kwargs):
    """Keras's result, or the exception it raised."""
    try:
        return fn(*args, **kwargs), None
    except (ValueError, TypeError) as err:  # jnp broadcasting errors are TypeErrors
        return None, err


# --------------------------------------------------------------------------
# data (fixed seed, float32)
# --------------------------------------------------------------------------

_RNG = np.random.default_rng(0)
B, K = 4, 5
PROBS = _RNG.uniform(0.01, 1.0, (B, K)).astype(np.float32)
LOGITS = (3 * _RNG.normal(size=(B, K))).astype(np.float32)
BINARY = (_RNG.random((B, K)) > 0.5).astype(np.float32)
LABELS = np.array([0, 3, 1, 4])
ONE_HOT = np.eye(K, dtype=np.float32)[LABELS]
DIST = _RNG.random((B, K))
DIST = (DIST / DIST.sum(-1, keepdims=True)).astype(np.float32)
COUNTS = _RNG.integers(0, 4, (B, K)).astype(np.float32)

# name -> (class name, constructor kwargs, y_true, y_pred)
CONFIGS = {
    "bce": ("BinaryCrossentropy", {}, BINARY, PROBS),
    "bce_logits_smooth": (
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.1},
        BINARY,
        LOGITS,
    ),
    "cce_smooth": ("CategoricalCrossentropy", {"label_smoothing": 0.1}, ONE_HOT, PROBS),
    "cce_logits": ("CategoricalCrossentropy", {"from_logits": True}, ONE_HOT, LOGITS),
    "scce": ("SparseCategoricalCrossentropy", {}, LABELS, PROBS),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, LABELS, LOGITS),
    "scce_ignore": ("SparseCategoricalCrossentropy", {"ignore_class": 3}, LABELS, PROBS),
    "scce_logits_ignore": (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": 1},
        LABELS,
        LOGITS,
    ),
    "poisson": ("Poisson", {}, COUNTS, PROBS * 3),
    "kld": ("KLDivergence", {}, DIST, PROBS),
}

# Sample weights for a per-sample loss of shape (B,); Keras multiplies with
# numpy broadcasting after fixing a rank off by one with a trailing 1.
WEIGHTS_RANK1 = {
    "none": None,
    "scalar": 2.5,
    "per_sample": _RNG.uniform(0.0, 2.0, B).astype(np.float32),
    "zeros": np.zeros(B, np.float32),
    "some_zero": np.array([0.0, 1.5, 0.0, 0.5], np.float32),
    "trailing_1": _RNG.uniform(0.0, 2.0, (B, 1)).astype(np.float32),
    "higher_rank": _RNG.uniform(0.0, 2.0, (3, B)).astype(np.float32),
}


def _tol(config):
    if config == "kld":
        # Keras sums t * log(t / p), the core t * (log t - log p); the row sum
        # cancels terms of both signs, so both are ~1e-6 (relative to the
        # terms) away from the exact value and only agree to that.
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": RTOL}


# Every class and option under every reduction with and without weights; the
# full set of weight shapes for the configurations whose weights meet a mask.
FULL_WEIGHTS = ("bce_logits_smooth", "scce_ignore", "scce_logits_ignore")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_class_matches_keras(config, reduction):
    name, kwargs, y_true, y_pred = CONFIGS[config]
    k_loss = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    j_loss = getattr(jk, name)(reduction=reduction, **kwargs)
    weights = list(WEIGHTS_RANK1) if config in FULL_WEIGHTS else ["none", "per_sample", "some_zero"]
    for key in weights:
        sw = WEIGHTS_RANK1[key]
        _close(j_loss(y_true, y_pred, sample_weight=sw), k_loss(y_true, y_pred, sample_weight=sw), **_tol(config))


# Per-sample losses of shape (2, 3) (from inputs (2, 3, 5)): weights of lower,
# equal and higher rank, and the shapes Keras refuses.
X3_LOGITS = (2 * _RNG.normal(size=(2, 3, K))).astype(np.float32)
X3_BINARY = (_RNG.random((2, 3, K)) > 0.5).astype(np.float32)
X3_LABELS = np.array([[0, 255, 2], [255, 4, 1]])
WEIGHTS_RANK2 = {
    "scalar_array": np.float32(0.5),
    "last_axis": np.array([1.0, 0.0, 2.0], np.float32),
    "full": _RNG.uniform(0, 2, (2, 3)).astype(np.float32),
    "trailing_1": _RNG.uniform(0, 2, (2, 3, 1)).astype(np.float32),
    "row": _RNG.uniform(0, 2, (1, 3)).astype(np.float32),
    "column": _RNG.uniform(0, 2, (2, 1)).astype(np.float32),
    "higher_rank": _RNG.uniform(0, 2, (4, 2, 3)).astype(np.float32),
    "bad_per_sample": np.ones(2, np.float32),  # aligned on the last axis: 2 vs 3
    "bad_size": np.ones(5, np.float32),
}


@pytest.mark.parametrize("weights", list(WEIGHTS_RANK2))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, kwargs, y_true, y_pred",
    [
        ("BinaryCrossentropy", {"from_logits": True}, X3_BINARY, X3_LOGITS),
        # ignore_class puts a mask on the losses, which Keras merges into the
        # weights (scaled by total/valid for the mean reductions).
        ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 255}, X3_LABELS, X3_LOGITS),
    ],
    ids=["bce", "scce_logits_ignore"],
)
def test_weight_shapes_match_keras(name, kwargs, y_true, y_pred, reduction, weights):
    sw = WEIGHTS_RANK2[weights]
    k_loss = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    theirs, err = _keras_or_error(k_loss, y_true, y_pred, sample_weight=sw)
    j_loss = getattr(jk, name)(reduction=reduction, **kwargs)
    if err is not None:
        with pytest.raises(ValueError, match="broadcast"):
            j_loss(y_true, y_pred, sample_weight=sw)
        return
    assert not weights.startswith("bad")
    _close(j_loss(y_true, y_pred, sample_weight=sw), theirs)


def test_ignore_class_every_sample_ignored():
    # valid == 0: Keras divides with divide_no_nan and returns 0.
    y_pred = jax.nn.softmax(LOGITS)
    for reduction in REDUCTIONS:
        for sw in (None, WEIGHTS_RANK1["per_sample"]):
            theirs = keras.losses.SparseCategoricalCrossentropy(ignore_class=7, reduction=reduction)(
                np.full(B, 7), y_pred, sample_weight=sw
            )
            ours = jk.SparseCategoricalCrossentropy(ignore_class=7, reduction=reduction)(
                np.full(B, 7), y_pred, sample_weight=sw
            )
            _close(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_scalar_and_empty_losses_are_not_reduced(reduction):
    # Keras returns a scalar (or shape-(0,)) weighted loss as it is, whatever
    # the reduction: "mean_with_sample_weight" does not divide by the weight.
    y_true, y_pred = [0.0, 1.0, 0.0, 0.0], [0.6, 0.3, 0.2, 0.8]
    for sw in (None, 3.0, [3.0]):
        theirs = keras.losses.BinaryCrossentropy(reduction=reduction)(y_true, y_pred, sample_weight=sw)
        ours = jk.BinaryCrossentropy(reduction=reduction)(y_true, y_pred, sample_weight=sw)
        _close(ours, theirs)
    empty = np.zeros((0, 2), np.float32)
    theirs = keras.losses.BinaryCrossentropy(reduction=reduction)(empty, empty)
    _close(jk.BinaryCrossentropy(reduction=reduction)(empty, empty), theirs)


# --------------------------------------------------------------------------
# functions: from_logits, label_smoothing, axis; random and edge inputs
# --------------------------------------------------------------------------

X3_PROBS = _RNG.uniform(0.0, 1.0, (3, 4, K)).astype(np.float32)
X3_PROBS[0, 0, :] = [0.0, 1.0, 0.0, 0.0, 0.0]
X3_PROBS[1, 2, 1] = 1.0
X3_PROBS[2, 3, 4] = 0.0
X3_TARGETS = (_RNG.random((3, 4, K)) > 0.5).astype(np.float32)
X3_SOFT = _RNG.random((3, 4, K)).astype(np.float32)
# Logits of scale 3: confident rows, where a cancelling log-softmax would
# lose precision (see test_confident_logits_precision).
X3_LOG = (3.0 * _RNG.normal(size=(3, 4, K))).astype(np.float32)
X3_LOG[0, 0, :] = [1e30, -1e30, 0.0, 2.0, -1e30]
X3_LOG[1, 1, :] = [-1e30, -1e30, 1.0, -1e30, 1e30]

# Edge inputs: probabilities exactly 0 and 1, logits of +-1e30 (one per row
# at +1e30: see test_large_logit_ties for two).
P_EDGE = np.array([[0.0, 1.0, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0]], np.float32)
T_EDGE = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], np.float32)
L_EDGE = np.array([[1e30, -1e30, 0.0, 3.0], [-1e30, -1e30, 1e30, -5.0], [2.0, 1e30, -2.0, -1e30]], np.float32)
LABELS_EDGE = np.array([0, 1, 3])
ONE_HOT_EDGE = np.eye(4, dtype=np.float32)[LABELS_EDGE]


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy(from_logits, label_smoothing, axis):
    y_pred = X3_LOG if from_logits else X3_PROBS
    kw = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
    for y_true in (X3_TARGETS, X3_SOFT):
        _close(
            jk.binary_crossentropy(y_true, y_pred, **kw),
            keras.losses.binary_crossentropy(y_true, y_pred, **kw),
        )


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy(from_logits, label_smoothing, axis):
    # With axis 0 or 1 Keras still smooths with the size of the last axis (5).
    y_pred = X3_LOG if from_logits else X3_PROBS
    kw = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
    n = y_pred.shape[axis]
    index = _RNG.integers(0, n, np.delete(y_pred.shape, axis))
    one_hot = np.moveaxis(np.eye(n, dtype=np.float32)[index], -1, axis)
    for y_true in (X3_SOFT, one_hot):
        theirs = keras.losses.categorical_crossentropy(y_true, y_pred, **kw)
        _close(jk.categorical_crossentropy(y_true, y_pred, **kw), theirs)


@pytest.mark.parametrize("ignore_class", [None, 2])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(from_logits, ignore_class):
    y_pred = X3_LOG if from_logits else X3_PROBS
    labels = _RNG.integers(0, K, (3, 4))
    for y_true in (labels, labels[..., None], labels.astype(np.float32)):
        kw = {"from_logits": from_logits, "ignore_class": ignore_class}
        theirs = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, **kw)
        _close(jk.sparse_categorical_crossentropy(y_true, y_pred, **kw), theirs)


# Integer labels of any dtype give the values of int32 labels (and Keras's):
# name -> (label dtype, number of classes, label values, ignore classes to try)
LABEL_DTYPES = {
    # int8 labels index more than 127 classes
    "int8_200": (np.int8, 200, [0, 5, 127, 100, 3, 126], [None, 5, 127, -1, 200]),
    # 156 is -100 modulo 256: an ignore_class of -100 must not match it
    "uint8_300": (np.uint8, 300, [0, 255, 156, 17, 255, 200], [None, 255, -100, 156, 300]),
    "int16_40000": (np.int16, 40000, [0, 32767, 129, 20000, 40, 32767], [None, 32767, 129, -1, 40000]),
}


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("case", list(LABEL_DTYPES))
def test_sparse_integer_label_dtypes(case, from_logits):
    dtype, num_classes, values, ignores = LABEL_DTYPES[case]
    rng = np.random.default_rng(7)
    logits = (2.0 * rng.normal(size=(len(values), num_classes))).astype(np.float32)
    y_pred = logits if from_logits else np.asarray(jax.nn.softmax(logits, -1))
    narrow = np.array(values, dtype)
    wide = narrow.astype(np.int32)
    assert np.array_equal(wide, values)  # the values fit the narrow dtype
    for ignore_class in ignores:
        kw = {"from_logits": from_logits, "ignore_class": ignore_class}
        ours = jk.sparse_categorical_crossentropy(narrow, y_pred, **kw)
        np.testing.assert_array_equal(ours, jk.sparse_categorical_crossentropy(wide, y_pred, **kw))
        assert np.all(np.isfinite(ours)), (case, ignore_class)
        ignored = np.array(values) == ignore_class
        assert np.all((np.asarray(ours) == 0) >= ignored)  # ignored examples give 0 ...
        assert np.all(np.asarray(ours)[~ignored] > 0)  # ... and only they
        _close(ours, keras.losses.sparse_categorical_crossentropy(narrow, y_pred, **kw), rtol=1e-5)
        _close(ours, keras.losses.sparse_categorical_crossentropy(wide, y_pred, **kw), rtol=1e-5)
        # the class (it casts y_true to float32 first, as Keras) and its mask
        for reduction in ("sum_over_batch_size", "mean_with_sample_weight", None):
            loss = jk.SparseCategoricalCrossentropy(reduction=reduction, **kw)
            theirs = keras.losses.SparseCategoricalCrossentropy(reduction=reduction, **kw)
            _close(loss(narrow, y_pred), loss(wide, y_pred), rtol=0)
            _close(loss(narrow, y_pred), theirs(narrow, y_pred), rtol=1e-5)
        # under jit, and the gradient: the same as with int32 labels
        grad = jax.jit(jax.grad(lambda z, y, kw=kw: jnp.sum(jk.sparse_categorical_crossentropy(y, z, **kw))))
        np.testing.assert_array_equal(grad(y_pred, narrow), grad(y_pred, wide))


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_label_dtype_out_of_range_and_non_integer_ignore(from_logits):
    # int8 -1 is out of range (nan) also with 200 classes; an ignore_class
    # that is no integer, or outside the label dtype's range, ignores nothing.
    logits = (2.0 * _RNG.normal(size=(3, 200))).astype(np.float32)
    y_pred = logits if from_logits else np.asarray(jax.nn.softmax(logits, -1))
    labels = np.array([-1, 150 - 256, 3], np.int8)  # -106: not 150
    ours = np.asarray(jk.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits))
    assert np.isnan(ours[0]) and np.isnan(ours[1]) and np.isfinite(ours[2])
    for ignore_class in (2.5, 3.0, 2**40):
        kw = {"from_logits": from_logits, "ignore_class": ignore_class}
        got = np.asarray(jk.sparse_categorical_crossentropy(labels[2:], y_pred[2:], **kw))
        theirs = keras.losses.sparse_categorical_crossentropy(labels[2:], y_pred[2:], **kw)
        _close(got, theirs, rtol=1e-5)
        assert (got[0] == 0) == (ignore_class == 3.0)


def test_generalized_cross_entropy_and_circle_label_dtypes():
    probs = _RNG.uniform(0.01, 1.0, (4, 300)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    for dtype, values in ((np.int8, [0, 127, 64, 3]), (np.uint8, [255, 156, 0, 200]), (np.int16, [299, 1, 0, 130])):
        narrow = np.array(values, dtype)
        ours = jk.categorical_generalized_cross_entropy(narrow, probs, q=0.4)
        wide = jk.categorical_generalized_cross_entropy(narrow.astype(np.int32), probs, q=0.4)
        np.testing.assert_array_equal(ours, wide)
        _close(ours, keras.losses.categorical_generalized_cross_entropy(narrow, probs, q=0.4), rtol=1e-5)
        emb = _RNG.normal(size=(4, 3)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
        labels = np.array([values[0], values[0], values[1], values[2]], dtype)
        ours = jk.circle(labels, emb, gamma=2.0)
        np.testing.assert_array_equal(ours, jk.circle(labels.astype(np.int32), emb, gamma=2.0))
        _close(ours, keras.losses.circle(labels, emb, gamma=2.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_axis(from_logits):
    # Keras checks labels against y_pred.shape[:-1] and one-hots along `axis`:
    # it works only where the trailing sizes are equal, and raises otherwise.
    y_pred = _RNG.uniform(0.1, 1.0, (2, 3, 3)).astype(np.float32)
    labels = _RNG.integers(0, 3, (2, 3))
    kw = {"from_logits": from_logits, "axis": 1}
    theirs = keras.losses.sparse_categorical_crossentropy(labels, y_pred, **kw)
    _close(jk.sparse_categorical_crossentropy(labels, y_pred, **kw), theirs)
    bad = _RNG.uniform(0.1, 1.0, (2, 3, 4)).astype(np.float32)
    _, err = _keras_or_error(keras.losses.sparse_categorical_crossentropy, labels, bad, **kw)
    assert err is not None
    with pytest.raises(ValueError):
        jk.sparse_categorical_crossentropy(labels, bad, **kw)


def test_poisson_and_kl_divergence():
    y_pred = X3_PROBS * 4
    counts = _RNG.integers(0, 5, X3_PROBS.shape).astype(np.float32)
    _close(jk.poisson(counts, y_pred), keras.losses.poisson(counts, y_pred))
    _close(jk.poisson(counts[0], y_pred), keras.losses.poisson(counts[0], y_pred))  # broadcasts
    dist = X3_SOFT / X3_SOFT.sum(-1, keepdims=True)
    # 1e-5: see _tol (Keras's log(t / p) against the core's log t - log p).
    _close(jk.kl_divergence(dist, X3_PROBS), keras.losses.kl_divergence(dist, X3_PROBS), rtol=1e-5, atol=1e-6)
    _close(jk.kl_divergence(X3_PROBS, dist), keras.losses.kl_divergence(X3_PROBS, dist), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "fn, args, kwargs",
    [
        ("binary_crossentropy", (T_EDGE, P_EDGE), {}),
        ("binary_crossentropy", (T_EDGE, L_EDGE), {"from_logits": True}),
        ("binary_crossentropy", (T_EDGE, L_EDGE), {"from_logits": True, "label_smoothing": 0.1}),
        ("categorical_crossentropy", (ONE_HOT_EDGE, P_EDGE), {}),
        ("categorical_crossentropy", (ONE_HOT_EDGE, P_EDGE), {"label_smoothing": 0.2}),
        ("categorical_crossentropy", (ONE_HOT_EDGE, L_EDGE), {"from_logits": True}),
        ("categorical_crossentropy", (ONE_HOT_EDGE, L_EDGE), {"from_logits": True, "label_smoothing": 0.1}),
        ("sparse_categorical_crossentropy", (LABELS_EDGE, P_EDGE), {}),
        ("sparse_categorical_crossentropy", (LABELS_EDGE, L_EDGE), {"from_logits": True}),
        ("poisson", (T_EDGE, P_EDGE), {}),
        ("kl_divergence", (T_EDGE, P_EDGE), {}),
        ("kl_divergence", (P_EDGE, T_EDGE), {}),
    ],
)
def test_edge_inputs_match_keras(fn, args, kwargs):
    theirs = getattr(keras.losses, fn)(*args, **kwargs)
    ours = getattr(jk, fn)(*args, **kwargs)
    assert np.all(np.isfinite(ours))
    _close(ours, theirs)


@pytest.mark.parametrize("fn", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_confident_logits_precision(fn):
    logits = np.array([[8.0, 3.0, 1.0, 0.5], [1e30, 1e30, -1e30, 0.0], [1000.0, 1000.0, -3.0, 0.0]], np.float32)
    labels = np.array([0, 1, 0])
    y_true = np.eye(4, dtype=np.float32)[labels] if fn == "categorical_crossentropy" else labels
    theirs = getattr(keras.losses, fn)(y_true, logits, from_logits=True)  # [0.0081694, log 2, log 2]
    _close(getattr(jk, fn)(y_true, logits, from_logits=True), theirs)


# --------------------------------------------------------------------------
# the examples printed in the Keras documentation (reference/keras-losses.txt)
# --------------------------------------------------------------------------


def _printed(value, expected):
    """Equal to the printed precision: ``expected`` as printed, e.g. "1.730".

    The rule of doctest's NUMBER option, which Keras's docs rely on: within
    one unit of the last printed decimal (0.2436 prints as 0.243 there).
    """
    expected = [expected] if isinstance(expected, str) else expected
    values = np.ravel(np.asarray(value))
    assert values.size == len(expected)
    for v, e in zip(values, expected, strict=True):
        decimals = len(e.split(".")[1])
        assert abs(float(v) - float(e)) <= 10.0**-decimals, (float(v), e)


def test_doc_binary_crossentropy_class():
    bce = jk.BinaryCrossentropy(from_logits=True)
    _printed(bce([0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]), "0.865")
    y_true, y_pred = [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
    _printed(bce(y_true, y_pred), "0.865")
    _printed(bce(y_true, y_pred, sample_weight=[0.8, 0.2]), "0.243")
    _printed(jk.BinaryCrossentropy(from_logits=True, reduction="sum")(y_true, y_pred), "1.730")
    out = jk.BinaryCrossentropy(from_logits=True, reduction=None)(y_true, y_pred)
    assert out.dtype == jnp.float32
    _printed(out, ["0.235", "1.496"])
    # "Default usage": the same with probabilities (no number printed; Keras's).
    for y_true, y_pred in (
        ([0, 1, 0, 0], [0.6, 0.3, 0.2, 0.8]),
        ([[0, 1], [0, 0]], [[0.6, 0.3], [0.2, 0.8]]),
    ):
        _close(jk.BinaryCrossentropy()(y_true, y_pred), keras.losses.BinaryCrossentropy()(y_true, y_pred))


@pytest.mark.parametrize("sparse", [False, True])
def test_doc_categorical_classes(sparse):
    y_true = [1, 2] if sparse else [[0, 1, 0], [0, 0, 1]]
    y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cls = jk.SparseCategoricalCrossentropy if sparse else jk.CategoricalCrossentropy
    _printed(cls()(y_true, y_pred), "1.177")
    _printed(cls()(y_true, y_pred, sample_weight=np.array([0.3, 0.7])), "0.814")
    _printed(cls(reduction="sum")(y_true, y_pred), "2.354")
    _printed(cls(reduction=None)(y_true, y_pred), ["0.0513", "2.303"])


def test_doc_functions():
    loss = jk.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    assert loss.shape == (2,)
    _printed(loss, ["0.916", "0.714"])
    loss = jk.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert loss.shape == (2,)
    _printed(loss, ["0.0513", "2.303"])
    loss = jk.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert loss.shape == (2,)
    _printed(loss, ["0.0513", "2.303"])


def test_doc_poisson_and_kl_divergence():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=(2, 3))
    y_pred = rng.random(size=(2, 3))
    loss = jk.poisson(y_true, y_pred)
    assert loss.shape == (2,)
    y_pred = y_pred + 1e-7
    assert np.allclose(loss, np.mean(y_pred - y_true * np.log(y_pred), axis=-1), atol=1e-5)

    y_true = rng.integers(0, 2, size=(2, 3)).astype(np.float32)
    y_pred = rng.random(size=(2, 3))
    loss = jk.kl_divergence(y_true, y_pred)
    assert loss.shape == (2,)
    t = np.clip(y_true, 1e-7, 1).astype(np.float32)
    p = np.clip(y_pred, 1e-7, 1).astype(np.float32)
    # The page asserts np.array_equal with Keras's own float32 t * log(t / p);
    # the core computes t * (log t - log p), which rounds differently, so the
    # equality is to float32 rounding (see _tol).
    np.testing.assert_allclose(loss, np.sum(t * np.log(t / p), axis=-1), rtol=1e-5, atol=1e-6)
    _close(loss, keras.losses.kl_divergence(y_true, y_pred), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# gradients: Keras's clip gives exactly 0, ours the derivative at the clip
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, y_true, y_pred",
    [
        ("binary_crossentropy", [[1.0, 0.0]], [[0.0, 1.0]]),
        ("categorical_crossentropy", [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]),
        ("sparse_categorical_crossentropy", [0], [[0.0, 1.0, 0.0]]),
        ("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]]),
    ],
)
def test_gradient_survives_the_clip(fn, y_true, y_pred):
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)

    def grad(module):
        return jax.grad(lambda p: jnp.sum(getattr(module, fn)(y_true, p)))(y_pred)

    theirs, ours = grad(keras.losses), grad(jk)
    # Keras: the wrong prediction of exactly 0 gets no gradient at all.
    assert float(theirs[0, 0]) == 0.0
    assert np.all(np.isfinite(ours))
    assert float(ours[0, 0]) < 0  # raising the probability of the target lowers the loss
    # and the values are still Keras's
    _close(getattr(jk, fn)(y_true, y_pred), getattr(keras.losses, fn)(y_true, y_pred))


def test_class_gradient_survives_the_clip():
    y_true, y_pred = jnp.array([[0.0, 1.0, 0.0]]), jnp.array([[0.5, 0.0, 0.5]])
    theirs = jax.grad(lambda p: keras.losses.CategoricalCrossentropy()(y_true, p))(y_pred)
    ours = jax.grad(lambda p: jk.CategoricalCrossentropy()(y_true, p))(y_pred)
    assert float(theirs[0, 1]) == 0.0
    assert float(ours[0, 1]) < 0 and np.all(np.isfinite(ours))


# --------------------------------------------------------------------------
# out-of-range labels: Keras gives a silent 0, ours nan (and checkify raises)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("from_logits", [False, True])
def test_out_of_range_label_is_nan(from_logits):
    y_pred = LOGITS if from_logits else PROBS
    labels = np.array([0, K, -1, 2])
    theirs = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits))
    ours = np.asarray(jk.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits))
    assert np.all(theirs[1:3] == 0.0)  # Keras: the bad examples silently give 0
    assert np.all(np.isnan(ours[1:3]))
    _close(ours[[0, 3]], theirs[[0, 3]])
    # the reduced loss is nan too, not an average that hides the bad label
    assert np.isnan(jk.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, y_pred))
    # an ignored class is not out of range
    ours = jk.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits, ignore_class=-1)
    assert np.isnan(ours[1]) and ours[2] == 0.0

    def run(lab):
        return jk.sparse_categorical_crossentropy(lab, y_pred, from_logits=from_logits)

    checked = checkify.checkify(run, errors=checkify.user_checks)
    err, _ = checked(jnp.asarray(labels))
    with pytest.raises(checkify.JaxRuntimeError, match="outside"):
        err.throw()
    err, _ = checked(jnp.asarray(LABELS))
    err.throw()  # in range: no error


# --------------------------------------------------------------------------
# errors where Keras raises
# --------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["auto", "weighted_mean", "SUM"])
def test_bad_reduction(reduction):
    with pytest.raises(ValueError):
        keras.losses.BinaryCrossentropy(reduction=reduction)
    for cls in (
        jk.BinaryCrossentropy,
        jk.CategoricalCrossentropy,
        jk.SparseCategoricalCrossentropy,
        jk.Poisson,
        jk.KLDivergence,
    ):
        with pytest.raises(ValueError, match="reduction"):
            cls(reduction=reduction)


@pytest.mark.parametrize(
    "fn, args, kwargs",
    [
        ("binary_crossentropy", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("binary_crossentropy", (np.zeros((2, 1)), np.zeros((2, 3), np.float32)), {}),
        ("categorical_crossentropy", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("categorical_crossentropy", (np.zeros(3), np.zeros(3, np.float32)), {"axis": True}),
        ("sparse_categorical_crossentropy", (np.zeros(3, int), np.zeros((4, 5), np.float32)), {}),
        ("sparse_categorical_crossentropy", (np.zeros((4, 5), int), np.zeros((4, 5), np.float32)), {}),
        ("poisson", (np.zeros((2, 3)), np.ones((2, 4), np.float32)), {}),
        ("kl_divergence", (np.zeros((2, 3)), np.ones((2, 4), np.float32)), {}),
    ],
)
def test_errors_where_keras_raises(fn, args, kwargs):
    _, err = _keras_or_error(getattr(keras.losses, fn), *args, **kwargs)
    assert err is not None
    with pytest.raises(ValueError):
        getattr(jk, fn)(*args, **kwargs)


def test_class_shape_errors():
    for name, y_true, y_pred in [
        ("BinaryCrossentropy", np.zeros((2, 3)), np.zeros((2, 4))),
        ("CategoricalCrossentropy", np.zeros((2, 3)), np.zeros((2, 4))),
        ("SparseCategoricalCrossentropy", np.zeros((3,)), np.zeros((4, 5))),
    ]:
        _, err = _keras_or_error(getattr(keras.losses, name)(), y_true, y_pred)
        assert err is not None
        with pytest.raises(ValueError):
            getattr(jk, name)()(y_true, y_pred)


# --------------------------------------------------------------------------
# configuration, dtypes, jit
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("BinaryCrossentropy", {}),
        (
            "BinaryCrossentropy",
            {"from_logits": True, "label_smoothing": 0.2, "axis": 0, "reduction": "sum", "name": "b"},
        ),
        ("CategoricalCrossentropy", {}),
        (
            "CategoricalCrossentropy",
            {"from_logits": True, "label_smoothing": 0.1, "axis": 1, "reduction": None},
        ),
        ("SparseCategoricalCrossentropy", {}),
        (
            "SparseCategoricalCrossentropy",
            {"from_logits": True, "ignore_class": 255, "axis": 1, "reduction": "mean_with_sample_weight"},
        ),
        ("Poisson", {}),
        ("Poisson", {"reduction": "none", "name": "p"}),
        ("KLDivergence", {}),
        ("KLDivergence", {"reduction": "mean"}),
    ],
)
def test_get_config(name, kwargs):
    assert_config_like_keras(name, kwargs)


# Constructor arguments (with their defaults) that Keras's get_config leaves
# out, so that a saved Keras model reloads without them; the twins keep them.
KEPT_BEYOND_KERAS = {
    "Huber": {"delta": 1.0},
    "CosineSimilarity": {"axis": -1},
    "SparseCategoricalCrossentropy": {"axis": -1},
}


def assert_config_like_keras(name, kwargs):
    """Keras's get_config (plus what Keras drops), name, reduction and dtype, and a from_config round trip."""
    theirs = getattr(keras.losses, name)(**kwargs)
    ours = getattr(jk, name)(**kwargs)
    kept = {k: kwargs.get(k, default) for k, default in KEPT_BEYOND_KERAS.get(name, {}).items()}
    assert ours.get_config() == {**theirs.get_config(), **kept}
    for key in kept:
        assert key not in theirs.get_config()
    # Keras's class takes the twin's config
    assert getattr(keras.losses, name).from_config(ours.get_config()).get_config() == theirs.get_config()
    assert ours.name == theirs.name and ours.reduction == theirs.reduction and ours.dtype == theirs.dtype
    again = getattr(jk, name).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


def test_name_none_and_dtype_policy():
    assert jk.SparseCategoricalCrossentropy(name=None).name == "sparse_categorical_crossentropy"
    assert jk.KLDivergence(name=None).name == "kl_divergence"
    assert jk.Poisson(dtype="mixed_bfloat16").dtype == "bfloat16"
    assert jk.Poisson(dtype=keras.DTypePolicy("float16")).dtype == "float16"


def test_categorical_single_class_warns():
    y = np.ones((3, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.losses.categorical_crossentropy(y, y)
    with pytest.warns(SyntaxWarning):
        ours = jk.categorical_crossentropy(y, y)
    _close(ours, theirs)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_inputs(dtype):
    # Classes cast to their dtype (float32) first, like Keras: same values.
    y_true, y_pred = jnp.asarray(ONE_HOT, dtype), jnp.asarray(PROBS, dtype)
    theirs = keras.losses.CategoricalCrossentropy()(y_true, y_pred)
    _close(jk.CategoricalCrossentropy()(y_true, y_pred), theirs)
    # Functions compute 16-bit inputs in float32 (Keras stays in 16 bits).
    out = jk.categorical_crossentropy(y_true, y_pred)
    assert out.dtype == jnp.float32
    ref = jk.categorical_crossentropy(ONE_HOT, np.asarray(y_pred, np.float32))
    _close(out, ref)


def test_jit_and_vmap():
    loss = jk.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)
    sw = WEIGHTS_RANK1["per_sample"]
    eager = loss(LABELS, LOGITS, sample_weight=sw)
    jitted = jax.jit(loss)(LABELS, LOGITS, sw)
    _close(jitted, eager)
    _close(
        jitted,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(LABELS, LOGITS, sample_weight=sw),
    )
    per_row = jax.vmap(lambda t, p: jk.binary_crossentropy(t, p))(BINARY, PROBS)
    _close(per_row, jk.binary_crossentropy(BINARY, PROBS))
    g = jax.jit(jax.grad(lambda p: jk.BinaryCrossentropy()(BINARY, p)))(PROBS)
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------
# where Keras gives nan and the twin a number (documented in the module)
# --------------------------------------------------------------------------


def test_documented_improvements():
    with np.errstate(all="ignore"):
        # a zero weight drops an infinite loss (Keras: 0 * inf = nan)
        y_true, y_pred = np.array([[0.0], [1.0]]), np.array([[np.inf], [2.0]], np.float32)
        sw = np.array([0.0, 1.0], np.float32)
        theirs = keras.losses.BinaryCrossentropy(from_logits=True)(y_true, y_pred, sample_weight=sw)
        ours = jk.BinaryCrossentropy(from_logits=True)(y_true, y_pred, sample_weight=sw)
        assert np.isnan(theirs)
        _close(ours, keras.losses.BinaryCrossentropy(from_logits=True)(y_true[1:], y_pred[1:]) / 2)
        # a row of zero probabilities (Keras: 0 / 0)
        theirs = keras.losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, 0.0]])
        ours = jk.categorical_crossentropy([[1.0, 0.0]], [[0.0, 0.0]])
        assert np.isnan(theirs[0])
        np.testing.assert_allclose(ours, [-np.log(np.float32(1e-7))], rtol=RTOL)
        # a -inf logit on a class with no label mass (Keras: 0 * -inf)
        theirs = keras.losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, -np.inf]], from_logits=True)
        ours = jk.categorical_crossentropy([[1.0, 0.0]], [[0.0, -np.inf]], from_logits=True)
        assert np.isnan(theirs[0]) and float(ours[0]) == 0.0
