"""Porting from Keras: the same losses, the same numbers, one changed import.

A small Keras model (JAX backend) is compiled with
``keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)``
and evaluated with sample weights. The same loss from
:mod:`jaxloss.compat.keras` on the model's logits gives the same number, and
so does the core call it stands for (``jaxloss.softmax_cross_entropy``
followed by ``jaxloss.reduce``). Then a dozen more Keras losses and their
twins are evaluated on the same ``y_true``, ``y_pred`` and ``sample_weight``,
values and gradients side by side: a port changes only the import.

Needs Keras (the ``reference`` extra) with the JAX backend.

Run:  python examples/port_from_keras.py [--batch 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np

import jaxloss
import jaxloss.compat.keras

RTOL = 1e-6
NUM_CLASSES = 4
NUM_FEATURES = 8


def make_data(batch: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs, labels in every form the losses below take, predictions and weights."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, size=batch)
    logits = rng.normal(scale=2.0, size=(batch, NUM_CLASSES))
    targets = rng.normal(size=(batch, NUM_CLASSES))
    f32 = lambda a: np.asarray(a, np.float32)
    return {
        "x": f32(rng.normal(size=(batch, NUM_FEATURES))),
        "labels": labels.astype(np.int32),
        "onehot": f32(np.eye(NUM_CLASSES)[labels]),
        "logits": f32(logits),
        "probs": f32(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)),
        "multilabel": f32(rng.integers(0, 2, size=(batch, NUM_CLASSES))),
        "sigmoid": f32(1.0 / (1.0 + np.exp(-logits))),
        "signs": f32(2 * rng.integers(0, 2, size=(batch, NUM_CLASSES)) - 1),
        "targets": f32(targets),
        "predictions": f32(targets + rng.normal(scale=1.5, size=targets.shape)),
        "counts": f32(rng.poisson(2.0, size=(batch, NUM_CLASSES))),
        "rates": f32(rng.uniform(0.5, 4.0, size=(batch, NUM_CLASSES))),
        "sample_weight": f32(rng.uniform(0.0, 2.0, size=batch)),
    }


# (class name in keras.losses and jaxloss.compat.keras, constructor arguments, y_true key, y_pred key)
CASES = [
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot", "logits"),
    ("CategoricalCrossentropy", {}, "onehot", "probs"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "logits"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 2.0}, "onehot", "logits"),
    ("BinaryCrossentropy", {}, "multilabel", "sigmoid"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.05}, "multilabel", "logits"),
    (
        "BinaryFocalCrossentropy",
        {"from_logits": True, "gamma": 2.0, "apply_class_balancing": True},
        "multilabel",
        "logits",
    ),
    ("KLDivergence", {}, "onehot", "probs"),
    ("Poisson", {}, "counts", "rates"),
    ("MeanSquaredError", {}, "targets", "predictions"),
    ("MeanAbsoluteError", {}, "targets", "predictions"),
    ("Huber", {"delta": 1.0}, "targets", "predictions"),
    ("LogCosh", {}, "targets", "predictions"),
    ("CosineSimilarity", {}, "targets", "predictions"),
    ("Hinge", {}, "signs", "logits"),
    ("SquaredHinge", {}, "signs", "logits"),
    ("CategoricalHinge", {}, "onehot", "logits"),
]


def relative_difference(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = np.maximum(np.abs(theirs), np.finfo(np.float32).tiny)
    return float(np.max(np.abs(ours - theirs) / scale, initial=0.0))


def compare_model(data: dict[str, np.ndarray], seed: int) -> dict:
    """A compiled Keras model's loss, its jaxloss twin and the core call, on the model's logits."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((NUM_FEATURES,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),  # logits
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1))
    x, y, w = data["x"], data["onehot"], data["sample_weight"]
    keras_value = float(model.evaluate(x, y, sample_weight=w, batch_size=len(x), verbose=0))
    logits = np.asarray(model(x, training=False))

    twin = jaxloss.compat.keras.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    twin_value = float(twin(y, logits, sample_weight=w))
    # Keras's default reduction "sum_over_batch_size" is jaxloss.reduce's "mean".
    core_value = float(
        jaxloss.reduce(jaxloss.softmax_cross_entropy(logits, y, label_smoothing=0.1), w, reduction="mean")
    )
    return {
        "keras": keras_value,
        "jaxloss.compat.keras": twin_value,
        "core": core_value,
        "rel_diff": max(relative_difference(twin_value, keras_value), relative_difference(core_value, keras_value)),
    }


