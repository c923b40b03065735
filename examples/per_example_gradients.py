"""Per-example gradients of a jaxloss loss with ``jax.vmap(jax.grad(...))``.

What it shows, on scikit-learn's bundled breast-cancer data (569 examples,
30 features, binary labels, no download) with a small MLP in plain JAX and
``jaxloss.sigmoid_binary_cross_entropy``:

1. the gradient of every example's loss at once, ``vmap(grad(loss_of_one))``,
   and a summary of their norms (what DP-SGD clips, what influence functions
   and data-pruning scores are built from);
2. that the mean of the per-example gradients equals the gradient of the mean
   loss (``jaxloss.Loss(..., reduction="mean")``), and that one row equals
   ``grad`` on that example alone;
3. a few steps of DP-SGD-style training: every per-example gradient clipped
   to norm ``--clip``, averaged, optionally noised (``--noise``), applied with
   SGD; the training loss goes down.

Run (needs ``pip install -e ".[examples]"``)::

    python examples/per_example_gradients.py [--steps 200] [--clip 1.0] [--noise 0.0] [--seed 0]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_breast_cancer

import jaxloss

# The mean loss over a batch: the usual training objective.
mean_loss = jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy)


def init_params(seed: int, sizes=(30, 16, 1)) -> list[dict[str, jax.Array]]:
    """A pytree of weights: one ``{"w", "b"}`` dict per layer (LeCun normal)."""
    rng = np.random.default_rng(seed)
    return [
        {
            "w": jnp.asarray(rng.standard_normal((fan_in, fan_out), np.float32) / np.sqrt(fan_in, dtype=np.float32)),
            "b": jnp.zeros(fan_out, jnp.float32),
        }
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def logit(params, x: jax.Array) -> jax.Array:
    """Logit of a single example ``x`` (``[30]``) or of a batch (``[B, 30]``)."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return (x @ params[-1]["w"] + params[-1]["b"])[..., 0]


def example_loss(params, x: jax.Array, y: jax.Array) -> jax.Array:
    """The loss of ONE example: a scalar, so ``jax.grad`` applies."""
    return jaxloss.sigmoid_binary_cross_entropy(logit(params, x), y)


# grad w.r.t. params for one example, mapped over the batch axis of x and y
# (params shared): a pytree like params with a leading batch axis on each leaf.
per_example_grads = jax.jit(jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0)))


@jax.jit
def tree_norms(grads) -> jax.Array:
    """Euclidean norm of each example's whole gradient (all leaves together)."""
    leaves = jax.tree.leaves(grads)
    return jnp.sqrt(sum(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in leaves))


@jax.jit
def batch_loss(params, x, y):
    return mean_loss(logit(params, x), y)


@jax.jit
def accuracy(params, x, y):
    return jnp.mean((logit(params, x) > 0) == (y > 0.5))


@jax.jit
def check_equalities(params, x, y, i):
    """Largest differences: mean of per-example grads vs grad of the mean loss,
    and row ``i`` of the per-example grads vs ``grad`` on example ``i`` alone."""
    grads = per_example_grads(params, x, y)
    mean_of_grads = jax.tree.map(lambda g: g.mean(0), grads)
    grad_of_mean = jax.grad(batch_loss)(params, x, y)
    grad_of_one = jax.grad(example_loss)(params, x[i], y[i])
    max_diff = lambda a, b: jnp.max(
        jnp.stack([jnp.max(jnp.abs(u - v)) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)])
    )
    return max_diff(mean_of_grads, grad_of_mean), max_diff(jax.tree.map(lambda g: g[i], grads), grad_of_one)


def make_dp_sgd_step(clip: float, noise: float, learning_rate: float):
    """One step of DP-SGD (Abadi et al. 2016): clip, average, add noise, descend."""

    @jax.jit
    def step(params, x, y, key):
        grads = per_example_grads(params, x, y)
        norms = tree_norms(grads)
        scale = jnp.minimum(1.0, clip / jnp.maximum(norms, 1e-12))  # clip each example to norm <= clip
        update = jax.tree.map(lambda g: jnp.tensordot(scale, g, axes=1) / x.shape[0], grads)
        if noise > 0:  # Gaussian noise of std noise * clip on the sum, i.e. / batch on the mean
            leaves, treedef = jax.tree.flatten(update)
            key, *subkeys = jax.random.split(key, len(leaves) + 1)
            keys = jax.tree.unflatten(treedef, subkeys)
            update = jax.tree.map(
                lambda g, k: g + noise * clip / x.shape[0] * jax.random.normal(k, g.shape), update, keys
            )
        new_params = jax.tree.map(lambda p, g: p - learning_rate * g, params, update)
        return new_params, key, jnp.mean(norms > clip)

    return step


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="clipped SGD steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--clip", type=float, default=1.0, help="per-example gradient norm bound")
    parser.add_argument("--noise", type=float, default=0.0, help="DP-SGD noise multiplier (0: clipping only)")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)  # standardise the 30 features
    y = data.target.astype(np.float32)
    params = init_params(args.seed)

    # 1. Per-example gradients of the whole data set in one call.
    grads = per_example_grads(params, x, y)
    norms = np.asarray(tree_norms(grads))
    shapes = ", ".join(f"{name}{i + 1} {layer[name].shape}" for i, layer in enumerate(grads) for name in ("w", "b"))
    print(f"per-example gradients of {len(y)} examples: {shapes}")
    q = np.percentile(norms, [0, 50, 90, 100])
    print(f"gradient norms: min {q[0]:.4f}  median {q[1]:.4f}  90% {q[2]:.4f}  max {q[3]:.4f}  mean {norms.mean():.4f}")

    # 2. mean over examples of grad(loss_i) == grad(mean_i loss_i).
    max_diff, row_diff = map(float, check_equalities(params, x, y, 7))
    equal = max_diff < 1e-6 and row_diff < 1e-6
    print(f"max |mean of per-example grads - grad of mean loss| = {max_diff:.2e}")
    print(f"max |per-example grad row 7 - grad on example 7 alone| = {row_diff:.2e}")
    assert equal, (max_diff, row_diff)

    # 3. DP-SGD-style training with per-example clipping.
    step = make_dp_sgd_step(args.clip, args.noise, args.lr)
    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    loss_before = float(batch_loss(params, x, y))
    print(f"clipped SGD: clip {args.clip}, noise multiplier {args.noise}, lr {args.lr}, batch {args.batch_size}")
    print(f"step {0:4d}  loss {loss_before:.4f}")
    clipped = []
    for i in range(1, args.steps + 1):
        idx = rng.choice(len(y), size=args.batch_size, replace=False)
        params, key, frac = step(params, x[idx], y[idx], key)
        clipped.append(float(frac))
        if i % max(1, args.steps // 4) == 0 or i == args.steps:
            print(f"step {i:4d}  loss {float(batch_loss(params, x, y)):.4f}  clipped {np.mean(clipped[-10:]):.0%}")
    loss_after = float(batch_loss(params, x, y))
    train_accuracy = float(accuracy(params, x, y))
    print(f"loss {loss_before:.4f} -> {loss_after:.4f}, train accuracy {train_accuracy:.4f}")
    return {
        "max_abs_diff": max_diff,
        "row_diff": row_diff,
        "equal": equal,
        "norms": norms,
        "loss_before": loss_before,
        "loss_after": loss_after,
        "accuracy": train_accuracy,
    }


if __name__ == "__main__":
    main()
