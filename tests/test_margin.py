"""Core tests of the margin losses (jax + numpy only)."""

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


def _vgh(fn, x):
    """``value_grad_hessian`` under one ``jit`` (eager Hessians are slow to dispatch)."""
    return jax.jit(lambda z: value_grad_hessian(fn, z))(x)


def _binary(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    s = (rng.normal(size=shape) * 2).astype(np.float32)
    y = rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    return s, y


def _categorical(seed=0, shape=(6, 4)):
    rng = np.random.default_rng(seed)
    s = (rng.normal(size=shape) * 2).astype(np.float32)
    labels = rng.integers(0, shape[-1], shape[:-1])
    return s, labels, np.eye(shape[-1], dtype=np.float32)[labels]


# --------------------------------------------------------------------------
# hinge, squared hinge
# --------------------------------------------------------------------------


def test_hinge_values():
    s, y = _binary()
    ref = np.maximum(0.0, 1.0 - np.float64(y) * s)
    out = jaxloss.hinge(s, y)
    assert out.shape == s.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_allclose(jaxloss.squared_hinge(s, y), ref**2, rtol=1e-6)


def test_hinge_integer_labels_and_broadcast():
    s, _ = _binary(1, (3, 4))
    y = np.array([1, -1, 1, -1], np.int32)
    np.testing.assert_allclose(jaxloss.hinge(s, y), np.maximum(0.0, 1.0 - y * np.float64(s)), rtol=1e-6)
    assert jaxloss.squared_hinge(s, y).shape == (3, 4)


def test_hinge_gradient():
    s = jnp.array([2.0, 0.5, -0.5, -3.0])
    y = jnp.array([1.0, 1.0, -1.0, -1.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.hinge(x, y)))(s)
    np.testing.assert_array_equal(g, [0.0, -1.0, 1.0, 0.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.squared_hinge(x, y)))(s)
    np.testing.assert_allclose(g, [0.0, -1.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_extreme_scores(name):
    fn = getattr(jaxloss, name)
    s = jnp.asarray(EXTREME_LOGITS)
    y = jnp.ones_like(s)
    if name == "hinge":
        v, g, h = _vgh(lambda x: fn(x, y), s)
        assert_all_finite((v, g, h))
        v, g, h = _vgh(lambda x: fn(x, -y), s)
        assert_all_finite((v, g, h))
    else:
        # (1 + 1e30)**2 overflows float32 (the true value); derivatives stay finite.
        for lab in (y, -y):
            v, g, h = _vgh(lambda x: fn(x, lab), s)  # noqa: B023
            assert not np.isnan(float(v))
            assert_all_finite((g, h))


# --------------------------------------------------------------------------
# categorical hinge (Keras formula)
# --------------------------------------------------------------------------


def _np_categorical_hinge(s, onehot, axis=-1):
    s, y = np.float64(s), np.float64(onehot)
    pos = (y * s).sum(axis)
    neg = ((1.0 - y) * s).max(axis)
    return np.maximum(neg - pos + 1.0, 0.0)


def test_categorical_hinge_values():
    s, _, onehot = _categorical()
    out = jaxloss.categorical_hinge(s, onehot)
    assert out.shape == (6,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_categorical_hinge(s, onehot), rtol=1e-6)
    out = jaxloss.categorical_hinge(s.T, onehot.T, axis=0)
    np.testing.assert_allclose(out, _np_categorical_hinge(s, onehot), rtol=1e-6)


def test_categorical_hinge_true_class_counts_as_zero():
    # Keras's neg = max((1 - y) * s): with every wrong score negative the
    # true class supplies 0, so the loss is max(1 - s_y, 0).
    s = jnp.array([[0.5, -3.0, -4.0]])
    y = jnp.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(jaxloss.categorical_hinge(s, y), [0.5])
    np.testing.assert_allclose(jaxloss.multiclass_hinge(s, jnp.array([0])), [0.0])


def test_categorical_hinge_neg_inf_score_of_wrong_class():
    s = jnp.array([[2.0, -jnp.inf, 1.5]])
    y = jnp.array([[1.0, 0.0, 0.0]])
    fn = lambda x: jnp.sum(jaxloss.categorical_hinge(x, y))  # noqa: E731
    np.testing.assert_allclose(fn(s), 0.5)
    np.testing.assert_array_equal(jax.grad(fn)(s), [[-1.0, 0.0, 1.0]])


def test_categorical_hinge_extreme_scores():
    s = jnp.stack([jnp.asarray(EXTREME_LOGITS), jnp.flip(jnp.asarray(EXTREME_LOGITS))])
    y = jax.nn.one_hot(jnp.array([3, 7]), 9)
    v, g, h = _vgh(lambda x: jaxloss.categorical_hinge(x, y), s)
    assert_all_finite((v, g, h))


# --------------------------------------------------------------------------
# multiclass hinge (Crammer-Singer, integer labels)
# --------------------------------------------------------------------------


def _np_multiclass_hinge(s, labels):
    s = np.float64(s)
    out = []
    for row, lab in zip(s.reshape(-1, s.shape[-1]), np.ravel(labels), strict=True):
        others = np.delete(row, lab)
        out.append(max(0.0, 1.0 + others.max() - row[lab]) if others.size else 0.0)
    return np.array(out).reshape(np.shape(labels))


def test_multiclass_hinge_values_and_axis():
    s, labels, _ = _categorical(2, (2, 3, 5))
    out = jaxloss.multiclass_hinge(s, labels)
    assert out.shape == (2, 3) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_multiclass_hinge(s, labels), rtol=1e-6)
    out = jaxloss.multiclass_hinge(np.moveaxis(s, -1, 1), labels, axis=1)
    np.testing.assert_allclose(out, _np_multiclass_hinge(s, labels), rtol=1e-6)


def test_multiclass_hinge_gradient_and_single_class():
    s = jnp.array([[2.0, 1.5, 0.0]])
    g = jax.grad(lambda x: jnp.sum(jaxloss.multiclass_hinge(x, jnp.array([0]))))(s)
    np.testing.assert_array_equal(g, [[-1.0, 1.0, 0.0]])
    fn = lambda x: jnp.sum(jaxloss.multiclass_hinge(x, jnp.array([0, 0])))  # noqa: E731
    one = jnp.array([[3.0], [-2.0]])
    assert float(fn(one)) == 0.0
    np.testing.assert_array_equal(jax.grad(fn)(one), 0.0)


def test_multiclass_hinge_uint8_labels_many_classes():
    s = jnp.zeros((1, 300)).at[0, 5].set(2.0)
    out = jaxloss.multiclass_hinge(s, jnp.array([5], jnp.uint8))
    np.testing.assert_allclose(out, [0.0])


def test_multiclass_hinge_out_of_range_label_is_nan():
    s, _, _ = _categorical(3, (3, 4))
    labels = jnp.array([1, 4, -1])
    fn = lambda x: jaxloss.multiclass_hinge(x, labels)  # noqa: E731
    out = fn(s)
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])
    # The nan does not leak into the gradient of the valid example.
    g = jax.grad(lambda x: fn(x)[0])(s)
    assert_all_finite(g)
    err, _ = checkify.checkify(fn, errors=checkify.user_checks)(s)
    with pytest.raises(Exception, match="outside"):
        err.throw()
    err, _ = checkify.checkify(
        lambda x: jaxloss.multiclass_hinge(x, jnp.array([0, 1, 2])), errors=checkify.user_checks
    )(s)
    assert err.get() is None


