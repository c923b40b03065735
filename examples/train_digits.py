"""Train a Flax NNX network on handwritten digits with a jaxloss loss and Optax.

What it shows:

* a small Flax NNX MLP trained with an Optax optimizer (``nnx.Optimizer``) in
  a ``jax.jit``-compiled train step (``nnx.split`` / ``nnx.merge`` around a
  pure function), the loss being a ``jaxloss.Loss`` such as
  ``jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy)``;
* the 8x8 handwritten digits bundled with scikit-learn
  (``sklearn.datasets.load_digits``: 1797 images, 10 classes, no download),
  split into train and test sets stratified by class;
* a progress bar per epoch with the training loss and the accuracy, and a
  final test accuracy above 0.95 in seconds on a CPU;
* the same network trained with three losses (cross-entropy, label-smoothed
  cross-entropy and focal loss), a comparison table and a picture of their
  learning curves (``digits_training.png``).

Run (needs ``pip install -e ".[examples]"``)::

    python examples/train_digits.py
    python examples/train_digits.py --loss focal --epochs 30 --seed 1 --out curves.png
    python examples/train_digits.py --no-compare
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import jaxloss

NUM_CLASSES = 10

# The three losses compared. Each is a `jaxloss.Loss` (a core loss bound to its
# options and a mean reduction). `softmax_focal_loss` takes one-hot (or soft)
# labels, the two cross-entropies take integer labels directly.
LOSSES: dict[str, tuple[jaxloss.Loss, bool]] = {
    # name: (loss, wants one-hot labels)
    "cross_entropy": (jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy), False),
    "label_smoothing": (jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.1), False),
    "focal": (jaxloss.Loss(jaxloss.softmax_focal_loss, gamma=2.0), True),
}


class MLP(nnx.Module):
    """Two hidden ReLU layers, logits out."""

    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.hidden1 = nnx.Linear(din, dhidden, rngs=rngs)
        self.hidden2 = nnx.Linear(dhidden, dhidden, rngs=rngs)
        self.out = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.hidden1(x))
        x = nnx.relu(self.hidden2(x))
        return self.out(x)


def load_data(seed: int, test_size: float = 0.25):
    """Digits scaled to [0, 1], split into train/test stratified by class."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)


