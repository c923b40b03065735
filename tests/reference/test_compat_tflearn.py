"""``jaxloss.compat.tflearn`` against tflearn 0.5.0's own ``objectives.py``.

The ``tflearn`` fixture executes the released ``objectives.py`` on
``tf.compat.v1``; every twin is compared with it on random and edge inputs,
in a TF1 graph (the ``tf1`` fixture), for values and gradients. Where
tflearn's gradient is 0 or its value ``nan`` (its clip, its
``log(softmax)``), ours must be finite and useful.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402  (a missing reference library fails, never skips)

from jaxloss.compat import tflearn as ours
from tests.helpers import EXTREME_LOGITS, assert_all_finite

RTOL = 1e-6
B, K = 8, 5


def _rng(seed):
    return np.random.default_rng(seed)


def _tf_value_and_grads(tflearn, name, y_pred, y_true, **kw):
    """tflearn's value and its gradients in ``y_pred`` and ``y_true`` (0 where TF has none)."""
    fn = getattr(tflearn, name)

    def build(p, t):
        out = fn(p, t, **kw)
        gp, gt = tf.gradients(out, [p, t])
        return out, (tf.zeros_like(p) if gp is None else gp), (tf.zeros_like(t) if gt is None else gt)

    with tf.Graph().as_default():
        p, t = tf.constant(y_pred), tf.constant(y_true)
        with tf.compat.v1.Session() as sess:
            return sess.run(build(p, t))


def _ours_value_and_grads(name, y_pred, y_true, **kw):
    # One jit per case: compiling the whole value-and-gradient once is several
    # times cheaper than the op-by-op compiles of eager differentiation.
    fn = lambda p, t: getattr(ours, name)(p, t, **kw)
    if jnp.issubdtype(jnp.asarray(y_true).dtype, jnp.floating):
        value, (gp, gt) = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(y_pred, y_true)
    else:
        value, gp = jax.jit(jax.value_and_grad(fn))(y_pred, y_true)
        gt = np.zeros_like(y_true)
    return value, gp, gt


def _one_hot(rng, shape, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, shape)]


