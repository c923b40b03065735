"""The losses jaxloss shares with optax 0.2.8, checked against optax itself.

Values to rtol 1e-5 and gradients to rtol 1e-4 (float32) on random and edge
inputs; where optax's value or gradient is not finite (small temperatures,
``-inf`` scores, infinite logits, zero target mass, no positive pairs) ours
is asserted finite.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss

VRTOL, GRTOL, ATOL = 1e-5, 1e-4, 1e-6


def _vg(fn, *args, argnums=0, jit=True):
    """Value and gradient of ``sum(fn(*args))``: ours under ``jit``, optax's eagerly, as
    users call it (its Dice checks concrete probabilities)."""
    vg = jax.value_and_grad(lambda *a: jnp.sum(fn(*a)), argnums=argnums)
    return (jax.jit(vg) if jit else vg)(*args)


def _close(ours, theirs, *args, argnums=0):
    v1, g1 = _vg(ours, *args, argnums=argnums)
    v2, g2 = _vg(theirs, *args, argnums=argnums, jit=False)
    np.testing.assert_allclose(v1, v2, rtol=VRTOL, atol=ATOL)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=GRTOL, atol=ATOL)


def _finite_where_optax_is_not(ours, theirs, *args, argnums=0):
    v1, g1 = _vg(ours, *args, argnums=argnums)
    v2, g2 = _vg(theirs, *args, argnums=argnums, jit=False)
    theirs_finite = np.isfinite(np.asarray(v2)).all() and all(
        np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(g2)
    )
    assert not theirs_finite, "optax is finite here: compare instead"
    assert np.isfinite(np.asarray(v1)).all()
    for g in jax.tree_util.tree_leaves(g1):
        assert np.isfinite(np.asarray(g)).all()
    return v1, v2


def _rng(seed):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------
# ntxent
# --------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.07, 0.3, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_ntxent_random(seed, temperature):
    r = _rng(seed)
    e = r.normal(size=(8, 4)).astype(np.float32)
    labels = jnp.asarray(r.integers(0, 3, 8))
    _close(
        lambda z: jaxloss.ntxent(z, labels, temperature=temperature),
        lambda z: optax.losses.ntxent(z, labels, temperature),
        e,
    )


def test_ntxent_edges():
    r = _rng(2)
    e = r.normal(size=(6, 3)).astype(np.float32)
    labels = jnp.array([0, 0, 1, 1, 2, 2])
    e0 = e.copy()
    e0[2] = 0.0  # a zero embedding: both finite, the same gradients
    _close(lambda z: jaxloss.ntxent(z, labels), lambda z: optax.losses.ntxent(z, labels), e0)
    # a small temperature: optax's gradient is nan (a denominator underflows), its value is not
    e1 = _rng(0).normal(size=(6, 3)).astype(np.float32)
    v1, _ = _finite_where_optax_is_not(
        lambda z: jaxloss.ntxent(z, labels, temperature=1e-3), lambda z: optax.losses.ntxent(z, labels, 1e-3), e1
    )
    np.testing.assert_allclose(v1, optax.losses.ntxent(e1, labels, 1e-3), rtol=VRTOL)
    # no positive pairs: optax 0 / 0, ours 0
    distinct = jnp.arange(6)
    v1, _ = _finite_where_optax_is_not(
        lambda z: jaxloss.ntxent(z, distinct), lambda z: optax.losses.ntxent(z, distinct), e
    )
    assert float(v1) == 0.0


# --------------------------------------------------------------------------
# sparsemax and perceptron losses
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_sparsemax_random(seed):
    r = _rng(seed)
    x = (r.normal(size=(5, 7)) * 2).astype(np.float32)
    y = jnp.asarray(r.integers(0, 2, (5, 7)))
    _close(lambda z: jaxloss.binary_sparsemax(z, y), lambda z: optax.losses.sparsemax_loss(z, y), x)


def test_binary_sparsemax_infinite_logits():
    x = jnp.array([-jnp.inf, 0.5, -2.0, 3.0])
    y = jnp.array([0, 1, 1, 0])
    v1, v2 = _finite_where_optax_is_not(
        lambda z: jaxloss.binary_sparsemax(z, y), lambda z: optax.losses.sparsemax_loss(z, y), x
    )
    np.testing.assert_allclose(v1, v2, rtol=VRTOL)  # the values agree, optax's gradient is nan


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.3, 3.0, 100.0])
def test_multiclass_sparsemax_random(seed, scale):
    r = _rng(seed)
    s = (r.normal(size=(6, 5)) * scale).astype(np.float32)
    y = jnp.asarray(r.integers(0, 5, 6))
    _close(lambda z: jaxloss.multiclass_sparsemax(z, y), lambda z: optax.losses.multiclass_sparsemax_loss(z, y), s)


def test_multiclass_sparsemax_neg_inf():
    # optax handles -inf scores outside the support too: the same values and gradients
    s = jnp.array([[1.0, -jnp.inf, 0.5, 0.3], [0.0, 1.0, 2.0, -jnp.inf]])
    y = jnp.array([0, 2])
    _close(lambda z: jaxloss.multiclass_sparsemax(z, y), lambda z: optax.losses.multiclass_sparsemax_loss(z, y), s)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_perceptron_random(seed):
    r = _rng(seed)
    s = (r.normal(size=(6, 5)) * 2).astype(np.float32)
    y = jnp.asarray(r.integers(0, 5, 6))
    _close(lambda z: jaxloss.multiclass_perceptron(z, y), lambda z: optax.losses.multiclass_perceptron_loss(z, y), s)
    # ties share the gradient of the maximum the same way
    tied = np.zeros((2, 4), np.float32)
    yt = jnp.array([0, 3])
    _close(
        lambda z: jaxloss.multiclass_perceptron(z, yt),
        lambda z: optax.losses.multiclass_perceptron_loss(z, yt),
        tied,
    )


def test_multiclass_perceptron_neg_inf():
    s = jnp.array([[1.0, -jnp.inf, 0.2], [0.0, 1.0, 3.0]])
    y = jnp.array([0, 1])
    v1, _ = _finite_where_optax_is_not(
        lambda z: jaxloss.multiclass_perceptron(z, y), lambda z: optax.losses.multiclass_perceptron_loss(z, y), s
    )
    np.testing.assert_allclose(v1, 2.0, rtol=VRTOL)


# --------------------------------------------------------------------------
# ranking softmax
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_softmax_random(seed):
    r = _rng(seed)
    s = r.normal(size=(4, 6)).astype(np.float32)
    y = r.integers(0, 3, (4, 6)).astype(np.float32)
    w = r.uniform(0.5, 2, (4, 6)).astype(np.float32)
    m = jnp.asarray(r.uniform(size=(4, 6)) > 0.3)
    _close(
        lambda z: jaxloss.ranking_softmax(z, y),
        lambda z: optax.losses.ranking_softmax_loss(z, y, reduce_fn=None),
        s,
    )
    _close(
        lambda z: jaxloss.ranking_softmax(z, y, where=m, weights=w),
        lambda z: optax.losses.ranking_softmax_loss(z, y, where=m, weights=w, reduce_fn=None),
        s,
    )
    # optax's default mean skips lists with no valid item: reduce with that mask
    m = m.at[0].set(False)
    _close(
        lambda z: jaxloss.reduce(jaxloss.ranking_softmax(z, y, where=m), where=jnp.any(m, axis=-1)),
        lambda z: optax.losses.ranking_softmax_loss(z, y, where=m),
        s,
    )


def test_ranking_softmax_neg_inf_and_empty():
    s = jnp.array([[2.0, -jnp.inf, 0.5], [1.0, 0.0, 3.0]])
    y = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    v1, _ = _finite_where_optax_is_not(
        lambda z: jaxloss.ranking_softmax(z, y), lambda z: optax.losses.ranking_softmax_loss(z, y, reduce_fn=None), s
    )
    np.testing.assert_allclose(
        v1, optax.losses.ranking_softmax_loss(jnp.where(jnp.isinf(s), -1e4, s), y, reduce_fn=jnp.sum), rtol=VRTOL
    )
    # a list with no valid item: 0, zero gradients (both)
    sf = jnp.array([[2.0, 1.0, 0.5], [1.0, 0.0, 3.0]])
    m = jnp.array([[False, False, False], [True, True, True]])
    _close(
        lambda z: jaxloss.ranking_softmax(z, y, where=m),
        lambda z: optax.losses.ranking_softmax_loss(z, y, where=m, reduce_fn=None),
        sf,
    )


# --------------------------------------------------------------------------
# generalised Dice
# --------------------------------------------------------------------------


_DICE_OPTIONS = [{}, {"smooth": 0.0}, {"smooth": 3.0}, {"ignore_background": True}, {"apply_softmax": False}]
# (optax checks that probabilities sum to 1 over the class axis, which one binary class does not)
_DICE_CASES = [
    (shape, kw)
    for shape in [(2, 4, 5, 3), (6, 4), (3, 5, 1)]
    for kw in _DICE_OPTIONS
    if not (shape[-1] == 1 and kw.get("apply_softmax") is False)
]


@pytest.mark.parametrize("shape,kw", _DICE_CASES)
def test_generalized_dice_random(shape, kw):
    r = _rng(sum(shape))
    x = r.normal(size=shape).astype(np.float32)
    if shape[-1] == 1:
        t = (r.uniform(size=shape) > 0.5).astype(np.float32)
    else:
        t = np.eye(shape[-1], dtype=np.float32)[r.integers(0, shape[-1], shape[:-1])]
    if kw.get("apply_softmax") is False:
        x = np.asarray(jax.nn.softmax(x, axis=-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(
            lambda z, u: jnp.mean(jaxloss.generalized_dice(z, u, **kw)),
            lambda z, u: optax.losses.multiclass_generalized_dice_loss(z, u, **kw),
            x,
            t,
            argnums=(0, 1),
        )


def test_generalized_dice_empty_classes_without_smoothing():
    # no mass at all in a class and smooth=0: optax 0 / 0, ours the class weight
    p = jnp.array([[[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]])
    t = jnp.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    _finite_where_optax_is_not(
        lambda z: jaxloss.generalized_dice(z, t, smooth=0.0, apply_softmax=False),
        lambda z: optax.losses.multiclass_generalized_dice_loss(z, t, smooth=0.0, apply_softmax=False),
        p,
    )


# --------------------------------------------------------------------------
# convex (generalised) KL divergence
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_convex_kl_random(seed):
    r = _rng(seed)
    lp = r.normal(size=(4, 5)).astype(np.float32)
    t = r.uniform(0.05, 2, (4, 5)).astype(np.float32)
    m = jnp.asarray(r.uniform(size=(4, 5)) > 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _close(jaxloss.convex_kl_divergence, optax.losses.convex_kl_divergence, lp, t, argnums=(0, 1))
        _close(
            lambda a, b: jaxloss.convex_kl_divergence(a, b, where=m),
            lambda a, b: optax.losses.convex_kl_divergence(a, b, where=m),
            lp,
            t,
            argnums=(0, 1),
        )
        _close(
            lambda a, b: jaxloss.convex_kl_divergence(a, b),
            lambda a, b: optax.losses.generalized_kl_divergence(a, b),
            lp,
            t,
            argnums=(0, 1),
        )


def test_convex_kl_zero_mass_neg_inf():
    lp = jnp.array([[-jnp.inf, 0.0, -1.0]])
    t = jnp.array([[0.0, 1.0, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        v1, _ = _finite_where_optax_is_not(jaxloss.convex_kl_divergence, optax.losses.convex_kl_divergence, lp, t)
        ref = optax.losses.convex_kl_divergence(lp[:, 1:], t[:, 1:]).sum()
    np.testing.assert_allclose(v1, ref, rtol=VRTOL)
