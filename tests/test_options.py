"""Options: scalar options are static scalars, per-class options are checked, Loss checks option names."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

LOGITS = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
ONE_HOT = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
LABELS = jnp.array([0, 2])
X = jnp.array([0.5, -2.0, 3.0])
Y = jnp.array([0.0, 1.0, 1.0])

VECTOR_OPTIONS = [
    ("label_smoothing", lambda v: jaxloss.softmax_cross_entropy(LOGITS, ONE_HOT, label_smoothing=v)),
    ("label_smoothing", lambda v: jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, label_smoothing=v)),
    ("z_loss", lambda v: jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, z_loss=v)),
    ("delta", lambda v: jaxloss.huber(X, Y, delta=v)),
    ("gamma", lambda v: jaxloss.sigmoid_focal_loss(X, Y, gamma=v)),
    ("gamma", lambda v: jaxloss.softmax_focal_loss(LOGITS, ONE_HOT, gamma=v)),
    ("epsilon", lambda v: jaxloss.poly1_cross_entropy(LOGITS, ONE_HOT, epsilon=v)),
    ("margin", lambda v: jaxloss.contrastive(jnp.abs(X), Y, margin=v)),
]


@pytest.mark.parametrize(("name", "call"), VECTOR_OPTIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VECTOR_OPTIONS)])
def test_vector_scalar_option_raises(name, call):
    # Before: [0.1, 0.5, 0.9] smoothed along the class axis (or the batch) without a word.
    with pytest.raises(ValueError, match=rf"`{name}` must be a scalar .*got an array of shape \(3,\)"):
        call(jnp.array([0.1, 0.5, 0.9]))
    call(np.float32(0.1))  # a 0-d number is a scalar
    call(jnp.asarray(0.1))


@pytest.mark.parametrize(("name", "call"), VECTOR_OPTIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VECTOR_OPTIONS)])
def test_traced_option_says_options_are_static(name, call):
    # Before: a raw TracerArrayConversionError from deep inside the check.
    with pytest.raises(TypeError, match=rf"`{name}` is a static option .*cannot be a traced value"):
        jax.jit(call)(0.1)


def test_negative_focal_alpha_raises():
    # Before: softmax_focal_loss(alpha=-1.0) returned -0.488.
    with pytest.raises(ValueError, match=r"`alpha` must lie in \[0, inf\], got -1.0"):
        jaxloss.softmax_focal_loss(LOGITS, ONE_HOT, alpha=-1.0)
    with pytest.raises(ValueError, match=r"`alpha` must lie in \[0, inf\]"):
        jaxloss.softmax_focal_loss(LOGITS, ONE_HOT, alpha=jnp.array([1.0, -0.5, 1.0]))
    with pytest.raises(ValueError, match=r"`class_weights` must lie in \[0, inf\]"):
        jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, class_weights=jnp.array([1.0, -1.0, 1.0]))
    per_class = jaxloss.softmax_focal_loss(LOGITS, ONE_HOT, alpha=jnp.array([0.25, 0.5, 0.75]))
    assert np.all(np.asarray(per_class) >= 0)


def test_per_class_option_may_be_traced():
    # Per-class vectors are arrays like weights: traced values are accepted (and not range-checked).
    f = jax.jit(lambda w: jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, class_weights=w))
    np.testing.assert_allclose(
        f(jnp.array([2.0, 1.0, 1.0])),
        jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, class_weights=[2.0, 1.0, 1.0]),
    )


def test_ignore_index_must_be_a_static_int():
    with pytest.raises(TypeError, match="`ignore_index` must be an int or None, got 1.5"):
        jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, ignore_index=1.5)
    with pytest.raises(TypeError, match="`ignore_index` is a static option"):
        jax.jit(lambda i: jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, ignore_index=i))(0)


def test_loss_checks_option_names_at_construction():
    # Before: accepted, and failed only when called.
    with pytest.raises(
        TypeError,
        match="`ignore_idx` is not an option of sparse_softmax_cross_entropy; "
        "its options are: axis, label_smoothing, class_weights, ignore_index",
    ):
        jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_idx=-100)


def test_loss_with_a_traced_option_says_options_are_static():
    def build(a):
        return jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, label_smoothing=a)(LOGITS, LABELS)

    with pytest.raises(TypeError, match="`label_smoothing` is a traced value, but the options of a Loss are static"):
        jax.jit(build)(0.1)
