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
import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap

import keras  # noqa: E402  (a missing reference library fails, never skips)
import numpy as np
import pytest

from jaxloss.compat import keras as jk  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
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


# --------------------------------------------------------------------------
# model.save / keras.models.load_model with no custom_objects
# --------------------------------------------------------------------------

T_CTC, C_CTC = 5, 4
Y_POS = (np.abs(Y_REG) + 0.1).astype(np.float32)
Y_DIST = np.exp(Y_REG) / np.exp(Y_REG).sum(-1, keepdims=True)
Y_CTC = np.stack([_RNG.integers(1, C_CTC, N), _RNG.integers(1, C_CTC, N), np.zeros(N, int)], -1)
Y_CTC[::3, 1] = 0  # shorter labellings, right-padded with 0

# name -> (twin with non-default arguments, model head, targets); one per
# twin class.
SAVED = {
    "BinaryCrossentropy": (lambda: jk.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), None, Y_MASK),
    "BinaryFocalCrossentropy": (
        lambda: jk.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5, reduction="sum"),
        "sigmoid",
        Y_MASK,
    ),
    "CategoricalCrossentropy": (
        lambda: jk.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, name="cce_twin"),
        None,
        Y_ONE_HOT,
    ),
    "CategoricalFocalCrossentropy": (
        lambda: jk.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], gamma=1.0, from_logits=True),
        None,
        Y_ONE_HOT,
    ),
    "SparseCategoricalCrossentropy": (
        lambda: jk.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, reduction="mean"),
        None,
        Y_CLASS,
    ),
    "CategoricalGeneralizedCrossEntropy": (lambda: jk.CategoricalGeneralizedCrossEntropy(q=0.3), "softmax", Y_CLASS),
    "Poisson": (lambda: jk.Poisson(reduction="sum"), "softplus", Y_POS),
    "KLDivergence": (lambda: jk.KLDivergence(reduction="mean_with_sample_weight"), "softmax", Y_DIST),
    "MeanSquaredError": (lambda: jk.MeanSquaredError(reduction="sum", name="mse_twin"), None, Y_REG),
    "MeanAbsoluteError": (lambda: jk.MeanAbsoluteError(reduction="mean"), None, Y_REG),
    "MeanAbsolutePercentageError": (lambda: jk.MeanAbsolutePercentageError(reduction="sum"), None, Y_POS),
    "MeanSquaredLogarithmicError": (lambda: jk.MeanSquaredLogarithmicError(name="msle_twin"), "softplus", Y_POS),
    "CosineSimilarity": (lambda: jk.CosineSimilarity(axis=-1, reduction="sum"), None, Y_REG),
    "Huber": (lambda: jk.Huber(delta=0.3, reduction="sum"), None, Y_REG),
    "LogCosh": (lambda: jk.LogCosh(reduction="mean"), None, Y_REG),
    "Hinge": (lambda: jk.Hinge(reduction="sum"), "tanh", Y_MASK),
    "SquaredHinge": (lambda: jk.SquaredHinge(name="sq_hinge_twin"), "tanh", Y_MASK),
    "CategoricalHinge": (lambda: jk.CategoricalHinge(reduction="sum"), None, Y_ONE_HOT),
    "Dice": (lambda: jk.Dice(axis=-1, reduction="sum"), "sigmoid", Y_MASK),
    "Tversky": (lambda: jk.Tversky(alpha=0.3, beta=0.7, axis=(1,)), "sigmoid", Y_MASK),
    "Circle": (lambda: jk.Circle(gamma=2.0, margin=0.3, remove_diagonal=False), "circle", Y_CLASS),
    "CTC": (lambda: jk.CTC(reduction="sum", name="ctc_twin"), "ctc", Y_CTC),
}


def _saved_model(head):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((F,)), keras.layers.Dense(8, activation="tanh")]
    if head == "ctc":
        layers += [keras.layers.Dense(T_CTC * C_CTC), keras.layers.Reshape((T_CTC, C_CTC))]
    elif head == "circle":
        layers += [keras.layers.Dense(4), keras.layers.UnitNormalization()]
    else:
        layers += [keras.layers.Dense(K, activation=head)]
    return keras.Sequential(layers)


def test_every_twin_class_has_a_save_case():
    assert sorted(SAVED) == sorted(c.__name__ for c in jk._twin_classes())
    assert len(SAVED) == 22


