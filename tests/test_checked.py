"""jaxloss.checked: bad input values raise under jit, naming the argument and the index."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss.compat import keras, tf_v1

RuntimeErr = jax.errors.JaxRuntimeError
LOGITS = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
PROBS = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
ONE_HOT = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _jit_checked(fn, **options):
    return jax.jit(jaxloss.checked(fn, **options))


# --- integer labels out of range ---------------------------------------------


def test_label_above_range_names_labels_and_index():
    ce = _jit_checked(jaxloss.sparse_softmax_cross_entropy)
    with pytest.raises(
        RuntimeErr,
        match=r"`labels` holds a class index outside \[0, 3\).*index \(1,\) "
        r"\(flat index 1\) holds 3",
    ):
        ce(LOGITS, jnp.array([0, 3]))


def test_negative_label_multi_index():
    ce = _jit_checked(jaxloss.sparse_softmax_cross_entropy)
    logits = jnp.zeros((2, 2, 3))
    with pytest.raises(RuntimeErr, match=r"`labels`.*index \(1, 0\) \(flat index 2\) holds -1"):
        ce(logits, jnp.array([[0, 1], [-1, 2]]))


def test_ignore_index_is_not_an_error():
    labels = jnp.array([-100, 1])
    ce = _jit_checked(functools.partial(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100))
    np.testing.assert_allclose(
        ce(LOGITS, labels), jaxloss.sparse_softmax_cross_entropy(LOGITS, labels, ignore_index=-100), rtol=1e-6
    )
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100, reduction="sum")
    np.testing.assert_allclose(_jit_checked(loss)(LOGITS, labels), loss(LOGITS, labels), rtol=1e-6)
    with pytest.raises(RuntimeErr, match=r"`labels`.*flat index 0\) holds -7"):
        _jit_checked(loss)(LOGITS, jnp.array([-7, 1]))


def test_fused_labels_checked_against_vocabulary():
    fused = _jit_checked(jaxloss.fused_linear_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`labels` holds a class index outside \[0, 5\).*holds 5"):
        fused(jnp.ones((2, 4)), jnp.ones((4, 5)), jnp.array([0, 5]))


def test_compat_twin_labels():
    scce = _jit_checked(keras.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(RuntimeErr, match=r"SparseCategoricalCrossentropy: `y_true`.*outside \[0, 3\).*holds 9"):
        scce(jnp.array([9, 1]), LOGITS)
    tf_ce = _jit_checked(tf_v1.sparse_softmax_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`labels`.*index \(0,\).*holds -2"):
        tf_ce(jnp.array([-2, 1]), LOGITS)


def test_compat_twin_class_reads_its_own_options():
    # Before: checked() ignored the instance's ignore_class and raised for label 5.
    logits6 = jnp.zeros((2, 6))
    ignoring = keras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=5)
    value = _jit_checked(ignoring)(jnp.array([5, 1]), logits6)
    np.testing.assert_allclose(value, ignoring(jnp.array([5, 1]), logits6), rtol=1e-6)
    np.testing.assert_allclose(value, np.log(6.0), rtol=1e-6)  # the ignored sample is not counted
    with pytest.raises(RuntimeErr, match=r"`y_true` holds a class index outside \[0, 3\) that is not ignored.*holds 7"):
        _jit_checked(keras.SparseCategoricalCrossentropy(ignore_class=5))(jnp.array([1, 7]), PROBS)
    # and its from_logits: logits are not checked as probabilities
    bad = jnp.array([[2.0, 0.0, 0.0], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(
        jaxloss.checked(keras.CategoricalCrossentropy(from_logits=True))(ONE_HOT, bad),
        keras.CategoricalCrossentropy(from_logits=True)(ONE_HOT, bad),
    )
    with pytest.raises(RuntimeErr, match=r"`y_pred` holds a probability outside \[0, 1\]"):
        _jit_checked(keras.CategoricalCrossentropy())(ONE_HOT, bad)


# --- probabilities outside [0, 1] --------------------------------------------


def test_probability_above_one():
    bce = _jit_checked(jaxloss.binary_cross_entropy)
    with pytest.raises(
        RuntimeErr,
        match=r"binary_cross_entropy: `probs` holds a probability outside \[0, 1\].*"
        r"index \(1, 0\) \(flat index 2\) holds 1.5",
    ):
        bce(jnp.array([[0.2, 0.3], [1.5, 0.1]]), jnp.ones((2, 2)))


def test_negative_probability_categorical():
    cce = _jit_checked(jaxloss.categorical_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`probs` holds a probability outside \[0, 1\].*index \(0, 2\)"):
        cce(jnp.array([[0.7, 0.4, -0.1], [0.1, 0.8, 0.1]]), ONE_HOT)


def test_keras_probabilities_checked_only_without_from_logits():
    bad = jnp.array([[2.0, 0.0, 0.0], [0.1, 0.8, 0.1]])
    with pytest.raises(RuntimeErr, match=r"`y_pred` holds a probability outside \[0, 1\]"):
        _jit_checked(keras.categorical_crossentropy)(ONE_HOT, bad)
    logits_ok = jaxloss.checked(keras.categorical_crossentropy)(ONE_HOT, bad, from_logits=True)
    np.testing.assert_allclose(logits_ok, keras.categorical_crossentropy(ONE_HOT, bad, from_logits=True))


# --- negative weights --------------------------------------------------------


def test_negative_weight_in_reduce():
    red = _jit_checked(jaxloss.reduce)
    with pytest.raises(RuntimeErr, match=r"reduce: `weights` holds a negative weight.*index \(2,\).*holds -1"):
        red(jnp.ones(3), jnp.array([1.0, 0.0, -1.0]))


def test_negative_weight_in_loss_and_class_weights():
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`weights` holds a negative weight.*index \(0,\)"):
        _jit_checked(loss)(LOGITS, jnp.array([0, 1]), weights=jnp.array([-0.5, 1.0]))
    ce = _jit_checked(jaxloss.sparse_softmax_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`class_weights` holds a negative weight.*index \(1,\)"):
        ce(LOGITS, jnp.array([0, 1]), class_weights=jnp.array([1.0, -2.0, 1.0]))


def test_negative_sample_weight_in_twin():
    mse = _jit_checked(keras.MeanSquaredError())
    with pytest.raises(RuntimeErr, match=r"`sample_weight` holds a negative weight.*index \(1,\)"):
        mse(ONE_HOT, PROBS, jnp.array([1.0, -1.0]))


# --- non-finite inputs -------------------------------------------------------


def test_nan_prediction():
    se = _jit_checked(jaxloss.squared_error)
    with pytest.raises(RuntimeErr, match=r"squared_error: `predictions` must be finite.*index \(0, 1\).*holds nan"):
        se(jnp.array([[1.0, jnp.nan]]), jnp.zeros((1, 2)))


def test_inf_target():
    ce = _jit_checked(jaxloss.softmax_cross_entropy)
    with pytest.raises(RuntimeErr, match=r"`labels` must be finite.*index \(1, 2\).*holds inf"):
        ce(LOGITS, ONE_HOT.at[1, 2].set(jnp.inf))


def test_masked_nan_is_not_an_error():
    ce = _jit_checked(jaxloss.softmax_cross_entropy)
    where = jnp.array([[True, True, False], [True, True, True]])
    logits = LOGITS.at[0, 2].set(jnp.nan)
    out = ce(logits, ONE_HOT, where=where)
    np.testing.assert_allclose(out, jaxloss.softmax_cross_entropy(logits, ONE_HOT, where=where), rtol=1e-6)


def test_finite_check_can_be_turned_off_for_minus_inf_logits():
    logits = LOGITS.at[0, 2].set(-jnp.inf)
    with pytest.raises(RuntimeErr, match=r"`logits` must be finite"):
        _jit_checked(jaxloss.softmax_cross_entropy)(logits, ONE_HOT)
    out = _jit_checked(jaxloss.softmax_cross_entropy, finite=False)(logits, ONE_HOT)
    assert np.all(np.isfinite(np.asarray(out)))


# --- good input: no error, same values and gradients ------------------------

GOOD_CALLS = [
    ("sparse_softmax_cross_entropy", jaxloss.sparse_softmax_cross_entropy, (LOGITS, jnp.array([0, 2]))),
    ("softmax_cross_entropy", jaxloss.softmax_cross_entropy, (LOGITS, ONE_HOT)),
    ("binary_cross_entropy", jaxloss.binary_cross_entropy, (PROBS, ONE_HOT)),
    ("categorical_cross_entropy", jaxloss.categorical_cross_entropy, (PROBS, ONE_HOT)),
    ("reduce", jaxloss.reduce, (LOGITS, jnp.ones((2, 3)))),
    ("fused", jaxloss.fused_linear_cross_entropy, (jnp.ones((2, 4)), jnp.ones((4, 5)), jnp.array([0, 4]))),
    ("Loss", jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.1), (LOGITS, jnp.array([0, 2]))),
    ("keras.CategoricalCrossentropy", keras.CategoricalCrossentropy(), (ONE_HOT, PROBS)),
    ("tf_v1.log_loss", tf_v1.log_loss, (ONE_HOT, PROBS)),
]


@pytest.mark.parametrize(("fn", "args"), [c[1:] for c in GOOD_CALLS], ids=[c[0] for c in GOOD_CALLS])
def test_good_input_same_values_and_gradients(fn, args):
    wrapped = jaxloss.checked(fn)
    np.testing.assert_allclose(jax.jit(wrapped)(*args), fn(*args), rtol=1e-6)
    np.testing.assert_allclose(wrapped(*args), fn(*args), rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(wrapped(x, *args[1:])))(args[0])
    g_ref = jax.grad(lambda x: jnp.sum(fn(x, *args[1:])))(args[0])
    np.testing.assert_allclose(g, g_ref, rtol=1e-6)


def test_eager_call_raises_too():
    with pytest.raises(RuntimeErr, match=r"`labels`.*holds 3"):
        jaxloss.checked(jaxloss.sparse_softmax_cross_entropy)(LOGITS, jnp.array([0, 3]))


def test_vmap_of_checked():
    ce = jax.jit(jax.vmap(jaxloss.checked(jaxloss.sparse_softmax_cross_entropy)))
    stacked = jnp.stack([LOGITS, LOGITS])
    np.testing.assert_allclose(
        ce(stacked, jnp.array([[0, 1], [2, 0]]))[0],
        jaxloss.sparse_softmax_cross_entropy(LOGITS, jnp.array([0, 1])),
        rtol=1e-6,
    )
    with pytest.raises(RuntimeErr, match=r"`labels`"):
        ce(stacked, jnp.array([[0, 1], [2, 3]]))


def test_not_callable():
    with pytest.raises(TypeError, match=r"`fn` must be a callable loss, got 3"):
        jaxloss.checked(3)