def test_multiclass_hinge_extreme_scores():
    s = jnp.stack([jnp.asarray(EXTREME_LOGITS), jnp.flip(jnp.asarray(EXTREME_LOGITS))])
    v, g, h = _vgh(lambda x: jaxloss.multiclass_hinge(x, jnp.array([4, 8])), s)
    assert_all_finite((v, g, h))


# --------------------------------------------------------------------------
# shared: dtypes, transformations, gradients, errors
# --------------------------------------------------------------------------


def _call(name, s, labels, onehot):
    fn = getattr(jaxloss, name)
    if name == "multiclass_hinge":
        return fn(s, labels)
    if name == "categorical_hinge":
        return fn(s, onehot)
    return fn(s, 2.0 * onehot - 1.0)


ALL = ["hinge", "squared_hinge", "categorical_hinge", "multiclass_hinge"]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit_inputs_compute_in_float32(name, dtype):
    s, labels, onehot = _categorical(4)
    s16 = jnp.asarray(s, dtype)
    out = _call(name, s16, labels, onehot)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, _call(name, s16.astype(jnp.float32), labels, onehot), rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_float64_stays_float64(name):
    s, labels, onehot = _categorical(5)
    with jax.enable_x64(True):
        assert _call(name, jnp.asarray(s, jnp.float64), labels, onehot).dtype == jnp.float64


@pytest.mark.parametrize("name", ALL)
def test_jit_vmap(name):
    s, labels, onehot = _categorical(6)
    assert_transform_invariant(lambda a, b, c: _call(name, a, b, c), s, labels, onehot)


def test_grads_x64():
    s, labels, onehot = _categorical(7, (3, 4))
    # Away from the kinks: scores on a grid offset from every hinge point.
    s = np.round(s * 2) / 2 + 0.13 * np.arange(1, 5) + 0.01

    def all_margins(x):
        return sum(_call(n, x, labels, onehot).sum() for n in ALL)

    check_grads_x64(jax.jit(all_margins), (s,))


def test_errors():
    s = jnp.zeros((2, 3))
    for name in ("hinge", "squared_hinge", "categorical_hinge"):
        fn = getattr(jaxloss, name)
        with pytest.raises(ValueError, match="`labels`"):
            fn(s, jnp.zeros((2, 4)))
        with pytest.raises(TypeError, match="`scores`"):
            fn(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="`axis`"):
        jaxloss.categorical_hinge(s, s, axis=2)
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.multiclass_hinge(s, jnp.zeros((3,), jnp.int32))
    with pytest.raises(TypeError, match="`labels`"):
        jaxloss.multiclass_hinge(s, jnp.zeros((2,), jnp.float32))
    with pytest.raises(TypeError, match="`scores`"):
        jaxloss.multiclass_hinge(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2,), jnp.int32))