@pytest.mark.parametrize("name", list(SAVED))
def test_save_and_load_model_compiled_with_twin(name, tmp_path):
    twin, head, y = SAVED[name]
    loss = twin()
    model = _saved_model(head)
    model.compile(optimizer="sgd", loss=loss)
    # Keras writes the registered name, which the loading side looks up.
    assert model.get_compile_config()["loss"]["registered_name"] == f"jaxloss>{name}"
    path = tmp_path / "model.keras"
    model.save(path)

    reloaded = keras.models.load_model(path)  # no custom_objects
    again = reloaded.loss
    assert isinstance(again, getattr(jk, name)) and isinstance(again, keras.losses.Loss)
    assert type(again) is type(loss)
    assert again is not loss
    assert again.get_config() == loss.get_config()
    assert again.name == loss.name and again.reduction == loss.reduction

    pred = reloaded.predict(X, batch_size=N, verbose=0)
    np.testing.assert_array_equal(pred, model.predict(X, batch_size=N, verbose=0))
    expected = float(loss(y, pred))
    assert np.isfinite(expected)
    np.testing.assert_allclose(float(again(y, pred)), expected, rtol=1e-6)
    np.testing.assert_allclose(reloaded.evaluate(X, y, batch_size=N, verbose=0), expected, rtol=1e-5)
    # a second save of the reloaded model reloads too
    reloaded.save(tmp_path / "again.keras")
    twice = keras.models.load_model(tmp_path / "again.keras").loss
    assert type(twice) is type(loss) and twice.get_config() == loss.get_config()


def _python(code, *args):
    """Runs ``code`` in a fresh interpreter (this environment, repository on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_load_in_a_fresh_process_that_imports_jaxloss_before_keras(tmp_path):
    # The loading process imports the twins first (which does not import
    # Keras) and Keras afterwards, and never builds a Keras-bridged twin
    # itself: registration happens when `import keras` runs.
    twin, head, y = SAVED["Huber"]
    loss = twin()
    model = _saved_model(head)
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "huber.keras")
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "x.npy", X)
    out = _python(
        """
        import json, sys
        import numpy as np
        from jaxloss.compat import keras as jk
        before = jk.CategoricalCrossentropy(from_logits=True)  # a plain twin: Keras is not loaded
        assert not any(k == "keras" or k.startswith("keras.") for k in sys.modules)  # nor imported by jaxloss
        assert type(before) is jk.CategoricalCrossentropy
        assert any(type(f).__name__ == "_RegisterOnKerasImport" for f in sys.meta_path)
        import keras
        assert not any(type(f).__name__ == "_RegisterOnKerasImport" for f in sys.meta_path)
        assert type(keras.__loader__).__name__ == "SourceFileLoader"  # Keras keeps its own loader
        assert keras.saving.get_registered_object("jaxloss>Huber") is jk.Huber
        model = keras.models.load_model(sys.argv[1])
        x, y = np.load(sys.argv[2]), np.load(sys.argv[3])
        assert type(model.loss).__name__ == "Huber" and isinstance(model.loss, keras.losses.Loss)
        value = float(model.evaluate(x, y, batch_size=len(x), verbose=0))
        print(json.dumps({"config": model.loss.get_config(), "value": value}))
        """,
        tmp_path / "huber.keras",
        tmp_path / "x.npy",
        tmp_path / "y.npy",
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["config"] == loss.get_config() and result["config"]["delta"] == 0.3
    pred = model.predict(X, batch_size=N, verbose=0)
    np.testing.assert_allclose(result["value"], float(loss(y, pred)), rtol=1e-5)


def test_import_without_keras_never_imports_or_registers():
    # Keras absent (the core install): the module imports, the twins compute,
    # and nothing waits for Keras. (Keras installed but not yet imported: see
    # the test above.)
    out = _python(
        """
        import sys
        sys.modules["keras"] = None  # as if Keras were not installed
        from jaxloss.compat import keras as jk
        assert sys.modules["keras"] is None
        assert not any(k.startswith("keras.") for k in sys.modules)
        assert not any(type(f).__name__ == "_RegisterOnKerasImport" for f in sys.meta_path)
        loss = jk.Huber(delta=0.5)
        assert type(loss) is jk.Huber and type(loss).__mro__[1] is jk._KerasLoss
        print(float(loss([[0.0, 1.0]], [[0.25, 3.0]])))
        """
    )
    np.testing.assert_allclose(float(out.strip().splitlines()[-1]), (0.5 * 0.25**2 + 0.5 * 2.0 - 0.125) / 2, rtol=1e-6)