def _cases():
    """(function, y_pred, y_true, kwargs, id): random and edge inputs."""
    r = _rng(0)
    logits = (2.0 * r.standard_normal((B, K))).astype(np.float32)
    one_hot = _one_hot(r, (B,), K)
    soft = r.dirichlet(np.ones(K), B).astype(np.float32)
    probs = r.dirichlet(np.ones(K), B).astype(np.float32)
    unnormalised = r.uniform(0.1, 3.0, (B, K)).astype(np.float32)
    extreme = np.tile(EXTREME_LOGITS[:, None], (1, 3)).astype(np.float32)
    bits = (r.uniform(size=(B, K)) > 0.5).astype(np.float32)
    bits_extreme = (r.uniform(size=extreme.shape) > 0.5).astype(np.float32)
    signs = 2.0 * bits - 1.0
    scores = r.standard_normal(16).astype(np.float32)
    labels16 = (r.uniform(size=16) > 0.6).astype(np.float32)
    seg_logits = (2.0 * r.standard_normal((2, 4, 4, 3))).astype(np.float32)
    seg_labels = np.eye(3, dtype=np.int32)[r.integers(0, 3, (2, 4, 4))]
    dist = r.uniform(0.0, 2.0, 12).astype(np.float32)
    same = (r.uniform(size=12) > 0.5).astype(np.float32)
    return [
        ("softmax_categorical_crossentropy", logits, one_hot, {}, "one_hot"),
        ("softmax_categorical_crossentropy", logits, soft, {}, "soft"),
        ("softmax_categorical_crossentropy", logits.reshape(2, 4, K), soft.reshape(2, 4, K), {}, "rank3"),
        ("softmax_categorical_crossentropy", (logits * 1e3).astype(np.float32), one_hot, {}, "large"),
        ("categorical_crossentropy", probs, one_hot, {}, "probs"),
        ("categorical_crossentropy", unnormalised, soft, {}, "unnormalised"),
        ("binary_crossentropy", logits, bits, {}, "bits"),
        ("binary_crossentropy", logits, soft, {}, "soft"),
        ("binary_crossentropy", extreme, bits_extreme, {}, "extreme"),
        ("weighted_crossentropy", logits, bits, {}, "default"),
        ("weighted_crossentropy", logits, soft, {"weight": 3.0}, "w3"),
        ("weighted_crossentropy", logits, bits, {"weight": np.float32(0.25)}, "w025"),
        ("weighted_crossentropy", logits, bits, {"weight": r.uniform(0, 2, K).astype(np.float32)}, "wvec"),
        # Without the row of exact zeros: see test_weighted_crossentropy_gradient_at_zero.
        (
            "weighted_crossentropy",
            extreme[EXTREME_LOGITS != 0],
            bits_extreme[EXTREME_LOGITS != 0],
            {"weight": 2.0},
            "extreme",
        ),
        ("mean_square", logits, soft, {}, "same_shape"),
        ("mean_square", logits, soft[0], {}, "broadcast"),
        ("hinge_loss", logits, signs, {}, "signs"),
        ("hinge_loss", logits, bits, {}, "bits_unconverted"),
        ("hinge_loss", logits, soft, {}, "soft"),
        ("roc_auc_score", scores, labels16, {}, "flat"),
        ("roc_auc_score", scores.reshape(16, 1), labels16.reshape(16, 1), {}, "column"),
        ("roc_auc_score", probs, one_hot, {}, "one_hot_matrix"),
        ("roc_auc_score", scores * 0.05, labels16, {}, "close_scores"),
        ("weak_cross_entropy_2d", seg_logits, seg_labels, {}, "default"),
        ("weak_cross_entropy_2d", seg_logits, seg_labels.astype(np.float32), {"epsilon": 0.5}, "eps"),
        (
            "weak_cross_entropy_2d",
            seg_logits,
            seg_labels,
            {"head": np.array([0.5, 2.0, 1.0], np.float32)},
            "head",
        ),
        ("contrastive_loss", dist, same, {}, "default"),
        ("contrastive_loss", dist, same, {"margin": 1.5}, "margin"),
        ("contrastive_loss", dist.reshape(3, 4), same.reshape(3, 4), {"margin": 0.5}, "rank2"),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES])
def test_values_and_gradients_match_tflearn(tflearn, case):
    name, y_pred, y_true, kw, _ = case
    want, want_gp, want_gt = _tf_value_and_grads(tflearn, name, y_pred, y_true, **kw)
    got, gp, gt = _ours_value_and_grads(name, y_pred, y_true, **kw)
    assert got.shape == () and got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-7)
    # Gradients: TF's float32 reductions round in another order; 1e-5 is a
    # few ulps of the summed terms.
    np.testing.assert_allclose(gp, want_gp, rtol=1e-5, atol=1e-7, err_msg="d/dy_pred")
    np.testing.assert_allclose(gt, want_gt, rtol=1e-5, atol=1e-7, err_msg="d/dy_true")


def test_weighted_crossentropy_gradient_at_zero(tflearn, tf1):
    # tf.nn.weighted_cross_entropy_with_logits differentiates abs(x) and
    # max(-x, 0) at their kink: at a logit of exactly 0 its gradient is
    # 1 - z + 0 instead of the derivative (1 - z) / 2 - q z / 2. Same values;
    # ours has the true derivative.
    x = np.zeros(4, np.float32)
    z = np.array([0.0, 1.0, 0.5, 0.0], np.float32)
    q = 2.0
    want = tf1(lambda p, t: tflearn.weighted_crossentropy(p, t, q), x, z)
    np.testing.assert_allclose(ours.weighted_crossentropy(x, z, q), want, rtol=RTOL)
    g = jax.jit(jax.grad(ours.weighted_crossentropy))(x, z, q)
    np.testing.assert_allclose(g, ((1 - z) / 2 - q * z / 2) / 4, rtol=1e-6)
    tf_g = tf1(lambda p, t: tf.gradients(tflearn.weighted_crossentropy(p, t, q), p)[0], x, z)
    np.testing.assert_allclose(tf_g, (1 - z) / 4, rtol=1e-6)


