"""jaxloss.Loss: binding, reduction, ignore_index weights, arithmetic, hashing."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
LABELS = np.array([0, 2, -100, 1])


def _per_example(**kw):
    return jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, ignore_index=-100, **kw)


def test_call_is_reduce_of_fn():
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction="sum", ignore_index=-100, label_smoothing=0.1)
    np.testing.assert_allclose(loss(LOGITS, LABELS), jnp.sum(_per_example(label_smoothing=0.1)), rtol=1e-6)


def test_ignored_examples_count_as_weight_zero():
    per = np.asarray(_per_example())
    w = np.array([1.0, 2.0, 5.0, 1.0], np.float32)
    wm = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction="weighted_mean", ignore_index=-100)
    np.testing.assert_allclose(wm(LOGITS, LABELS, weights=w), (per[0] + 2 * per[1] + per[3]) / 4, rtol=1e-6)
    mean = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction="mean", ignore_index=-100)
    np.testing.assert_allclose(mean(LOGITS, LABELS), per.sum() / 3, rtol=1e-6)


def test_where_combines_with_ignore_index():
    where = np.array([True, False, True, True])
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction="weighted_mean", ignore_index=-100)
    per = np.asarray(_per_example())
    np.testing.assert_allclose(loss(LOGITS, LABELS, where=where), (per[0] + per[3]) / 2, rtol=1e-6)


def test_add_and_scale():
    ce = jaxloss.Loss(jaxloss.softmax_cross_entropy)
    poly = jaxloss.Loss(jaxloss.poly1_cross_entropy, reduction="sum", epsilon=2.0)
    both = ce + 0.1 * poly
    onehot = jax.nn.one_hot(np.array([0, 2, 1, 1]), 3)
    expected = ce(LOGITS, onehot) + 0.1 * poly(LOGITS, onehot)
    np.testing.assert_allclose(both(LOGITS, onehot), expected, rtol=1e-6)
    np.testing.assert_allclose((poly * 3.0)(LOGITS, onehot), 3 * poly(LOGITS, onehot), rtol=1e-6)
    assert "0.1 * Loss(poly1_cross_entropy" in repr(both)


def test_hashable_static_argument_and_dict_key():
    a = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, class_weights=np.array([1.0, 2.0, 3.0]))
    b = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, class_weights=np.array([1.0, 2.0, 3.0]))
    c = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, class_weights=np.array([1.0, 2.0, 4.0]))
    assert a == b and hash(a) == hash(b) and a != c
    assert {a: 1}[b] == 1

    step = jax.jit(lambda logits, labels, loss: loss(logits, labels), static_argnums=2)
    labels = np.array([0, 2, 1, 1])
    np.testing.assert_allclose(step(LOGITS, labels, a), a(LOGITS, labels), rtol=1e-6)


def test_immutable_and_errors():
    loss = jaxloss.Loss(jaxloss.softmax_cross_entropy)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.reduction = "sum"
    with pytest.raises(ValueError, match="`reduction`"):
        jaxloss.Loss(jaxloss.softmax_cross_entropy, reduction="avg")
    with pytest.raises(TypeError, match="`fn`"):
        jaxloss.Loss("softmax")
    with pytest.raises(TypeError):
        jaxloss.Loss(jaxloss.softmax_cross_entropy, label_smoothing={0.1})


def test_grad_through_loss():
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100, reduction="weighted_mean")
    g = jax.grad(lambda l: loss(l, LABELS))(jnp.asarray(LOGITS))
    np.testing.assert_array_equal(g[2], 0.0)  # the ignored example
    np.testing.assert_allclose(jnp.sum(g, axis=-1), 0.0, atol=1e-6)


def test_pickle_and_copy_give_an_equal_loss():
    import copy
    import pickle

    # Before: FrozenInstanceError from each.
    loss = jaxloss.Loss(
        jaxloss.sparse_softmax_cross_entropy,
        ignore_index=-100,
        class_weights=np.array([1.0, 2.0, 0.5], np.float32),
        reduction="weighted_mean",
    )
    combined = loss + 0.5 * jaxloss.Loss(jaxloss.poly1_cross_entropy)
    for original in (loss, combined):
        for clone in (pickle.loads(pickle.dumps(original)), copy.copy(original), copy.deepcopy(original)):
            assert clone == original and hash(clone) == hash(original)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(loss))(LOGITS, LABELS), loss(LOGITS, LABELS), rtol=1e-6)


def test_subtract_divide_negate_and_builtin_sum():
    a = jaxloss.Loss(jaxloss.squared_error, reduction="sum")
    b = jaxloss.Loss(jaxloss.absolute_error, reduction="sum")
    x, z = jnp.array([1.0, -2.0, 3.0]), jnp.zeros(3)
    va, vb = float(a(x, z)), float(b(x, z))
    assert float((a - b)(x, z)) == pytest.approx(va - vb)
    assert float((a / 2)(x, z)) == pytest.approx(va / 2)
    assert float((-a)(x, z)) == pytest.approx(-va)
    assert float(sum([a, b, a])(x, z)) == pytest.approx(2 * va + vb)
    assert sum([a]) == a
    with pytest.raises(TypeError):
        a - 1.0
    with pytest.raises(ZeroDivisionError):
        a / 0


def test_class_weights_enter_the_weighted_mean_denominator():
    cw = np.array([1.0, 3.0, 0.5], np.float32)
    loss = jaxloss.Loss(
        jaxloss.sparse_softmax_cross_entropy, ignore_index=-100, class_weights=cw, reduction="weighted_mean"
    )
    per = np.asarray(jaxloss.sparse_softmax_cross_entropy(LOGITS, LABELS, ignore_index=-100, class_weights=cw))
    kept = LABELS != -100
    np.testing.assert_allclose(loss(LOGITS, LABELS), per.sum() / cw[LABELS[kept]].sum(), rtol=1e-6)
    # "mean" still divides by the number of examples that are not ignored.
    mean = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100, class_weights=cw)
    np.testing.assert_allclose(mean(LOGITS, LABELS), per.sum() / 3, rtol=1e-6)
