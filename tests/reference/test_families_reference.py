"""The non-cross-entropy core families against PyTorch, Keras 3, optax and tflearn.

Each comparison is in float32 at relative tolerance 1e-6 where the formula
is the same; a looser tolerance carries a comment saying why.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras  # KERAS_BACKEND=jax is set by conftest; a missing library fails, never skips
import numpy as np
import optax  # noqa: E402  (a missing reference library fails, never skips)
import pytest
import torch  # noqa: E402  (a missing reference library fails, never skips)

import jaxloss

F = torch.nn.functional

RTOL = 1e-6


def _t(x):
    return torch.from_numpy(np.asarray(x, np.float32).copy())


def _j(*arrays):
    """numpy inputs as jax arrays (some optax losses would compute in numpy)."""
    return [jnp.asarray(a) for a in arrays]


def _close(ours, ref, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=rtol, atol=atol)


def _dist(rng, shape):
    x = rng.random(shape) + 0.02
    return (x / x.sum(-1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------
# kl_divergence
# --------------------------------------------------------------------------


def _kl_inputs(rng):
    p, t = _dist(rng, (6, 5)), _dist(rng, (6, 5))
    t[0, :2] = 0.0  # zero-mass classes with finite log p
    t[1] = [1.0, 0.0, 0.0, 0.0, 0.0]
    t[2] = p[2]  # KL == 0
    return np.log(p), t


def test_kl_matches_torch(rng):
    log_p, t = _kl_inputs(rng)
    ref = F.kl_div(_t(log_p), _t(t), reduction="none", log_target=False).sum(-1)
    # Sums of terms of both signs: the row with KL == 0 needs an atol.
    _close(jaxloss.kl_divergence(log_p, t), ref, atol=1e-7)
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    ref = F.kl_div(_t(log_p), _t(log_t), reduction="none", log_target=True).sum(-1)
    ours = jaxloss.kl_divergence(log_p, log_t, log_targets=True)
    # torch's log_target form gives nan for t == 0 (exp(-inf) * inf): compare
    # the rows without zero targets.
    finite = np.isfinite(ref.numpy())
    assert not finite[:2].any() and finite[2:].all()
    _close(np.asarray(ours)[finite], ref.numpy()[finite], atol=1e-7)
    _close(ours, jaxloss.kl_divergence(log_p, t), atol=1e-7)


def test_kl_matches_optax_and_axis(rng):
    log_p, t = _kl_inputs(rng)
    _close(jaxloss.kl_divergence(log_p, t), optax.losses.kl_divergence(*_j(log_p, t)), atol=1e-7)
    _close(
        jaxloss.kl_divergence(log_p.T, t.T, axis=0),
        optax.losses.kl_divergence(*_j(log_p.T, t.T), axis=0),
        atol=1e-7,
    )
    log_t = np.log(_dist(rng, (6, 5)))
    _close(
        jaxloss.kl_divergence(log_p, log_t, log_targets=True),
        optax.losses.kl_divergence_with_log_targets(*_j(log_p, log_t)),
        atol=1e-7,
    )
    where = rng.random((6, 5)) > 0.3
    _close(
        jaxloss.kl_divergence(log_p, t, where=where),
        optax.losses.kl_divergence(*_j(log_p, t), where=where),
        atol=1e-7,
    )


def test_kl_documented_failure_of_optax_and_torch():
    # A class with zero target mass and log p == -inf (a masked class).
    log_p = jnp.array([[-jnp.inf, np.log(0.25), np.log(0.75)]])
    t = jnp.array([[0.0, 0.5, 0.5]])
    theirs = optax.losses.kl_divergence(*_j(log_p, t))
    assert np.isnan(np.asarray(theirs)).all()
    assert np.isnan(F.kl_div(_t(log_p), _t(t), reduction="none").sum(-1).numpy()).all()

    fn = lambda lp: jnp.sum(jaxloss.kl_divergence(lp, t))  # noqa: E731
    value, grad = jax.value_and_grad(fn)(log_p)
    expected = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    _close(value, expected)
    assert np.isfinite(np.asarray(grad)).all()
    _close(grad, [[0.0, -0.5, -0.5]])
    # The target gradient is finite too.
    assert np.isfinite(np.asarray(jax.grad(lambda tt: jnp.sum(jaxloss.kl_divergence(log_p, tt)))(t))).all()


# --------------------------------------------------------------------------
# poisson_nll
# --------------------------------------------------------------------------


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_matches_torch(rng, log_input, full):
    t = rng.poisson(3.0, (5, 8)).astype(np.float32)
    t[0] = [0.0, 0.5, 1.0, 1.0001, 2.0, 50.0, 1e3, 0.0]  # around the Stirling switch, large counts
    if log_input:
        x = rng.normal(size=(5, 8)).astype(np.float32) * 2
        x[1] = [-30.0, -5.0, 0.0, 5.0, 30.0, 60.0, -1e4, 1e-3]
    else:
        x = rng.random((5, 8)).astype(np.float32) * 5
        x[1] = [0.0, 1e-9, 1e-3, 1.0, 1e3, 1e6, 1e-30, 7.0]
    ref = F.poisson_nll_loss(_t(x), _t(t), log_input=log_input, full=full, reduction="none")
    ours = jaxloss.poisson_nll(x, t, log_input=log_input, full=full)
    # exp(x) - t * x cancels where exp(x) ~ t * x; an atol of a few float32
    # ulps of the larger term covers it.
    scale = np.maximum(np.abs(np.exp(np.float64(x))) if log_input else np.abs(x), 1.0)
    err = np.abs(np.float64(ours) - np.float64(ref.numpy()))
    assert np.all(err <= RTOL * np.abs(np.float64(ref.numpy())) + 2e-7 * scale), (ours, ref)


def test_poisson_epsilon_and_torch_nan_cases():
    x = np.array([0.1, 0.3, 2.0, 0.0], np.float32)
    t = np.array([0.0, 2.0, 4.0, 1.0], np.float32)
    for eps in (0.0, 1e-4, 0.5):
        ref = F.poisson_nll_loss(_t(x), _t(t), log_input=False, eps=eps, reduction="none")
        _close(jaxloss.poisson_nll(x, t, log_input=False, epsilon=eps), ref)
    # A zero rate with eps == 0: torch's 0 * log(0) is nan, ours the limit 0.
    ref = F.poisson_nll_loss(_t([0.0]), _t([0.0]), log_input=False, eps=0.0, reduction="none")
    assert np.isnan(ref.numpy()).all()
    ours = jaxloss.poisson_nll(jnp.array([0.0]), jnp.array([0.0]), log_input=False, epsilon=0.0)
    assert float(ours[0]) == 0.0
    # torch: 0 * -inf = nan; ours: the t == 0 limit, 0 (and exp(-inf) = 0).
    ref = F.poisson_nll_loss(_t([-np.inf]), _t([0.0]), reduction="none")
    assert np.isnan(ref.numpy()).all()
    assert float(jaxloss.poisson_nll(jnp.array([-jnp.inf]), jnp.array([0.0]))[0]) == 0.0
    ref = F.poisson_nll_loss(_t([-1e-8]), _t([0.0]), log_input=False, reduction="none")
    assert np.isnan(ref.numpy()).all()
    ours = jaxloss.poisson_nll(jnp.array([-1e-8]), jnp.array([0.0]), log_input=False)
    assert float(ours[0]) == np.float32(-1e-8)


def test_poisson_gradient_matches_torch(rng):
    x = rng.normal(size=(7,)).astype(np.float32)
    t = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 7.0, 1.5], np.float32)
    for log_input in (True, False):
        xx = x if log_input else np.abs(x) + 0.1
        xt = _t(xx).requires_grad_(True)
        F.poisson_nll_loss(xt, _t(t), log_input=log_input, full=True, reduction="sum").backward()
        ours = jax.grad(lambda z: jnp.sum(jaxloss.poisson_nll(z, t, log_input=log_input, full=True)))(xx)  # noqa: B023
        _close(ours, xt.grad.numpy(), atol=1e-7)


# --------------------------------------------------------------------------
# regression: torch, keras, optax
# --------------------------------------------------------------------------


def _regression_inputs(rng, shape=(6, 7)):
    p = (rng.normal(size=shape) * 3).astype(np.float32)
    t = (rng.normal(size=shape) * 3).astype(np.float32)
    p[0, :5] = [0.0, 1e4, -1e4, 1e20, 1.0]
    t[0, :5] = [0.0, 0.0, 1.0, 0.0, 1.0]
    return p, t


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_matches_torch_keras_optax(rng, delta):
    p, t = _regression_inputs(rng)
    ours = jaxloss.huber(p, t, delta=delta)
    _close(ours, F.huber_loss(_t(p), _t(t), reduction="none", delta=delta))
    _close(ours, optax.losses.huber_loss(*_j(p, t), delta=delta))
    # Keras means over the last axis.
    _close(jnp.mean(ours, -1), keras.losses.huber(t, p, delta=delta))
    # Gradients: clip(e, -delta, delta) in every library.
    pt = _t(p).requires_grad_(True)
    F.huber_loss(pt, _t(t), reduction="sum", delta=delta).backward()
    _close(jax.grad(lambda z: jnp.sum(jaxloss.huber(z, t, delta=delta)))(p), pt.grad.numpy())


def test_keras_printed_examples():
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)
    _close(jnp.mean(jaxloss.huber(y_pred, y_true)), 0.155, rtol=1e-3)  # printed to 3 digits
    _close(jnp.mean(jaxloss.huber(y_pred, y_true)), keras.losses.huber(y_true, y_pred).mean())
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    y_pred = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)
    _close(jnp.mean(jaxloss.log_cosh(y_pred, y_true)), 0.108, rtol=1e-2)  # printed to 3 digits
    y_true = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32)
    y_pred = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], np.float32)
    _close(jaxloss.cosine_distance(y_pred, y_true) - 1.0, [-0.0, -0.99999994, 0.99999994], atol=1e-7)


def test_squared_and_absolute_error(rng):
    p, t = _regression_inputs(rng)
    ours = jaxloss.squared_error(p, t)
    _close(ours, F.mse_loss(_t(p), _t(t), reduction="none"))
    _close(ours, optax.losses.squared_error(*_j(p, t)))
    # Keras means over the last axis; the sum order differs from jnp.mean.
    _close(jnp.mean(ours, -1), keras.losses.mean_squared_error(t, p), rtol=2e-6)
    ours = jaxloss.absolute_error(p, t)
    _close(ours, F.l1_loss(_t(p), _t(t), reduction="none"))
    _close(jnp.mean(ours, -1), keras.losses.mean_absolute_error(t, p), rtol=2e-6)


def test_log_cosh_matches_keras_optax(rng):
    p, t = _regression_inputs(rng)
    p[0, 3] = 50.0  # keep within keras's range: its x + softplus(-2x) is fine for any x
    ours = jaxloss.log_cosh(p, t)
    # Near e == 0 the three formulas subtract log 2 from ~log 2 and differ by
    # an ulp of log 2 (6e-8): relative error is unbounded there, so an atol.
    _close(ours, optax.losses.log_cosh(*_j(p, t)), atol=1.2e-7)
    _close(jnp.mean(ours, -1), keras.losses.log_cosh(t, p), atol=1.2e-7)
    e = np.float64(p) - np.float64(t)
    _close(ours, np.logaddexp(e, -e) - np.log(2.0), atol=1.2e-7)


def _cosine_inputs(rng):
    p = rng.normal(size=(6, 5)).astype(np.float32)
    t = rng.normal(size=(6, 5)).astype(np.float32)
    t[1] = p[1] * 3.0  # parallel
    t[2] = -p[2]  # opposite
    p[3] = 0.0  # zero vector
    t[4] = 0.0
    return p, t


def test_cosine_distance_matches_keras_torch_optax(rng):
    p, t = _cosine_inputs(rng)
    ours = jaxloss.cosine_distance(p, t)
    # 1 - cos cancels near cos == 1 (row 1): an atol of a few ulps of 1.
    atol = 3e-7
    # keras.losses.cosine_similarity = -cos, normalising x / max(||x||, 1e-7).
    _close(ours, 1.0 + keras.losses.cosine_similarity(t, p), atol=atol)
    # torch divides by max(||x||, eps) per vector: eps**2 is our epsilon.
    ref = 1.0 - F.cosine_similarity(_t(p), _t(t), dim=-1, eps=1e-6)
    _close(ours, ref, atol=atol)
    ref = F.cosine_embedding_loss(_t(p), _t(t), torch.ones(6), reduction="none")
    _close(ours[np.arange(6) != 3][:4], ref.numpy()[np.arange(6) != 3][:4], atol=atol)
    # optax clips the norm (not its square) at epsilon.
    _close(ours, optax.losses.cosine_distance(*_j(p, t), epsilon=1e-6), atol=atol)
    _close(
        jaxloss.cosine_distance(p.T, t.T, axis=0),
        optax.losses.cosine_distance(*_j(p.T, t.T), epsilon=1e-6, axis=0),
        atol=atol,
    )


def test_cosine_gradients_match_torch_and_where_keras_fails(rng):
    p, t = _cosine_inputs(rng)
    pt = _t(p).requires_grad_(True)
    (1.0 - F.cosine_similarity(pt, _t(t), dim=-1, eps=1e-6)).sum().backward()
    ours = jax.grad(lambda z: jnp.sum(jaxloss.cosine_distance(z, t)))(p)
    # Rows 0-2, 4-5: ordinary vectors; row 3: the zero vector, x / sqrt(eps).
    # Rows 1 and 2 (parallel, opposite) have a true gradient of 0: both sides
    # are rounding noise of ~1e-8 there, hence the atol.
    _close(ours, pt.grad.numpy(), atol=1e-6)
    # Keras (JAX backend) differentiates rsqrt(0) at a zero vector: nan.
    keras_grad = jax.grad(lambda z: jnp.sum(keras.losses.cosine_similarity(t, z)))(p)
    assert np.isnan(np.asarray(keras_grad)[3]).all()
    assert np.isfinite(np.asarray(ours)).all()


def test_cosine_large_vectors_where_keras_and_optax_fail():
    p = np.array([[1e30, 2e30, -2e30]], np.float32)
    t = np.array([[1.0, 2.0, -2.0]], np.float32)
    # sum(x**2) overflows float32: Keras and torch give similarity 0, optax
    # distance 1, for two parallel vectors.
    _close(keras.losses.cosine_similarity(t, p), [0.0])
    _close(F.cosine_similarity(_t(p), _t(t), dim=-1, eps=1e-6), [0.0])
    _close(optax.losses.cosine_distance(*_j(p, t)), [1.0])
    _close(jaxloss.cosine_distance(p, t), [0.0], atol=1e-6)
    # Ours equals the float64 value of every library.
    ref = 1.0 - F.cosine_similarity(_t(p).double(), _t(t).double(), dim=-1, eps=1e-6)
    _close(jaxloss.cosine_distance(p, t), ref.numpy(), atol=1e-6)


# --------------------------------------------------------------------------
# margins: keras, optax, tflearn
# --------------------------------------------------------------------------


def _margin_inputs(rng, shape=(6, 5)):
    s = (rng.normal(size=shape) * 2).astype(np.float32)
    y = rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    s[0, :3] = [1.0, -1.0, 0.0]
    y[0, :3] = [1.0, -1.0, 1.0]
    return s, y


def test_hinge_matches_keras_optax(rng):
    s, y = _margin_inputs(rng)
    _close(jaxloss.hinge(s, y), optax.losses.hinge_loss(*_j(s, y)))
    _close(jnp.mean(jaxloss.hinge(s, y), -1), keras.losses.hinge(y, s))
    _close(jnp.mean(jaxloss.squared_hinge(s, y), -1), keras.losses.squared_hinge(y, s))
    # Keras converts {0, 1} labels to {-1, 1}; ours takes {-1, 1} as given.
    y01 = (y > 0).astype(np.float32)
    _close(jnp.mean(jaxloss.hinge(s, 2 * y01 - 1), -1), keras.losses.hinge(y01, s))
    _close(jnp.mean(jaxloss.squared_hinge(s, 2 * y01 - 1), -1), keras.losses.squared_hinge(y01, s))


def test_hinge_matches_tflearn(tflearn, tf1, rng):
    s, y = _margin_inputs(rng)
    ref = tf1(lambda a, b: tflearn.hinge_loss(a, b), s, y)
    _close(jnp.mean(jaxloss.hinge(s, y)), ref)


def test_categorical_hinge_matches_keras(rng):
    s = (rng.normal(size=(8, 5)) * 2).astype(np.float32)
    labels = rng.integers(0, 5, 8)
    onehot = np.eye(5, dtype=np.float32)[labels]
    s[0] = [0.5, -3.0, -4.0, -1.0, -2.0]  # every wrong score negative
    onehot[0] = [1, 0, 0, 0, 0]
    _close(jaxloss.categorical_hinge(s, onehot), keras.losses.categorical_hinge(onehot, s))
    sg = jax.grad(lambda z: jnp.sum(jaxloss.categorical_hinge(z, onehot)))(s)
    kg = jax.grad(lambda z: jnp.sum(keras.losses.categorical_hinge(onehot, z)))(s)
    _close(sg, kg)


def test_multiclass_hinge_matches_optax(rng):
    s = (rng.normal(size=(4, 6, 5)) * 2).astype(np.float32)
    labels = rng.integers(0, 5, (4, 6))
    _close(jaxloss.multiclass_hinge(s, labels), optax.losses.multiclass_hinge_loss(*_j(s, labels)))
    sg = jax.grad(lambda z: jnp.sum(jaxloss.multiclass_hinge(z, labels)))(s)
    og = jax.grad(lambda z: jnp.sum(optax.losses.multiclass_hinge_loss(z, labels)))(s)
    _close(sg, og)
    # Out of range: optax returns a silent number, ours nan.
    bad = np.array([5])
    assert np.isfinite(np.asarray(optax.losses.multiclass_hinge_loss(*_j(s[0, :1], bad)))).all()
    assert np.isnan(np.asarray(jaxloss.multiclass_hinge(s[0, :1], bad))).all()


# --------------------------------------------------------------------------
# ranking and metric learning: tflearn on TF1
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16,), (4, 5), (40,)])
def test_wmw_matches_tflearn_roc_auc_score(tflearn, tf1, rng, shape):
    s = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    ref = tf1(lambda a, b: tflearn.roc_auc_score(a, b), s, y)
    # tf.pow(x, 3.0) and XLA's x*x*x round differently (1 ulp per term), and
    # the pair sums run in different orders.
    _close(jaxloss.wmw_auc_loss(s, y), ref, rtol=2e-6)
    _close(jax.jit(jaxloss.wmw_auc_loss)(s, y), ref, rtol=2e-6)


def test_wmw_tflearn_label_cast_and_gradient(tflearn, tf1, rng):
    import tensorflow as tf

    s = rng.normal(size=(12,)).astype(np.float32)
    y = rng.choice([0.0, 0.3, 2.0], size=(12,)).astype(np.float32)  # nonzero means positive
    ref = tf1(lambda a, b: tflearn.roc_auc_score(a, b), s, y)
    _close(jaxloss.wmw_auc_loss(s, y), ref, rtol=2e-6)

    def grad_builder(a, b):
        loss = tflearn.roc_auc_score(a, b)
        return tf.gradients(loss, a)[0]

    ref_grad = tf1(grad_builder, s, y)
    _close(jax.grad(jaxloss.wmw_auc_loss)(s, y), ref_grad, rtol=2e-6, atol=1e-7)


def test_wmw_where_equals_tflearn_on_kept_elements(tflearn, tf1, rng):
    s = rng.normal(size=(20,)).astype(np.float32)
    y = rng.integers(0, 2, (20,)).astype(np.float32)
    keep = rng.random(20) > 0.4
    ref = tf1(lambda a, b: tflearn.roc_auc_score(a, b), s[keep], y[keep])
    s_bad = np.where(keep, s, np.nan).astype(np.float32)
    _close(jaxloss.wmw_auc_loss(s_bad, y, where=keep), ref, rtol=2e-6)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_contrastive_matches_tflearn(tflearn, tf1, rng, margin):
    d = (rng.random((6, 7)) * 2.5).astype(np.float32)
    y = rng.integers(0, 2, (6, 7)).astype(np.float32)
    d[0, :3] = [0.0, margin, 1e-3]
    ref = tf1(lambda a, b: tflearn.contrastive_loss(a, b, margin=margin), d, y)
    # tflearn returns sum / 2; the sum order differs from XLA's.
    _close(jnp.sum(jaxloss.contrastive(d, y, margin=margin)) / 2.0, ref, rtol=2e-6)


def test_contrastive_huge_distance_where_tflearn_gives_nan(tflearn, tf1):
    d = np.array([1e30, 0.5], np.float32)
    y = np.array([0.0, 1.0], np.float32)
    # tflearn: y * d**2 = 0 * inf = nan for the dissimilar pair at 1e30.
    assert np.isnan(tf1(lambda a, b: tflearn.contrastive_loss(a, b), d, y))
    _close(jnp.sum(jaxloss.contrastive(d, y)) / 2.0, 0.125)
