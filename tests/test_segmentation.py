"""Core tests of the segmentation losses, dice and tversky (jax + numpy only)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import (
    assert_all_finite,
    assert_transform_invariant,
    check_grads_x64,
    value_grad_hessian,
)

FNS = ["dice", "tversky"]


def _np_dice(p, t, axis=-1, eps=1e-7):
    p, t = np.float64(p), np.float64(t)
    return 1.0 - 2.0 * np.sum(p * t, axis=axis) / (np.sum(t, axis=axis) + np.sum(p, axis=axis) + eps)


def _np_tversky(p, t, alpha=0.5, beta=0.5, axis=-1, eps=1e-7):
    p, t = np.float64(p), np.float64(t)
    tp = np.sum(p * t, axis=axis)
    fp = np.sum(p * (1.0 - t), axis=axis)
    fn = np.sum((1.0 - p) * t, axis=axis)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + eps)


def _inputs(seed=0, shape=(3, 4, 5)):
    rng = np.random.default_rng(seed)
    p = rng.random(shape).astype(np.float32)
    t = (rng.random(shape) > 0.5).astype(np.float32)
    return p, t


def _vgh(fn, x):
    return jax.jit(lambda z: value_grad_hessian(fn, z))(x)


@pytest.mark.parametrize("axis", [-1, 0, (1, 2), (0, 2), None])
def test_dice_values(axis):
    p, t = _inputs()
    out = jaxloss.dice(p, t, axis=axis)
    assert out.dtype == jnp.float32
    ref = _np_dice(p, t, axis=axis)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.parametrize(
    ("alpha", "beta", "axis"), [(0.5, 0.5, -1), (0.3, 0.7, (1, 2)), (1.0, 0.0, None), (0.0, 2.0, -1)]
)
def test_tversky_values(alpha, beta, axis):
    p, t = _inputs(1)
    out = jaxloss.tversky(p, t, alpha=alpha, beta=beta, axis=axis)
    np.testing.assert_allclose(out, _np_tversky(p, t, alpha, beta, axis), rtol=1e-6, atol=1e-7)


def test_tversky_standard_naming_and_dice_equivalence():
    # p = [1, 1], t = [1, 0]: TP = 1, FP = 1, FN = 0.
    p, t = jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0])
    np.testing.assert_allclose(jaxloss.tversky(p, t, alpha=1.0, beta=0.0, epsilon=0.0), 0.5)
    np.testing.assert_allclose(jaxloss.tversky(p, t, alpha=0.0, beta=1.0, epsilon=0.0), 0.0)
    # The roles swap with the inputs: FP and FN exchange.
    np.testing.assert_allclose(jaxloss.tversky(t, p, alpha=0.0, beta=1.0, epsilon=0.0), 0.5)
    q, s = _inputs(2)
    np.testing.assert_allclose(jaxloss.tversky(q, s, alpha=0.5, beta=0.5), jaxloss.dice(q, s), rtol=1e-6)


def test_targets_broadcast_to_predictions():
    p, _ = _inputs(3, (3, 5))
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
    np.testing.assert_allclose(jaxloss.dice(p, t), _np_dice(p, t[None]), rtol=1e-6)
    np.testing.assert_allclose(jaxloss.tversky(p, t, alpha=0.2, beta=0.8), _np_tversky(p, t[None], 0.2, 0.8), rtol=1e-6)
    # Integer targets are cast.
    np.testing.assert_allclose(jaxloss.dice(p, t.astype(np.int32)), _np_dice(p, t[None]), rtol=1e-6)


@pytest.mark.parametrize("name", FNS)
@pytest.mark.parametrize("epsilon", [1e-7, 0.0])
def test_zero_vectors_give_one_with_zero_gradients(name, epsilon):
    fn = getattr(jaxloss, name)
    z = jnp.zeros((2, 4))
    t = jnp.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    out = fn(z, jnp.zeros((2, 4)), epsilon=epsilon)
    np.testing.assert_array_equal(out, [1.0, 1.0])
    value, grad, hess = _vgh(lambda x: fn(x, jnp.zeros((2, 4)), epsilon=epsilon), z)
    assert_all_finite((value, grad, hess))
    np.testing.assert_array_equal(grad, 0.0)
    # Gradient in the targets is finite too, and zero predictions with a
    # non-empty target give 1 (nothing overlaps).
    gt = jax.grad(lambda y: jnp.sum(fn(z, y, epsilon=epsilon)))(jnp.zeros((2, 4)))
    assert_all_finite(gt)
    np.testing.assert_allclose(fn(z, t, epsilon=epsilon), [1.0, 1.0])


@pytest.mark.parametrize("name", FNS)
def test_empty_batch(name):
    # Found by the property suite: reducing an empty batch over every axis
    # took the max of an empty array (a trace-time error); it is 1, as Keras.
    fn = getattr(jaxloss, name)
    empty = jnp.zeros((0, 4))
    assert fn(empty, empty).shape == (0,)
    np.testing.assert_array_equal(fn(empty, empty, axis=None), 1.0)
    assert jax.grad(lambda p: fn(p, empty, axis=None))(empty).shape == (0, 4)


@pytest.mark.parametrize("name", FNS)
def test_epsilon_zero_matches_formula(name):
    p, t = _inputs(4)
    ref = _np_dice(p, t, eps=0.0) if name == "dice" else _np_tversky(p, t, eps=0.0)
    np.testing.assert_allclose(getattr(jaxloss, name)(p, t, epsilon=0.0), ref, rtol=1e-6)


@pytest.mark.parametrize("name", FNS)
def test_extreme_magnitudes_finite(name):
    fn = getattr(jaxloss, name)
    # Overlap losses are meant for non-negative inputs (a negative target can
    # cancel the denominator, a genuine pole of the formula).
    p = jnp.array([[1e30, 1e30, 0.5], [1e-30, 0.2, 0.3], [1e30, 1e4, 0.0], [0.0, 1.0, 1.0]])
    t = jnp.array([[1e30, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1e30], [1.0, 1.0, 1.0]])
    value, grad = jax.value_and_grad(lambda x: jnp.sum(fn(x, t)))(p)
    assert_all_finite((value, grad))
    # Second order in float32 cannot span a row whose sums differ by 1e60
    # (row 2: TP ~ 1e30, FP ~ 1e4): its Hessian entries are below 1e-60.
    keep = np.array([0, 1, 3])
    value, grad, hess = _vgh(lambda x: fn(x, t[keep]), p[keep])
    assert_all_finite((value, grad, hess))
    gt = jax.grad(lambda y: jnp.sum(fn(p, y)))(t)
    assert_all_finite(gt)
    # p = t = [1e30, 1e30]: 1 - 2 * 2e60 / 4e30 without overflowing sum(p * t).
    big = jnp.array([1e30, 1e30])
    if name == "dice":
        np.testing.assert_allclose(fn(big, big), 1.0 - 1e30, rtol=1e-5)
    else:
        # TP = FP = 1e30, FN = 1 - 1e30: the ratio is 1e30 / (1e30 + 0.5).
        np.testing.assert_allclose(fn(big, jnp.array([1.0, 0.0])), 0.0, atol=1e-6)


@pytest.mark.parametrize("name", FNS)
def test_gradients_check_in_float64(name):
    fn = getattr(jaxloss, name)
    p, t = _inputs(5, (2, 4))
    opts = {"alpha": 0.3, "beta": 0.8} if name == "tversky" else {}
    f = jax.jit(lambda x, y: fn(x, y, **opts))
    check_grads_x64(f, (p * 0.8 + 0.1, t))
    # Inputs beyond 1 take the scaled path; its derivative is the formula's.
    check_grads_x64(f, (p * 50.0 + 2.0, t * 3.0))


@pytest.mark.parametrize("name", FNS)
def test_scaled_path_gradient_matches_unscaled_formula(name):
    # The scale s is a stop_gradient constant; the gradient must still be the
    # derivative of the formula (checked against autodiff of the plain one).
    p, t = _inputs(6, (2, 4))
    p = p * 40.0 + 3.0
    if name == "dice":

        def plain(x):
            return 1.0 - 2.0 * jnp.sum(x * t, -1) / (jnp.sum(t, -1) + jnp.sum(x, -1) + 1e-7)
    else:

        def plain(x):
            tp = jnp.sum(x * t, -1)
            return 1.0 - tp / (tp + 0.5 * jnp.sum(x * (1 - t), -1) + 0.5 * jnp.sum((1 - x) * t, -1) + 1e-7)

    fn = getattr(jaxloss, name)
    g = jax.grad(lambda x: jnp.sum(fn(x, t)))(p)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(plain(x)))(p), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(fn(p, t), plain(p), rtol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("name", FNS)
def test_16_bit_inputs_compute_in_float32(name, dtype):
    fn = getattr(jaxloss, name)
    p, t = _inputs(7)
    p16 = jnp.asarray(p, dtype)
    out = fn(p16, jnp.asarray(t, dtype))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, fn(p16.astype(jnp.float32), t), rtol=1e-6)


@pytest.mark.parametrize("name", FNS)
def test_float64_stays_float64(name):
    p, t = _inputs(8)
    with jax.enable_x64(True):
        out = getattr(jaxloss, name)(jnp.asarray(p, jnp.float64), t)
        assert out.dtype == jnp.float64


@pytest.mark.parametrize("name", FNS)
def test_eager_jit_vmap_agree(name):
    p, t = _inputs(9, (4, 6))
    assert_transform_invariant(getattr(jaxloss, name), p, t)
    # Options are static: a static argument of jit works, a traced one says so.
    fn = getattr(jaxloss, name)
    jitted = jax.jit(lambda x, y, e: fn(x, y, epsilon=e), static_argnums=2)
    np.testing.assert_allclose(jitted(p, t, 1e-3), fn(p, t, epsilon=1e-3), rtol=1e-6)
    with pytest.raises(TypeError, match="`epsilon` is a static option"):
        jax.jit(lambda x, y, e: fn(x, y, epsilon=e))(p, t, 1e-3)


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: jaxloss.dice(np.ones((2, 3)), np.ones((2, 4))), ValueError, "targets"),
        (lambda: jaxloss.dice(np.ones((2, 3), np.int32), np.ones((2, 3))), TypeError, "predictions"),
        (lambda: jaxloss.dice(np.ones((2, 3)), np.ones((2, 3)), axis=2), ValueError, "axis"),
        (lambda: jaxloss.dice(np.ones((2, 3)), np.ones((2, 3)), axis=(1, -1)), ValueError, "repeats"),
        (lambda: jaxloss.dice(np.ones((2, 3)), np.ones((2, 3)), axis=1.0), TypeError, "axis"),
        (lambda: jaxloss.dice(np.ones((2, 3)), np.ones((2, 3)), epsilon=-1e-7), ValueError, "epsilon"),
        (lambda: jaxloss.tversky(np.ones((2, 3)), np.ones((2, 3)), alpha=-0.1), ValueError, "alpha"),
        (lambda: jaxloss.tversky(np.ones((2, 3)), np.ones((2, 3)), beta=-1.0), ValueError, "beta"),
        (lambda: jaxloss.tversky(np.ones((2, 3)), None), TypeError, "targets"),
    ],
)
def test_trace_time_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_errors_raise_under_jit():
    with pytest.raises(ValueError, match="targets"):
        jax.jit(jaxloss.dice)(jnp.ones((2, 3)), jnp.ones((3, 2)))


@pytest.mark.parametrize("name", FNS)
def test_hessian_at_huge_inputs(name):
    # Inputs of 1e20 scale the overlap sums down to ~1e-20, whose ratio's
    # autodiff squared the denominator (1e-40 flushes to 0): a nan Hessian.
    fn = getattr(jaxloss, name)
    for p, t in (
        ([1e20, 0.5], [1.0, 1.0]),
        ([1e20, 1.0, 0.0], [1.0, 0.0, 1.0]),
        ([0.5, 1e20], [0.0, 0.0]),
        ([1e20, 1e20], [0.0, 1.0]),
    ):
        p, t = jnp.array(p), jnp.array(t)
        h = jax.jit(jax.hessian(lambda a, b: fn(a, b), argnums=(0, 1)))(p, t)
        assert_all_finite(h, "Hessian")
        assert_all_finite(jax.grad(lambda a, b: fn(a, b), argnums=(0, 1))(p, t), "gradient")
    # A huge prediction against a binary target: Dice's gradient is the
    # formula's, 2 t / S - 2 sum(p t) / S**2 with S = sum(p) + sum(t).
    p, t = jnp.array([1e20, 1e20, 1e20]), jnp.array([1e20, 1e20, 1e20])
    np.testing.assert_allclose(jax.grad(lambda a: jaxloss.dice(a, t))(p), [-1 / 6] * 3, rtol=1e-5)
