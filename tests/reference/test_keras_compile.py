"""A twin of ``jaxloss.compat.keras`` as the ``loss=`` of ``keras.Model.compile``.

Keras (JAX backend, set by conftest) keeps a ``loss=`` object as it is only
when it is a ``keras.losses.Loss``; otherwise it wraps it in a
``LossFunctionWrapper`` that never passes ``sample_weight`` on. The twins
become ``keras.losses.Loss`` instances when Keras is imported (see the module
docstring of :mod:`jaxloss.compat.keras`). Each test fits a tiny model for a
few epochs with a twin, checks that the loss goes down, and that
``model.evaluate`` gives the value of the Keras original on the same weights
(and the same as compiling with the original), with and without sample
weights.
"""

from __future__ import annotations

import copy
import pickle

import keras  # noqa: E402  (a missing reference library fails, never skips)
import numpy as np
import pytest

from jaxloss.compat import keras as jk  # noqa: E402

_RNG = np.random.default_rng(5)
N, F, K = 64, 6, 3
X = _RNG.normal(size=(N, F)).astype(np.float32)
_W = _RNG.normal(size=(F, K)).astype(np.float32)
Y_CLASS = np.argmax(X @ _W, axis=-1)
Y_ONE_HOT = np.eye(K, dtype=np.float32)[Y_CLASS]
Y_REG = (X @ _W).astype(np.float32)
Y_MASK = (X @ _W > 0).astype(np.float32)
SAMPLE_WEIGHT = _RNG.uniform(0.0, 2.0, N).astype(np.float32)
SAMPLE_WEIGHT[::7] = 0.0

# name -> (twin, Keras original, output activation, targets)
CASES = {
    "cce_logits": (
        lambda: jk.CategoricalCrossentropy(from_logits=True),
        lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
        None,
        Y_ONE_HOT,
    ),
    "scce": (
        lambda: jk.SparseCategoricalCrossentropy(),
        lambda: keras.losses.SparseCategoricalCrossentropy(),
        "softmax",
        Y_CLASS,
    ),
    "mse": (lambda: jk.MeanSquaredError(), lambda: keras.losses.MeanSquaredError(), None, Y_REG),
    "dice": (lambda: jk.Dice(axis=-1), lambda: keras.losses.Dice(axis=-1), "sigmoid", Y_MASK),
    "bfce": (
        lambda: jk.BinaryFocalCrossentropy(apply_class_balancing=True),
        lambda: keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True),
        "sigmoid",
        Y_MASK,
    ),
    "bfce_sum": (
        lambda: jk.BinaryFocalCrossentropy(from_logits=True, reduction="sum"),
        lambda: keras.losses.BinaryFocalCrossentropy(from_logits=True, reduction="sum"),
        None,
        Y_MASK,
    ),
}


def _model(activation):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((F,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(K, activation=activation)]
    )


def test_twin_is_a_keras_loss():
    loss = jk.CategoricalCrossentropy(from_logits=True)
    assert isinstance(loss, keras.losses.Loss)
    assert isinstance(loss, jk.CategoricalCrossentropy)
    assert type(loss).__name__ == "CategoricalCrossentropy"
    assert type(loss).__module__ == "jaxloss.compat.keras"
    # one bridged class per twin class
    assert type(jk.CategoricalCrossentropy()) is type(loss)
    # copies and pickles stay twins and Keras losses, with their state
    for again in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        assert isinstance(again, keras.losses.Loss) and isinstance(again, jk.CategoricalCrossentropy)
        assert again.get_config() == loss.get_config()
    huber = pickle.loads(pickle.dumps(jk.Huber(delta=0.3)))
    assert huber.delta == 0.3


@pytest.mark.parametrize("case", list(CASES))
def test_fit_and_evaluate(case):
    twin, original, activation, y = CASES[case]
    model = _model(activation)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=twin())
    history = model.fit(X, y, epochs=4, batch_size=16, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses

    ours = model.evaluate(X, y, batch_size=N, verbose=0)
    direct = float(original()(y, model.predict(X, batch_size=N, verbose=0)))
    np.testing.assert_allclose(ours, direct, rtol=1e-5)
    weighted = model.evaluate(X, y, sample_weight=SAMPLE_WEIGHT, batch_size=N, verbose=0)
    pred = model.predict(X, batch_size=N, verbose=0)
    np.testing.assert_allclose(weighted, float(original()(y, pred, sample_weight=SAMPLE_WEIGHT)), rtol=1e-5)

    # the same model compiled with the Keras original evaluates the same
    model.compile(optimizer="sgd", loss=original())
    np.testing.assert_allclose(model.evaluate(X, y, batch_size=N, verbose=0), ours, rtol=1e-5)
    np.testing.assert_allclose(
        model.evaluate(X, y, sample_weight=SAMPLE_WEIGHT, batch_size=N, verbose=0), weighted, rtol=1e-5
    )


def test_fit_with_sample_weight_matches_original():
    # One epoch of SGD with weights: the same trajectory as with Keras's loss.
    weights = []
    for loss in (jk.CategoricalCrossentropy(from_logits=True), keras.losses.CategoricalCrossentropy(from_logits=True)):
        model = _model(None)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        model.fit(X, Y_ONE_HOT, sample_weight=SAMPLE_WEIGHT, epochs=2, batch_size=16, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for ours, theirs in zip(*weights, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_masking_layer_mask_reaches_the_loss():
    # A Masking layer puts a mask on the outputs; Keras's Loss combines it
    # with the loss; the twin does too.
    seq = _RNG.normal(size=(8, 5, 2)).astype(np.float32)
    seq[:, 3:] = 0.0  # masked time steps
    target = _RNG.normal(size=(8, 5, 1)).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.Masking(0.0), keras.layers.TimeDistributed(keras.layers.Dense(1))]
    )
    model.compile(optimizer="sgd", loss=jk.MeanSquaredError())
    ours = model.evaluate(seq, target, batch_size=8, verbose=0)
    model.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError())
    theirs = model.evaluate(seq, target, batch_size=8, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    # the mask matters: without it the value differs
    unmasked = float(keras.losses.MeanSquaredError()(target, model.predict(seq, verbose=0)))
    assert abs(unmasked - theirs) > 1e-3