def test_weak_cross_entropy_2d_num_classes_regroups(tflearn, tf1):
    # tflearn reshapes both inputs to [-1, num_classes] whatever their last axis.
    r = _rng(1)
    y_pred = r.standard_normal((2, 3, 3, 6)).astype(np.float32)
    y_true = _one_hot(r, (2, 3, 3, 2), 3).reshape(2, 3, 3, 6)
    want = tf1(lambda p, t: tflearn.weak_cross_entropy_2d(p, t, num_classes=3), y_pred, y_true)
    np.testing.assert_allclose(ours.weak_cross_entropy_2d(y_pred, y_true, num_classes=3), want, rtol=RTOL)
    with pytest.raises(ValueError, match="num_classes"):
        ours.weak_cross_entropy_2d(y_pred, y_true, num_classes=5)


def test_roc_auc_score_labels_are_nonzero_tests(tflearn, tf1):
    # tf.cast(y_true, tf.bool): 0.5 and -1 are positives too.
    r = _rng(2)
    y_pred = r.standard_normal(10).astype(np.float32)
    y_true = np.array([0.5, 0, -1, 0, 1, 0, 0, 2, 0, 0], np.float32)
    want = tf1(tflearn.roc_auc_score, y_pred, y_true)
    np.testing.assert_allclose(ours.roc_auc_score(y_pred, y_true), want, rtol=RTOL)


@pytest.mark.parametrize("labels", ["all_positive", "all_negative"])
def test_roc_auc_score_empty_class_is_zero(tflearn, tf1, labels):
    y_pred = _rng(3).standard_normal(6).astype(np.float32)
    y_true = np.full(6, 1.0 if labels == "all_positive" else 0.0, np.float32)
    want = tf1(tflearn.roc_auc_score, y_pred, y_true)
    assert want == 0.0
    assert ours.roc_auc_score(y_pred, y_true) == 0.0
    assert jax.jit(ours.roc_auc_score)(y_pred, y_true) == 0.0


def test_roc_auc_score_leading_shape_labels(tflearn, tf1):
    # y_true [N] with y_pred [N, K]: tf.boolean_mask selects rows and each
    # column is scored separately.
    r = _rng(4)
    y_pred = r.standard_normal((12, 3)).astype(np.float32) * 0.3
    y_true = (r.uniform(size=12) > 0.5).astype(np.float32)
    want = tf1(tflearn.roc_auc_score, y_pred, y_true)
    np.testing.assert_allclose(ours.roc_auc_score(y_pred, y_true), want, rtol=RTOL)
    np.testing.assert_allclose(jax.jit(ours.roc_auc_score)(y_pred, y_true), want, rtol=RTOL)
    with pytest.raises(ValueError, match="y_true"):
        ours.roc_auc_score(y_pred, y_true[:5])


def test_roc_auc_score_under_jit_and_vmap(tflearn, tf1):
    r = _rng(5)
    y_pred = (r.standard_normal((3, 20)) * 0.3).astype(np.float32)
    y_true = (r.uniform(size=(3, 20)) > 0.5).astype(np.float32)
    want = [tf1(tflearn.roc_auc_score, p, t) for p, t in zip(y_pred, y_true, strict=True)]
    jitted = jax.jit(ours.roc_auc_score)
    for p, t, w in zip(y_pred, y_true, want, strict=True):
        np.testing.assert_allclose(jitted(p, t), w, rtol=RTOL)
    np.testing.assert_allclose(jax.vmap(ours.roc_auc_score)(y_pred, y_true), want, rtol=RTOL)
    g = jax.jit(jax.grad(ours.roc_auc_score))(y_pred[0], y_true[0])
    want_g = tf1(lambda p, t: tf.gradients(tflearn.roc_auc_score(p, t), p)[0], y_pred[0], y_true[0])
    np.testing.assert_allclose(g, want_g, rtol=1e-5, atol=1e-7)