def value_and_grad(loss, y_true, y_pred, sample_weight):
    """The loss and its gradient with respect to ``y_pred``."""
    return jax.jit(jax.value_and_grad(lambda p: loss(y_true, p, sample_weight=sample_weight)))(y_pred)


def compare_losses(data: dict[str, np.ndarray]) -> list[dict]:
    """Every case of CASES with Keras and with the twin: values and gradients w.r.t. y_pred."""
    rows = []
    w = data["sample_weight"]
    for name, kwargs, true_key, pred_key in CASES:
        theirs = getattr(keras.losses, name)(**kwargs)  # from keras.losses import <name>
        ours = getattr(jaxloss.compat.keras, name)(**kwargs)  # from jaxloss.compat.keras import <name>
        y_true, y_pred = data[true_key], data[pred_key]
        k_value, k_grad = value_and_grad(theirs, y_true, y_pred, w)
        j_value, j_grad = value_and_grad(ours, y_true, y_pred, w)
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        rows.append(
            {
                "loss": f"{name}({args})",
                "keras": float(k_value),
                "jaxloss": float(j_value),
                "rel_diff": relative_difference(j_value, k_value),
                # Gradients are compared against the largest entry (entries near 0 have no relative scale).
                "grad_diff": float(jnp.max(jnp.abs(j_grad - k_grad)) / jnp.max(jnp.abs(k_grad))),
            }
        )
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"run with KERAS_BACKEND=jax (Keras is using {keras.backend.backend()!r})")

    data = make_data(args.batch, args.seed)

    print("A compiled Keras model, evaluated with sample weights:")
    model = compare_model(data, args.seed)
    print(f"  keras model.evaluate                              {model['keras']:.7f}")
    print(f"  jaxloss.compat.keras.CategoricalCrossentropy      {model['jaxloss.compat.keras']:.7f}")
    print(f"  jaxloss.reduce(jaxloss.softmax_cross_entropy(...)) {model['core']:.7f}")
    print(f"  max relative difference {model['rel_diff']:.1e}\n")

    rows = compare_losses(data)
    width = max(len(r["loss"]) for r in rows)
    header = f"{'keras':>11}  {'jaxloss':>11}  {'rel diff':>8}  {'grad diff':>9}"
    print(f"{'loss (same arguments in both)':<{width}}  {header}")
    for r in rows:
        print(
            f"{r['loss']:<{width}}  {r['keras']:11.7f}  {r['jaxloss']:11.7f}  {r['rel_diff']:8.1e}  "
            f"{r['grad_diff']:9.1e}"
        )
    max_rel = max([model["rel_diff"]] + [r["rel_diff"] for r in rows])
    max_grad = max(r["grad_diff"] for r in rows)
    print(f"max relative difference: values {max_rel:.1e}, gradients {max_grad:.1e}\n")

    print("What changes in the port (nothing else does):")
    print("  - from keras.losses import CategoricalCrossentropy")
    print("  + from jaxloss.compat.keras import CategoricalCrossentropy")
    print("The same loss as a core jaxloss call (predictions first, no hidden reduction):")
    print("  jaxloss.reduce(jaxloss.softmax_cross_entropy(logits, y_onehot, label_smoothing=0.1),")
    print('                 sample_weight, reduction="mean")   # Keras\'s "sum_over_batch_size"')

    assert model["rel_diff"] <= RTOL, model
    for r in rows:
        assert r["rel_diff"] <= RTOL, r
    return {"model": model, "rows": rows, "max_rel_diff": max_rel, "max_grad_diff": max_grad}


if __name__ == "__main__":
    main()
