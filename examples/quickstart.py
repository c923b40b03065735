"""Quickstart: train a small classifier with a jaxloss loss and an Optax optimizer.

The data are three interleaved spirals made here (no download). The model is
a two-layer MLP in plain JAX; the loss is a `jaxloss.Loss` binding
`sparse_softmax_cross_entropy` with label smoothing, called inside a
`jax.jit`-compiled train step.

Run:  python examples/quickstart.py [--steps 600] [--seed 0]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss


def make_spirals(n_per_class: int, classes: int = 3, noise: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.1, 1.0, n_per_class)
        t = np.linspace(c * 2 * np.pi / classes, c * 2 * np.pi / classes + 3.5, n_per_class)
        t = t + noise * rng.standard_normal(n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def init_mlp(key, sizes):
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        params.append({"w": jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in),
                       "b": jnp.zeros(fan_out)})
    return params


def mlp(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)

    x, y = make_spirals(400, seed=args.seed)
    split = int(0.8 * len(y))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

    loss_fn = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.05)
    params = init_mlp(jax.random.PRNGKey(args.seed), [2, 64, 64, 3])
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, opt_state, xb, yb):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(mlp(p, xb), yb))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def accuracy(params, xb, yb):
        return jnp.mean(jnp.argmax(mlp(params, xb), axis=-1) == yb)

    for step in range(1, args.steps + 1):
        params, opt_state, loss = train_step(params, opt_state, x_train, y_train)
        if step % args.log_every == 0 or step == 1:
            print(f"step {step:4d}  loss {float(loss):.4f}  train acc {float(accuracy(params, x_train, y_train)):.3f}")
    test_acc = float(accuracy(params, x_test, y_test))
    print(f"test accuracy: {test_acc:.3f}")
    return test_acc


if __name__ == "__main__":
    main()