def test_categorical_crossentropy_gradient_survives_the_clip(tflearn, tf1):
    # Probabilities of exactly 0 or 1: tflearn's clip zeroes the gradient of
    # the clipped entries; ours is the derivative at the clipped point.
    y_pred = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.8, 0.0]], np.float32)
    y_true = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    want = tf1(tflearn.categorical_crossentropy, y_pred, y_true)
    want_g = tf1(lambda p, t: tf.gradients(tflearn.categorical_crossentropy(p, t), p)[0], y_pred, y_true)
    value_and_grad = jax.jit(jax.value_and_grad(ours.categorical_crossentropy))
    got, g = value_and_grad(y_pred, y_true)
    np.testing.assert_allclose(got, want, rtol=RTOL)  # same value: -log(1e-10) for two rows
    assert np.all(want_g[0] == 0) and np.all(want_g[2] == 0)  # tflearn: stalled
    assert_all_finite(g, "gradient")
    assert g[0, 0] < 0 and g[2, 2] < 0  # raising the true class lowers the loss
    np.testing.assert_allclose(g[1], want_g[1], rtol=1e-6, atol=1e-7)  # unclipped row: equal
    # A row of zeros: tflearn divides 0 by 0 (nan); ours is -log(1e-10).
    zeros = np.zeros((1, 3), np.float32)
    assert np.isnan(tf1(tflearn.categorical_crossentropy, zeros, y_true[:1]))
    got, g = value_and_grad(zeros, y_true[:1])
    np.testing.assert_allclose(got, -np.log(np.float32(1e-10)), rtol=1e-6)
    assert_all_finite(g, "gradient")


def test_weak_cross_entropy_2d_far_apart_logits_stay_finite(tflearn, tf1):
    # tflearn: log(softmax) = -inf for a class ~100 logits below, times a zero
    # label = nan. Ours: the exact value, finite gradients.
    y_pred = np.array([[[[200.0, 0.0, -10.0], [0.0, 1.0, 2.0]]]], np.float32)
    y_true = np.array([[[[1, 0, 0], [0, 0, 1]]]], np.int32)
    assert np.isnan(tf1(tflearn.weak_cross_entropy_2d, y_pred, y_true))
    got, g = jax.jit(jax.value_and_grad(ours.weak_cross_entropy_2d))(y_pred, y_true)
    row2 = np.logaddexp.reduce(np.array([0.0, 1.0, 2.0])) - 2.0
    np.testing.assert_allclose(got, row2 / 2, rtol=1e-6)
    assert_all_finite(g, "gradient")


def test_softmax_categorical_crossentropy_stops_label_gradient():
    y_pred = _rng(6).standard_normal((4, 3)).astype(np.float32)
    y_true = _rng(7).dirichlet(np.ones(3), 4).astype(np.float32)
    g = jax.grad(ours.softmax_categorical_crossentropy, argnums=1)(y_pred, y_true)
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16_bit_inputs_compute_in_float32(dtype):
    r = _rng(8)
    logits = r.standard_normal((B, K)).astype(np.float32)
    bits = (r.uniform(size=(B, K)) > 0.5).astype(np.float32)
    for name in ("softmax_categorical_crossentropy", "binary_crossentropy", "mean_square", "hinge_loss"):
        fn = jax.jit(getattr(ours, name))
        low = fn(jnp.asarray(logits, dtype), bits)
        ref = fn(jnp.asarray(logits, dtype).astype(jnp.float32), bits)
        assert low.dtype == jnp.float32, name
        np.testing.assert_allclose(low, ref, rtol=1e-6, err_msg=name)


def test_every_tflearn_objective_has_a_twin(tflearn):
    defined = {
        n
        for n, v in vars(tflearn).items()
        if getattr(getattr(v, "__code__", None), "co_filename", None) == "tflearn/objectives.py"
    }
    assert defined - {"get"} == set(ours.__all__)
    for n in ours.__all__:
        assert callable(getattr(ours, n))
