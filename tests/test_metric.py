"""Core tests of the contrastive loss (jax + numpy only)."""

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


def _np_contrastive(d, y, margin=1.0):
    d, y = np.float64(d), np.float64(y)
    return y * d**2 + (1 - y) * np.maximum(margin - d, 0.0) ** 2


def _inputs(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    d = (rng.random(shape) * 2).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    return d, y


@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, 2.0])
def test_values(margin):
    d, y = _inputs()
    out = jaxloss.contrastive(d, y, margin=margin)
    assert out.shape == d.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_contrastive(d, y, margin), rtol=1e-6)


def test_soft_and_integer_labels_broadcast():
    d, _ = _inputs(1, (3, 4))
    y = np.array([0.0, 0.25, 1.0, 0.5], np.float32)
    np.testing.assert_allclose(jaxloss.contrastive(d, y), _np_contrastive(d, y[None]), rtol=1e-6)
    yi = np.array([0, 1, 1, 0], np.int32)
    np.testing.assert_allclose(jaxloss.contrastive(d, yi), _np_contrastive(d, yi[None]), rtol=1e-6)


def test_gradient():
    d = jnp.array([0.5, 0.5, 2.0, 0.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.contrastive(x, y)))(d)
    np.testing.assert_allclose(g, [1.0, -1.0, 0.0, 0.0])


def test_huge_distances_no_nan():
    # A dissimilar pair at 1e30 contributes 0 (not 0 * inf); a similar pair's
    # square overflows float32 (the true value), with finite derivatives.
    d = jnp.array([1e30, -1e30, 1e30, 0.3])
    y = jnp.array([0.0, 1.0, 1.0, 0.0])

    def vgh(fn, x):
        return jax.jit(lambda z: value_grad_hessian(fn, z))(x)

    out = jaxloss.contrastive(d, y)
    np.testing.assert_allclose(out, [0.0, np.inf, np.inf, 0.49], rtol=1e-6)
    v, g, h = vgh(lambda x: jaxloss.contrastive(x, y), d)
    assert not np.isnan(float(v))
    assert_all_finite((g, h))
    # Dissimilar pairs at any non-negative distance: finite everywhere.
    v, g, h = vgh(lambda x: jaxloss.contrastive(x, jnp.zeros(4)), jnp.abs(d))
    assert_all_finite((v, g, h))


def test_grads_x64():
    d, y = _inputs(2, (2, 3))
    d = d + 0.05 * (np.abs(d - 1.0) < 0.05)  # away from the margin kink
    y[0, 0] = 0.3
    check_grads_x64(jax.jit(lambda a, b: jaxloss.contrastive(a, b, margin=1.0)), (d, y))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit(dtype):
    d, y = _inputs(3)
    d16 = jnp.asarray(d, dtype)
    out = jaxloss.contrastive(d16, jnp.asarray(y, dtype))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jaxloss.contrastive(d16.astype(jnp.float32), y), rtol=1e-6)


def test_float64_stays_float64():
    with jax.enable_x64(True):
        assert jaxloss.contrastive(jnp.ones(3, jnp.float64), jnp.ones(3)).dtype == jnp.float64


def test_jit_vmap():
    d, y = _inputs(4)
    assert_transform_invariant(lambda a, b: jaxloss.contrastive(a, b, margin=1.5), d, y)
    # Options are static: a static argument of jit, not a traced one.
    out = jax.jit(lambda m: jaxloss.contrastive(d, y, margin=m), static_argnums=0)(1.5)
    np.testing.assert_allclose(out, _np_contrastive(d, y, 1.5), rtol=1e-6)
    with pytest.raises(TypeError, match="`margin` is a static option"):
        jax.jit(lambda m: jaxloss.contrastive(d, y, margin=m))(1.5)


def test_errors():
    with pytest.raises(ValueError, match="`labels`.*must broadcast to the shape of `distances`"):
        jaxloss.contrastive(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(TypeError, match="`distances`"):
        jaxloss.contrastive(jnp.zeros(3, jnp.int32), jnp.zeros(3))
    with pytest.raises(ValueError, match="`margin`"):
        jaxloss.contrastive(jnp.zeros(3), jnp.zeros(3), margin=-1.0)
    with pytest.raises(TypeError, match="`labels`"):
        jaxloss.contrastive(jnp.zeros(3), None)


# --------------------------------------------------------------------------
# circle loss
# --------------------------------------------------------------------------


def _np_circle(e, y, r=None, ry=None, gamma=80.0, margin=0.4, remove_diagonal=True):
    e = np.float64(e)
    r = e if r is None else np.float64(r)
    ry = y if ry is None else ry
    dist = np.maximum(1 - e @ r.T, 0.0)
    pos = y[:, None] == ry[None, :]
    neg = ~pos
    if remove_diagonal:
        pos &= ~np.eye(len(y), len(ry), dtype=bool)
    ap = np.maximum((margin + dist) * pos, 0)
    an = np.maximum((1 + margin - dist) * neg, 0)
    with np.errstate(divide="ignore"):
        lp = np.log(np.sum(np.where(pos, np.exp(-gamma * ap * (margin - dist)), 0), 1))
        ln = np.log(np.sum(np.where(neg, np.exp(gamma * an * (1 - margin - dist)), 0), 1))
    return np.logaddexp(0, lp + ln)


def _embeddings(seed=0, n=8, d=4):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n, d))
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.parametrize(
    "opts", [{"gamma": 2.0}, {"gamma": 5.0, "margin": 0.25}, {"gamma": 1.0, "remove_diagonal": False}]
)  # noqa: E501
def test_circle_values(opts):
    e, y = _embeddings()
    out = jaxloss.circle(e, y, **opts)
    assert out.shape == (8,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_circle(e, y, **opts), rtol=1e-5)


