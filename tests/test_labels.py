"""Integer labels of every integer dtype give the values of int32 labels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

INT_DTYPES = [jnp.int8, jnp.int16, jnp.int32, jnp.uint8, jnp.uint16, jnp.uint32]


def test_int8_labels_with_more_than_127_classes():
    # Before: [nan, nan] (the class count 128 wrapped to -128 in int8 comparisons).
    out = jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 128)), jnp.array([1, 2], jnp.int8))
    np.testing.assert_allclose(out, [4.85203, 4.85203], rtol=1e-5)


def test_int16_labels_with_40000_classes():
    labels = jnp.array([39999, 1], jnp.int16 if 39999 < 2**15 else jnp.uint16)
    out = jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 40000)), labels)
    np.testing.assert_allclose(out, [np.log(40000.0)] * 2, rtol=1e-6)
    wide = jnp.array([39999, 1], jnp.uint16)
    np.testing.assert_allclose(jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 40000)), wide), out)


def test_uint8_label_156_is_not_ignore_index_minus_100():
    # -100 mod 256 == 156: comparing in uint8 would ignore class 156.
    logits = jnp.zeros((1, 200)).at[0, 156].set(3.0)
    got = jaxloss.sparse_softmax_cross_entropy(logits, jnp.array([156], jnp.uint8), ignore_index=-100)
    want = jaxloss.sparse_softmax_cross_entropy(logits, jnp.array([156]), ignore_index=-100)
    assert float(got[0]) > 0
    np.testing.assert_allclose(got, want, rtol=1e-6)
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)
    np.testing.assert_allclose(loss(logits, jnp.array([156], jnp.uint8)), want[0], rtol=1e-6)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: jnp.dtype(d).name)
def test_every_label_dtype_matches_int32(dtype):
    rng = np.random.default_rng(1)
    num_classes = 130 if jnp.iinfo(dtype).max > 130 else 100
    logits = jnp.asarray(rng.normal(size=(6, num_classes)).astype(np.float32))
    y = rng.integers(0, num_classes, 6)
    y[0] = num_classes - 1
    y32, yd = jnp.asarray(y, jnp.int32), jnp.asarray(y).astype(dtype)
    for fn, kw in [
        (jaxloss.sparse_softmax_cross_entropy, {"label_smoothing": 0.1}),
        (jaxloss.multiclass_hinge, {}),
    ]:
        np.testing.assert_allclose(fn(logits, yd, **kw), fn(logits, y32, **kw), rtol=1e-6)
    probs = jax.nn.softmax(logits)
    np.testing.assert_allclose(
        jaxloss.generalized_cross_entropy(probs, yd, q=0.7),
        jaxloss.generalized_cross_entropy(probs, y32, q=0.7),
        rtol=1e-6,
    )
    hidden = jnp.asarray(rng.normal(size=(6, 8)).astype(np.float32))
    weight = jnp.asarray(rng.normal(size=(8, num_classes)).astype(np.float32))
    np.testing.assert_allclose(
        jaxloss.fused_linear_cross_entropy(hidden, weight, yd),
        jaxloss.fused_linear_cross_entropy(hidden, weight, y32),
        rtol=1e-6,
    )


def test_checked_accepts_valid_int8_labels():
    # Before: a false "class index outside [0, 200)" error for valid int8 labels.
    ce = jaxloss.checked(jaxloss.sparse_softmax_cross_entropy)
    out = ce(jnp.zeros((2, 200)), jnp.array([1, 120], jnp.int8))
    np.testing.assert_allclose(out, [np.log(200.0)] * 2, rtol=1e-6)
    with pytest.raises(jax.errors.JaxRuntimeError, match="outside"):
        ce(jnp.zeros((2, 100)), jnp.array([1, 120], jnp.int8))
