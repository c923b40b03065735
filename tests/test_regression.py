"""Core tests of the regression losses (jax + numpy only)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import (
    EXTREME_LOGITS,
    assert_all_finite,
    assert_transform_invariant,
    check_grads_x64,
    value_grad_hessian,
)

ELEMENTWISE = ["squared_error", "absolute_error", "huber", "log_cosh"]


def _vgh(fn, x):
    """``value_grad_hessian`` under one ``jit`` (eager Hessians are slow to dispatch)."""
    return jax.jit(lambda z: value_grad_hessian(fn, z))(x)


def _np_huber(e, delta=1.0):
    a = np.abs(np.float64(e))
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))


def _np_reference(name, p, t):
    e = np.float64(p) - np.float64(t)
    return {
        "squared_error": e**2,
        "absolute_error": np.abs(e),
        "huber": _np_huber(e),
        "log_cosh": np.logaddexp(e, -e) - np.log(2.0),
    }[name]


def _inputs(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    p = (rng.normal(size=shape) * 3).astype(np.float32)
    t = (rng.normal(size=shape) * 3).astype(np.float32)
    return p, t


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_values(name):
    p, t = _inputs()
    out = getattr(jaxloss, name)(p, t)
    assert out.shape == p.shape and out.dtype == jnp.float32
    # log_cosh = |e| + softplus(-2|e|) - log 2 loses ~1 ulp of log 2 near 0.
    atol = 1e-7 if name == "log_cosh" else 0.0
    np.testing.assert_allclose(out, _np_reference(name, p, t), rtol=1e-6, atol=atol)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_broadcast_and_exact_zero(name):
    fn = getattr(jaxloss, name)
    p, _ = _inputs(1, (3, 4))
    t = np.full((4,), 1.5, np.float32)
    assert fn(p, t).shape == (3, 4)
    # Targets broadcast to the predictions, never the other way.
    with pytest.raises(ValueError, match=r"`targets` of shape \(3, 4\) must broadcast to the shape of `predictions`"):
        fn(t, p)
    np.testing.assert_array_equal(fn(p, p), 0.0)


@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
def test_huber_delta_and_gradient_is_clipped_error(delta):
    p, t = _inputs(2)
    np.testing.assert_allclose(jaxloss.huber(p, t, delta=delta), _np_huber(p - t, delta), rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(jaxloss.huber(x, t, delta=delta)))(p)
    np.testing.assert_allclose(g, np.clip(p - t, -delta, delta), rtol=1e-6)


def test_log_cosh_derivative_is_tanh():
    p, t = _inputs(3)
    g = jax.grad(lambda x: jnp.sum(jaxloss.log_cosh(x, t)))(p)
    np.testing.assert_allclose(g, np.tanh(np.float64(p - t)), rtol=1e-6, atol=1e-7)


def test_log_cosh_large_errors_do_not_overflow():
    e = jnp.array([100.0, 1e4, 1e30])
    np.testing.assert_allclose(jaxloss.log_cosh(e, jnp.zeros(3)), np.float64(e) - np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize("name", ["absolute_error", "huber", "log_cosh"])
def test_extreme_inputs_finite(name):
    fn = getattr(jaxloss, name)
    t = jnp.flip(jnp.asarray(EXTREME_LOGITS)) * 0.5
    v, g, h = _vgh(lambda x: fn(x, t), jnp.asarray(EXTREME_LOGITS))
    assert_all_finite((v, g, h))


def test_squared_error_overflow_is_inf_with_finite_derivatives():
    # (2e30)**2 is beyond float32: the true value is inf; the gradient and
    # Hessian are exact and finite.
    x = jnp.array([1e30, -1e30, 1.0])
    v, g, h = _vgh(lambda z: jaxloss.squared_error(z, jnp.array([-1e30, 1e30, 0.0])), x)
    assert float(v) == np.inf
    np.testing.assert_allclose(g, [4e30, -4e30, 2.0], rtol=1e-6)
    np.testing.assert_allclose(h, np.diag([2.0, 2.0, 2.0]))


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit_inputs_compute_in_float32(name, dtype):
    fn = getattr(jaxloss, name)
    p, t = _inputs(4)
    p16, t16 = jnp.asarray(p, dtype), jnp.asarray(t, dtype)
    out = fn(p16, t16)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, fn(p16.astype(jnp.float32), t16.astype(jnp.float32)), rtol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE + ["cosine_distance"])
def test_float64_stays_float64(name):
    with jax.enable_x64(True):
        out = getattr(jaxloss, name)(jnp.ones((2, 3), jnp.float64), jnp.zeros((2, 3), jnp.float64))
        assert out.dtype == jnp.float64


@pytest.mark.parametrize("name", ELEMENTWISE + ["cosine_distance"])
def test_jit_vmap(name):
    p, t = _inputs(5)
    assert_transform_invariant(getattr(jaxloss, name), p, t)


def test_grads_x64():
    p, t = _inputs(6, (2, 3))
    p = p + np.sign(p - t) * 0.3  # keep away from the Huber switch and 0
    check_grads_x64(jax.jit(lambda a, b: jaxloss.log_cosh(a, b) + jaxloss.huber(a, b, delta=0.7)), (p, t))
    check_grads_x64(jax.jit(lambda a, b: jaxloss.squared_error(a, b) + jaxloss.absolute_error(a, b)), (p, t))
    check_grads_x64(jax.jit(lambda a, b: jaxloss.cosine_distance(a, b)), (p, t))


# --------------------------------------------------------------------------
# cosine distance
# --------------------------------------------------------------------------


def _np_cosine(p, t, axis=-1, eps=1e-12):
    p, t = np.float64(p), np.float64(t)
    norm = lambda x: x / np.sqrt(np.maximum((x**2).sum(axis, keepdims=True), eps))  # noqa: E731
    return 1.0 - (norm(p) * norm(t)).sum(axis)


def test_cosine_values_axis_and_range():
    p, t = _inputs(7, (3, 4, 5))
    for axis in (-1, 0, 1):
        out = jaxloss.cosine_distance(p, t, axis=axis)
        np.testing.assert_allclose(out, _np_cosine(p, t, axis), rtol=1e-6, atol=1e-6)
    out = jaxloss.cosine_distance(p, p)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)
    np.testing.assert_allclose(jaxloss.cosine_distance(p, -p), 2.0, rtol=1e-6)
    # Scale invariance (above the epsilon floor on the squared norm).
    out = jaxloss.cosine_distance(p * 1e20, t * 1e-3)
    np.testing.assert_allclose(out, _np_cosine(p, t), rtol=1e-5, atol=1e-6)


def test_cosine_targets_broadcast():
    p, _ = _inputs(8, (3, 4))
    t = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    np.testing.assert_allclose(jaxloss.cosine_distance(p, t), _np_cosine(p, t[None]), rtol=1e-6)


def test_cosine_zero_vectors_finite_gradient():
    p = jnp.zeros((2, 3))
    t = jnp.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    fn = lambda a, b: jnp.sum(jaxloss.cosine_distance(a, b))  # noqa: E731
    np.testing.assert_array_equal(jaxloss.cosine_distance(p, t), [1.0, 1.0])
    gp, gt = jax.jit(jax.grad(fn, argnums=(0, 1)))(p, t)
    assert_all_finite((gp, gt), "gradient")
    # The gradient at a zero vector is that of x / sqrt(epsilon): -t_hat / 1e-6.
    np.testing.assert_allclose(gp[0], -np.array([1.0, 2.0, 2.0]) / 3.0 / 1e-6, rtol=1e-4)
    np.testing.assert_array_equal(gp[1], 0.0)
    h = jax.jit(jax.hessian(fn, argnums=(0, 1)))(p, t)
    assert_all_finite(h, "hessian")


def test_cosine_extreme_magnitudes():
    t = jnp.array([[1.0, 2.0, -2.0], [1.0, 2.0, -2.0]])
    for scale in (1e30, 1e-30):
        p = jnp.array([[1.0, 2.0, -2.0], [-2.0, 1.0, 0.0]]) * scale
        v, g, h = _vgh(lambda x: jaxloss.cosine_distance(x, t), p)
        assert_all_finite((v, g, h))
        out = jaxloss.cosine_distance(p, t)
        if scale > 1:
            np.testing.assert_allclose(out, [0.0, 1.0], atol=1e-6)
        else:
            # 1e-30 vectors have squared norm below epsilon: they normalise to ~0.
            np.testing.assert_allclose(out, [1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_cosine_16bit(dtype):
    p, t = _inputs(9)
    p16, t16 = jnp.asarray(p, dtype), jnp.asarray(t, dtype)
    out = jaxloss.cosine_distance(p16, t16)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_cosine(np.float32(p16), np.float32(t16)), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE + ["cosine_distance"])
def test_errors(name):
    fn = getattr(jaxloss, name)
    with pytest.raises(ValueError, match="`predictions`.*`targets`|`targets`.*`predictions`"):
        fn(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(TypeError, match="`predictions`"):
        fn(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3)))
    with pytest.raises(TypeError, match="`targets`"):
        fn(jnp.zeros((2, 3)), None)


def test_option_errors():
    x = jnp.zeros(3)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="`delta`"):
            jaxloss.huber(x, x, delta=bad)
    for bad in (0.0, -1e-12):
        with pytest.raises(ValueError, match="`epsilon`"):
            jaxloss.cosine_distance(x, x, epsilon=bad)
    with pytest.raises(ValueError, match="`axis`"):
        jaxloss.cosine_distance(x, x, axis=1)
    with pytest.raises(TypeError, match="`delta`"):
        jaxloss.huber(x, x, delta="1")


def test_delta_is_a_static_option():
    p, t = _inputs(10)
    out = jax.jit(lambda d: jaxloss.huber(p, t, delta=d), static_argnums=0)(0.5)
    np.testing.assert_allclose(out, _np_huber(p - t, 0.5), rtol=1e-6)
    with pytest.raises(TypeError, match="`delta` is a static option"):
        jax.jit(lambda d: jaxloss.huber(p, t, delta=d))(0.5)


# --------------------------------------------------------------------------
# percentage, log and pairwise errors; cosine distance without normalising
# --------------------------------------------------------------------------


def test_absolute_percentage_error_values_and_gradient():
    p, t = _inputs(10)
    t[0, :2] = [0.0, 1e-9]
    out = jaxloss.absolute_percentage_error(p, t)
    ref = 100 * np.abs(np.float64(t) - p) / np.maximum(np.abs(np.float64(t)), 1e-7)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(jaxloss.absolute_percentage_error(x, t)))(p)
    np.testing.assert_allclose(g, -100 * np.sign(t - p) / np.maximum(np.abs(t), 1e-7), rtol=1e-6)
    assert float(jax.grad(lambda x: jaxloss.absolute_percentage_error(x, 2.0))(2.0)) == 0.0
    check_grads_x64(jax.jit(jaxloss.absolute_percentage_error), (p, np.where(np.abs(t) < 0.5, 1.0, t)))


def test_squared_log_error_values_and_gradient_below_the_clip():
    rng = np.random.default_rng(11)
    p = (rng.random((3, 4)) * 3).astype(np.float32)
    t = (rng.random((3, 4)) * 3).astype(np.float32)
    p[0, :2] = [-2.0, 0.0]
    out = jaxloss.squared_log_error(p, t)
    ref = (np.log1p(np.maximum(np.float64(p), 1e-7)) - np.log1p(np.maximum(np.float64(t), 1e-7))) ** 2
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-9)
    g = jax.grad(lambda x: jnp.sum(jaxloss.squared_log_error(x, t)))(p)
    clipped = np.maximum(p, 1e-7)
    expected = 2 * (np.log1p(clipped) - np.log1p(np.maximum(t, 1e-7))) / (1 + clipped)
    np.testing.assert_allclose(g, expected, rtol=1e-5)
    assert g[0, 0] < 0 and g[0, 0] == g[0, 0]  # below the clip: the formula's, not Keras's 0
    check_grads_x64(jax.jit(jaxloss.squared_log_error), (p + 3.0, t + 0.5))


def _np_pairwise(p, t, n=None):
    d = np.float64(p) - np.float64(t)
    s2, s1 = (d**2).sum(-1), d.sum(-1)
    n = d.shape[-1] if n is None else np.float64(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(np.maximum(n - 1, 0) > 0, s2 / np.maximum(n - 1, 0), 0.0)
        t2 = np.where(np.maximum(n * (n - 1), 0) > 0, s1**2 / np.maximum(n * (n - 1), 0), 0.0)
    return 2 * t1 - 2 * t2


def test_pairwise_squared_error_values():
    p, t = _inputs(12)
    out = jaxloss.pairwise_squared_error(p, t)
    d = np.float64(p) - t
    brute = np.array([np.mean([(r[i] - r[j]) ** 2 for i in range(5) for j in range(i + 1, 5)]) for r in d])
    np.testing.assert_allclose(out, brute, rtol=1e-5)
    np.testing.assert_allclose(out, _np_pairwise(p, t), rtol=1e-5)
    # Invariant to a constant shift; n <= 1 gives 0; axis tuple and None.
    np.testing.assert_allclose(jaxloss.pairwise_squared_error(p + 100.0, t), out, rtol=1e-4)
    np.testing.assert_array_equal(jaxloss.pairwise_squared_error(p[:, :1], t[:, :1]), 0.0)
    p3 = p.reshape(2, 2, 5)
    t3 = t.reshape(2, 2, 5)
    np.testing.assert_allclose(
        jaxloss.pairwise_squared_error(p3, t3, axis=(1, 2)),
        _np_pairwise(p3.reshape(2, 10), t3.reshape(2, 10)),
        rtol=1e-5,  # noqa: E501
    )
    np.testing.assert_allclose(
        jaxloss.pairwise_squared_error(p, t, axis=None), _np_pairwise(p.ravel(), t.ravel()), rtol=1e-5
    )


def test_pairwise_squared_error_where_and_count():
    p, t = _inputs(13)
    mask = np.ones_like(p, bool)
    mask[0, 1:3] = False
    mask[1, :4] = False
    poisoned = p.copy()
    poisoned[~mask] = np.nan
    f = lambda x: jaxloss.pairwise_squared_error(x, t, where=mask)  # noqa: E731
    out = f(poisoned)
    assert np.isfinite(out[0])
    np.testing.assert_allclose(out[0], _np_pairwise(p[0][mask[0]], t[0][mask[0]]), rtol=1e-5)
    assert out[1] == 0.0  # one entry left: no pairs
    g = jax.grad(lambda x: jnp.sum(f(x)))(poisoned)
    assert_all_finite(g)
    assert np.all(np.asarray(g)[~mask] == 0)
    # count: TF1's n (non-zero weights) with sums over every entry.
    n = np.array([3.0, 5.0, 1.0, 0.0])
    np.testing.assert_allclose(jaxloss.pairwise_squared_error(p, t, count=n), _np_pairwise(p, t, n), rtol=1e-5)
    check_grads_x64(jax.jit(lambda x: jaxloss.pairwise_squared_error(x, t, count=n)), (p,))


def test_pairwise_squared_error_extremes():
    p = jnp.array([[1e30, -1e30, 0.0], [1e30, 1e30, 1e30], [0.0, 1.0, 2.0]])
    t = jnp.zeros((3, 3))
    for count in [None, jnp.array([3.0, 3.0, 2.0])]:
        f = lambda x, c=count: jaxloss.pairwise_squared_error(x, t, count=c)  # noqa: E731
        v, g = jax.jit(lambda x, f=f: (f(x), jax.grad(lambda z: jnp.sum(f(z)))(x)))(p)
        assert not np.any(np.isnan(v))
        assert_all_finite(g)
    # A constant row of 1e30 differences has no pairwise error, exactly.
    assert jaxloss.pairwise_squared_error(p, t)[1] == 0.0


def test_cosine_distance_without_normalising():
    p, t = _inputs(14)
    np.testing.assert_allclose(
        jaxloss.cosine_distance(p, t, normalize=False), 1 - np.sum(np.float64(p) * t, -1), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        jaxloss.cosine_distance(p, t, axis=0, normalize=False), 1 - np.sum(np.float64(p) * t, 0), rtol=1e-5, atol=1e-5
    )
    # The default still normalises.
    pn = p / np.linalg.norm(p, axis=-1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=-1, keepdims=True)
    np.testing.assert_allclose(jaxloss.cosine_distance(p, t), 1 - np.sum(pn * tn, -1), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="normalize"):
        jaxloss.cosine_distance(p, t, normalize="no")


@pytest.mark.parametrize("name", ["absolute_percentage_error", "squared_log_error", "pairwise_squared_error"])
def test_new_regression_losses_dtypes_and_transforms(name):
    fn = getattr(jaxloss, name)
    p, t = _inputs(15)
    p16 = jnp.asarray(p, jnp.bfloat16)
    out = fn(p16, jnp.asarray(t, jnp.float16))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, fn(p16.astype(jnp.float32), jnp.asarray(t, jnp.float16).astype(jnp.float32)))
    assert_transform_invariant(fn, p, t, rtol=1e-5)
    v, g = jax.jit(lambda x: (fn(x, 0.5), jax.grad(lambda z: jnp.sum(fn(z, 0.5)))(x)))(jnp.asarray(EXTREME_LOGITS))
    assert not np.any(np.isnan(v))
    assert_all_finite(g)


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: jaxloss.absolute_percentage_error(np.ones(3), np.ones(4)), ValueError, "targets"),
        (lambda: jaxloss.absolute_percentage_error(np.ones(3), np.ones(3), epsilon=0.0), ValueError, "epsilon"),
        (lambda: jaxloss.squared_log_error(np.ones(3, np.int32), np.ones(3)), TypeError, "predictions"),
        (lambda: jaxloss.squared_log_error(np.ones(3), np.ones(3), epsilon=-1.0), ValueError, "epsilon"),
        (lambda: jaxloss.pairwise_squared_error(np.ones((2, 3)), np.ones((3, 2))), ValueError, "targets"),
        (lambda: jaxloss.pairwise_squared_error(np.ones((2, 3)), np.ones((2, 3)), axis=2), ValueError, "axis"),
        (
            lambda: jaxloss.pairwise_squared_error(np.ones((2, 3)), np.ones((2, 3)), where=np.ones(3)),
            TypeError,
            "where",
        ),  # noqa: E501
        (
            lambda: jaxloss.pairwise_squared_error(np.ones((2, 3)), np.ones((2, 3)), count=np.ones(3)),
            ValueError,
            "count",
        ),  # noqa: E501
    ],
)
def test_new_regression_trace_time_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_cosine_distance_of_huge_vectors():
    # The norm of [5e37] * 4 is 1e38: dividing by it went through a reciprocal
    # that flushes to 0 (distance 1); the vectors are scaled before squaring.
    for big in (5e37, 1e38, 3e38):
        p = jnp.full((4,), big, jnp.float32)
        t = jnp.ones((4,))
        np.testing.assert_allclose(jaxloss.cosine_distance(p, t), 0.0, atol=1e-6)
        np.testing.assert_allclose(jax.jit(jaxloss.cosine_distance)(p, t), 0.0, atol=1e-6)
        np.testing.assert_allclose(jaxloss.cosine_distance(p, -t), 2.0, rtol=1e-6)
        grads = jax.grad(lambda a, b: jaxloss.cosine_distance(a, b), argnums=(0, 1))(p, t.at[0].set(2.0))
        assert_all_finite(grads, "gradient")
    q = jnp.array([3e38, 0.0, -3e38])
    e0 = jnp.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(jaxloss.cosine_distance(q, e0), 1.0 - 1.0 / np.sqrt(2.0), rtol=1e-6)


def test_absolute_percentage_error_gradient_finite_for_huge_error_over_small_target():
    """A huge error over a target below epsilon: finite gradients (nan before the select in the denominator)."""
    p = jnp.array([1e29, -1e29, 0.0, 3.0], jnp.float32)
    t = jnp.array([0.0, 1e-30, 1e29, -1e29], jnp.float32)
    gp, gt = jax.grad(lambda p, t: jnp.sum(jaxloss.absolute_percentage_error(p, t)), (0, 1))(p, t)
    # d/dp = -100 sign(t - p) / max(|t|, eps); d/dt = 100 sign(t - p) / d - 100 |t - p| sign(t) / t**2 (|t| > eps).
    np.testing.assert_allclose(gp, [1e9, -1e9, -1e-27, 1e-27], rtol=1e-6)
    np.testing.assert_allclose(gt, [-1e9, 1e9, 0.0, 0.0], rtol=1e-6, atol=1e-33)