def test_circle_default_gamma_and_references():
    e, y = _embeddings(1)
    r, ry = _embeddings(2, n=5)
    # gamma = 80 makes the exponents ~100: the numpy reference overflows
    # nothing in float64, ours is a stable logsumexp.
    np.testing.assert_allclose(jaxloss.circle(e, y), _np_circle(e, y), rtol=1e-4)
    np.testing.assert_allclose(
        jaxloss.circle(e, y, ref_embeddings=r, ref_labels=ry, gamma=3.0), _np_circle(e, y, r, ry, gamma=3.0), rtol=1e-5
    )
    np.testing.assert_allclose(jaxloss.circle(e, y.astype(np.float32)[:, None]), jaxloss.circle(e, y), rtol=1e-6)


def test_circle_rows_without_positives_or_negatives_are_zero():
    e, _ = _embeddings(3, n=4)
    y = np.array([0, 0, 1, 2])  # rows 2 and 3 have no positive
    f = lambda x: jaxloss.circle(x, y)  # noqa: E731
    out = f(e)
    np.testing.assert_array_equal(out[2:], 0.0)
    assert np.all(out[:2] > 0)
    v, g, h = jax.jit(lambda x: value_grad_hessian(f, x))(e)
    assert_all_finite((v, g, h))
    # One class only: no negatives anywhere.
    same = np.zeros(4, np.int32)
    np.testing.assert_array_equal(jaxloss.circle(e, same), 0.0)
    assert_all_finite(jax.grad(lambda x: jnp.sum(jaxloss.circle(x, same)))(e))
    # A single embedding.
    np.testing.assert_array_equal(jaxloss.circle(e[:1], y[:1]), 0.0)


def test_circle_gradients_and_extremes():
    e, y = _embeddings(4, n=6)
    check_grads_x64(jax.jit(lambda x: jaxloss.circle(x, y, gamma=4.0)), (e,))
    # Opposite and identical directions (distances 2 and 0) at a large gamma.
    x = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    v, g, h = jax.jit(lambda z: value_grad_hessian(lambda w: jaxloss.circle(w, jnp.array([0, 0, 1, 1]), gamma=1e3), z))(
        x
    )  # noqa: E501
    assert_all_finite((v, g, h))


def test_circle_dtypes_and_transforms():
    e, y = _embeddings(5)
    out = jaxloss.circle(jnp.asarray(e, jnp.bfloat16), y)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jaxloss.circle(jnp.asarray(e, jnp.bfloat16).astype(jnp.float32), y), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jaxloss.circle)(e, y), jaxloss.circle(e, y), rtol=1e-6)
    batch = np.stack([e, e[::-1]])
    labels = np.stack([y, y[::-1]])
    np.testing.assert_allclose(
        jax.vmap(jaxloss.circle)(batch, labels), [jaxloss.circle(e, y), jaxloss.circle(e[::-1], y[::-1])], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: jaxloss.circle(np.ones(3), np.zeros(3)), ValueError, "embeddings"),
        (lambda: jaxloss.circle(np.ones((3, 2), np.int32), np.zeros(3)), TypeError, "embeddings"),
        (lambda: jaxloss.circle(np.ones((3, 2)), np.zeros(4)), ValueError, "labels"),
        (
            lambda: jaxloss.circle(np.ones((3, 2)), np.zeros(3), ref_embeddings=np.ones((4, 3))),
            ValueError,
            "ref_embeddings",
        ),  # noqa: E501
        (
            lambda: jaxloss.circle(np.ones((3, 2)), np.zeros(3), ref_embeddings=np.ones((4, 2))),
            ValueError,
            "ref_labels",
        ),  # noqa: E501
        (lambda: jaxloss.circle(np.ones((3, 2)), np.zeros(3), gamma=-1.0), ValueError, "gamma"),
        (lambda: jaxloss.circle(np.ones((3, 2)), np.zeros(3), remove_diagonal=1), TypeError, "remove_diagonal"),
    ],
)
def test_circle_trace_time_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_circle_on_an_empty_batch():
    # No queries: an empty result (Keras's circle gives shape (0,)); no references: 0 per query.
    empty = jaxloss.circle(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32))
    assert empty.shape == (0,) and empty.dtype == jnp.float32
    assert jax.jit(jaxloss.circle)(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32)).shape == (0,)
    assert jax.grad(lambda e: jnp.sum(jaxloss.circle(e, jnp.zeros((0,), jnp.int32))))(jnp.zeros((0, 3))).shape == (0, 3)
    e = jnp.array([[1.0, 0.0], [0.6, 0.8]])
    no_refs = dict(ref_embeddings=jnp.zeros((0, 2)), ref_labels=jnp.zeros((0,), jnp.int32))
    np.testing.assert_array_equal(jaxloss.circle(e, jnp.array([0, 1]), **no_refs), [0.0, 0.0])
    g = jax.grad(lambda x: jnp.sum(jaxloss.circle(x, jnp.array([0, 1]), **no_refs)))(e)
    np.testing.assert_array_equal(g, 0.0)