def make_loss_fn(name: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``(logits, integer labels) -> scalar`` for one of `LOSSES`."""
    loss, one_hot = LOSSES[name]
    if one_hot:
        return lambda logits, labels: loss(logits, jax.nn.one_hot(labels, NUM_CLASSES))
    return loss


@dataclass
class RunResult:
    loss: str
    train_loss: list[float]  # mean training loss per epoch
    test_accuracy: list[float]  # test accuracy after each epoch
    seconds: float  # wall time of compiling, training and evaluating (not of building the model)
    model: MLP | None = None  # the trained network


def train(
    loss_name: str,
    data,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    hidden: int = 64,
) -> RunResult:
    """Trains a fresh `MLP` with the loss `loss_name`; returns its curves."""
    x_train, x_test, y_train, y_test = data
    loss_fn = make_loss_fn(loss_name)

    # Same seed, same initial weights for every loss.
    model = MLP(x_train.shape[1], hidden, NUM_CLASSES, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adamw(learning_rate, weight_decay=1e-4), wrt=nnx.Param)
    start = time.perf_counter()  # the clock of the comparison table: compile + train + evaluate
    # Split the (model, optimizer) graph once into a static graph definition
    # and a pytree of arrays; the jitted step is then a pure function of the
    # state, which is the fastest way to drive NNX from a Python loop.
    graphdef, state = nnx.split((model, optimizer))

    @jax.jit
    def train_step(state, x, y):
        model, optimizer = nnx.merge(graphdef, state)

        def objective(model):
            logits = model(x)
            return loss_fn(logits, y), logits

        (loss, logits), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == y)
        return nnx.state((model, optimizer)), loss, correct

    @jax.jit
    def test_accuracy(state, x, y):
        model, _ = nnx.merge(graphdef, state)
        return jnp.mean(jnp.argmax(model(x), axis=-1) == y)

    rng = np.random.default_rng(seed)
    steps = len(y_train) // batch_size  # drop the last partial batch: one compiled shape
    result = RunResult(loss_name, [], [], 0.0)
    bar = tqdm(range(1, epochs + 1), desc=f"{loss_name:>15}", unit="epoch", leave=True)
    for _ in bar:
        perm = rng.permutation(len(y_train))
        losses, correct = [], []
        for i in range(steps):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            state, loss, n_correct = train_step(state, x_train[idx], y_train[idx])
            losses.append(loss)
            correct.append(n_correct)
        result.train_loss.append(float(np.mean(jax.device_get(losses))))
        result.test_accuracy.append(float(test_accuracy(state, x_test, y_test)))
        bar.set_postfix(
            loss=f"{result.train_loss[-1]:.4f}",
            train_acc=f"{np.sum(jax.device_get(correct)) / (steps * batch_size):.3f}",
            test_acc=f"{result.test_accuracy[-1]:.3f}",
        )
    bar.close()
    result.seconds = time.perf_counter() - start
    nnx.update((model, optimizer), state)  # write the trained weights back into the objects
    result.model = model
    return result


def plot(results: list[RunResult], path: str) -> None:
    """Writes the test accuracy and training loss curves of `results` to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        epochs = np.arange(1, len(r.test_accuracy) + 1)
        ax_acc.plot(epochs, r.test_accuracy, marker="o", markersize=3, label=r.loss)
        ax_loss.plot(epochs, r.train_loss, marker="o", markersize=3, label=r.loss)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy")
    ax_acc.set_ylim(max(0.0, min(min(r.test_accuracy) for r in results) - 0.02), 1.0)
    ax_loss.set(xlabel="epoch", ylabel="training loss (each in its own units)", title="Training loss", yscale="log")
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Flax NNX MLP on sklearn digits: three jaxloss losses")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--loss", choices=list(LOSSES), default="cross_entropy", help="loss of the main run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the initialisation and the shuffling")
    parser.add_argument("--out", default="digits_training.png", help="path of the comparison PNG")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-compare", action="store_true", help="skip the three-loss comparison and the PNG")
    args = parser.parse_args(argv)

    data = load_data(args.seed)
    print(f"digits: {len(data[2])} train / {len(data[3])} test images, jax backend: {jax.default_backend()}")

    main_run = train(args.loss, data, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size)
    accuracy = main_run.test_accuracy[-1]
    print(f"loss: {args.loss}  epochs: {args.epochs}  time: {main_run.seconds:.1f} s")
    print(f"test accuracy: {accuracy:.4f}")
    results = {
        "loss": args.loss,
        "test_accuracy": accuracy,
        "train_loss": main_run.train_loss,
        "test_accuracy_curve": main_run.test_accuracy,
        "comparison": [],
        "png": None,
    }
    if args.no_compare:
        return results

    print("\nSame network, three losses:")
    runs = []
    for name in LOSSES:
        # Same seed, same data order: the main run is this run; reuse it.
        run = (
            main_run
            if name == args.loss
            else train(name, data, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size)
        )
        runs.append(run)
    header = f"{'loss':<16} {'final train loss':>16} {'test accuracy':>13} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for r in runs:
        print(f"{r.loss:<16} {r.train_loss[-1]:>16.4f} {r.test_accuracy[-1]:>13.4f} {r.seconds:>8.1f}")
        results["comparison"].append(
            {
                "loss": r.loss,
                "train_loss": r.train_loss[-1],
                "test_accuracy": r.test_accuracy[-1],
                "seconds": r.seconds,
                "train_loss_curve": r.train_loss,
                "test_accuracy_curve": r.test_accuracy,
            }
        )
    plot(runs, args.out)
    print(f"wrote {args.out}")
    results["png"] = args.out
    return results


if __name__ == "__main__":
    main()
