"""A tiny causal language model trained with ``jaxloss.fused_linear_cross_entropy``.

The text is the docstrings of a few standard-library modules (read with
``inspect``, no download), split into sentences and tokenised by words; each
sentence is one sequence, padded to ``--seq-len`` with the id ``PAD``, which
is passed to the loss as ``ignore_index`` so padding neither counts in the
mean nor gets a gradient. The model is plain JAX: an embedding, one causal
mixing layer (the current word, the previous word and the mean of all earlier
words) and a ``[D, V]`` output head whose loss is

    jaxloss.fused_linear_cross_entropy(hidden, head, labels, bias=bias, ignore_index=PAD,
                                       z_loss=1e-4, reduction="weighted_mean")

trained with Optax's Adam in a ``jax.jit``-compiled step. The fused head never
holds the ``[tokens, V]`` logits: at the end the script compiles the forward
and backward pass of the fused head and of the materialised one
(``hidden @ weight`` then ``jaxloss.sparse_softmax_cross_entropy``) for a
larger head (2048 tokens x 32768 classes by default), prints the temporary
memory XLA reports for each (``jit(f).lower(...).compile().memory_analysis()``)
and checks that both give the same loss and gradients.

Run:  python examples/language_model_head.py [--steps 60] [--vocab 4096]
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import inspect
import re
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss

PAD, BOS, EOS, UNK = 0, 1, 2, 3  # PAD is the loss's ignore_index
SPECIAL = ("<pad>", "<bos>", "<eos>", "<unk>")
Z_LOSS = 1e-4
MODULES = (
    "argparse",
    "collections",
    "functools",
    "inspect",
    "itertools",
    "json",
    "pathlib",
    "re",
    "string",
    "textwrap",
    "typing",
    "dataclasses",
    "statistics",
    "random",
    "heapq",
    "bisect",
    "shutil",
    "os",
    "logging",
    "subprocess",
    "datetime",
    "decimal",
    "fractions",
    "unittest",
    "email.message",
    "http.client",
    "urllib.parse",
    "threading",
    "contextlib",
)


# --------------------------------------------------------------------------
# data: standard-library docstrings, word-level, padded sentences
# --------------------------------------------------------------------------


def stdlib_docstrings(modules=MODULES) -> str:
    """The docstrings of ``modules`` and of their public classes, functions and methods."""
    docs = []
    for name in modules:
        with warnings.catch_warnings():  # typing.io and typing.re warn when touched
            warnings.simplefilter("ignore", DeprecationWarning)
            docs.extend(_docstrings(importlib.import_module(name)))
    return "\n\n".join(d for d in docs if d)


def _docstrings(module) -> list[str]:
    docs = [inspect.getdoc(module) or ""]
    for attr, obj in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isroutine(obj):
            docs.append(inspect.getdoc(obj) or "")
        if inspect.isclass(obj):
            docs.extend(
                inspect.getdoc(m) or ""
                for a, m in sorted(vars(obj).items())
                if not a.startswith("_") and inspect.isroutine(m)
            )
    return docs


def tokenize(text: str) -> list[list[str]]:
    """Sentences (split at ``.!?`` and blank lines) of lower-case words, numbers and symbols."""
    sentences = re.split(r"(?<=[.!?])\s+|\n\s*\n", text)
    return [words for s in sentences if (words := re.findall(r"[a-z]+|\d+|[^\sa-z\d]", s.lower()))]


def make_dataset(vocab_size: int, seq_len: int, *, eval_fraction: float = 0.1, seed: int = 0):
    """Padded next-word data: ``(train, eval, vocab)`` with each split ``(inputs, labels)`` int32 ``[S, seq_len]``.

    The vocabulary holds the special ids and the most frequent words; when the
    text has fewer distinct words than ``vocab_size`` the rest of the
    vocabulary is padding (classes that never occur, as in a real model whose
    vocabulary is rounded up).
    """
    sentences = tokenize(stdlib_docstrings())
    counts = collections.Counter(w for s in sentences for w in s)
    vocab = list(SPECIAL) + [w for w, _ in counts.most_common(vocab_size - len(SPECIAL))]
    vocab += [f"<unused{i}>" for i in range(vocab_size - len(vocab))]
    index = {w: i for i, w in enumerate(vocab)}
    inputs = np.full((len(sentences), seq_len), PAD, np.int32)
    labels = np.full((len(sentences), seq_len), PAD, np.int32)
    for row, words in enumerate(sentences):
        ids = [BOS] + [index.get(w, UNK) for w in words][: seq_len - 1] + [EOS]
        inputs[row, : len(ids) - 1] = ids[:-1]
        labels[row, : len(ids) - 1] = ids[1:]  # the next word; PAD (ignored) after the end
    perm = np.random.default_rng(seed).permutation(len(sentences))
    n_eval = max(1, int(eval_fraction * len(sentences)))
    ev, tr = perm[:n_eval], perm[n_eval:]
    return (inputs[tr], labels[tr]), (inputs[ev], labels[ev]), vocab


def batches(data, batch_size: int, seed: int):
    """An endless stream of shuffled ``(inputs, labels)`` batches."""
    inputs, labels = data
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(len(inputs))
        for i in range(0, len(perm) - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            yield inputs[idx], labels[idx]


# --------------------------------------------------------------------------
# the model: embedding, one causal mixing layer, a linear head
# --------------------------------------------------------------------------


def init_params(seed: int, vocab_size: int, dim: int) -> dict:
    """Float32 parameters (made with NumPy: eager jax.random would compile one program per call)."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape, scale: jnp.asarray(scale * rng.standard_normal(shape, np.float32))  # noqa: E731
    scale = np.float32(1.0 / np.sqrt(dim))
    return {
        "embed": normal(vocab_size, dim, scale=np.float32(0.5)),
        "w_cur": normal(dim, dim, scale=scale),
        "w_prev": normal(dim, dim, scale=scale),
        "w_ctx": normal(dim, dim, scale=scale),
        "b": jnp.asarray(np.zeros(dim, np.float32)),
        "head": normal(dim, vocab_size, scale=scale),  # [D, V], a Flax Dense kernel
        "bias": jnp.asarray(np.zeros(vocab_size, np.float32)),
    }


def features(params: dict, inputs) -> jax.Array:
    """The head's input ``hidden [B, L, D]``; position ``t`` sees tokens ``<= t`` only."""
    x = params["embed"][inputs]
    prev = jnp.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]  # the word before
    steps = jnp.arange(1, x.shape[1] + 1, dtype=x.dtype)[None, :, None]
    ctx = jnp.cumsum(x, axis=1) / steps  # the mean of the words so far
    return jnp.tanh(x @ params["w_cur"] + prev @ params["w_prev"] + ctx @ params["w_ctx"] + params["b"])


def fused_head(hidden, weight, bias, labels):
    """The loss of the head, chunked: the ``[tokens, V]`` logits never exist."""
    return jaxloss.fused_linear_cross_entropy(
        hidden, weight, labels, bias=bias, ignore_index=PAD, z_loss=Z_LOSS, reduction="weighted_mean"
    )


def materialised_head(hidden, weight, bias, labels):
    """The same loss computed the ordinary way, through the full logits."""
    logits = hidden @ weight + bias
    losses = jaxloss.sparse_softmax_cross_entropy(logits, labels, ignore_index=PAD, z_loss=Z_LOSS)
    return jaxloss.reduce(losses, labels != PAD, reduction="weighted_mean")


def lm_loss(params: dict, inputs, labels, head=fused_head) -> jax.Array:
    """Mean next-word loss over the tokens that are not padding."""
    return head(features(params, inputs), params["head"], params["bias"], labels)


def make_train_step(optimizer, head=fused_head):
    def train_step(params, opt_state, inputs, labels):
        loss, grads = jax.value_and_grad(lm_loss)(params, inputs, labels, head)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(train_step)


# --------------------------------------------------------------------------
# memory: the fused head against the materialised one, as XLA compiles them
# --------------------------------------------------------------------------


def compare_heads(tokens: int, vocab: int, dim: int, *, seed: int = 0, execute: bool = True) -> dict:
    """Temporary memory of ``value_and_grad`` of both heads, and whether they agree."""
    rng = np.random.default_rng(seed)
    hidden = jnp.asarray(rng.standard_normal((tokens, dim), np.float32))
    weight = jnp.asarray(rng.standard_normal((dim, vocab), np.float32) / np.float32(np.sqrt(dim)))
    bias = jnp.asarray(0.1 * rng.standard_normal(vocab, np.float32))
    labels = rng.integers(PAD + 1, vocab, tokens, dtype=np.int32)
    labels[4::5] = PAD  # a fifth of the tokens are padding
    labels = jnp.asarray(labels)
    out = {"tokens": tokens, "vocab": vocab, "dim": dim, "logits_bytes": tokens * vocab * 4}
    results = {}
    for name, head in (("fused", fused_head), ("materialised", materialised_head)):
        f = jax.value_and_grad(lambda h, w, b, head=head: head(h, w, b, labels), argnums=(0, 1, 2))
        compiled = jax.jit(f).lower(hidden, weight, bias).compile()
        stats = compiled.memory_analysis()
        out[f"{name}_temp_bytes"] = int(stats.temp_size_in_bytes)
        if execute:
            results[name] = jax.block_until_ready(compiled(hidden, weight, bias))
    out["ratio"] = out["materialised_temp_bytes"] / max(out["fused_temp_bytes"], 1)
    if execute:
        (lf, gf), (lm, gm) = results["fused"], results["materialised"]
        out["loss_fused"], out["loss_materialised"] = float(lf), float(lm)
        out["max_abs_loss_diff"] = abs(float(lf) - float(lm))
        out["max_abs_grad_diff"] = max_abs_diff(gf, gm)
    return out


def max_abs_diff(a, b) -> float:
    """The largest ``|a - b|`` over the leaves of two pytrees (in NumPy: no compilation)."""
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def _mib(n: int) -> str:
    return f"{n / 2**20:8.1f} MiB"


# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=4096, help="vocabulary size of the trained model")
    p.add_argument("--dim", type=int, default=64, help="hidden size D")
    p.add_argument("--seq-len", type=int, default=32, help="tokens per padded sentence")
    p.add_argument("--batch", type=int, default=64, help="sentences per step")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mem-tokens", type=int, default=2048, help="tokens of the memory comparison")
    p.add_argument("--mem-vocab", type=int, default=32768, help="vocabulary of the memory comparison")
    p.add_argument("--mem-dim", type=int, default=256, help="hidden size of the memory comparison")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    train, evaluation, vocab = make_dataset(args.vocab, args.seq_len, seed=args.seed)
    real = int((train[1] != PAD).sum())
    print(
        f"data: {len(train[0])} training sentences ({real} next-word targets), {len(evaluation[0])} held out; "
        f"vocabulary {len(vocab)} ({sum(not w.startswith('<unused') for w in vocab)} used), "
        f"padding id {PAD} = ignore_index"
    )

    params = init_params(args.seed, args.vocab, args.dim)
    optimizer = optax.adam(args.lr)
    opt_state = jax.jit(optimizer.init)(params)
    step_fn = make_train_step(optimizer)
    # Value and gradients on the held-out sentences, fused and materialised heads.
    grad_fused = jax.jit(jax.value_and_grad(lm_loss))
    grad_mat = jax.jit(jax.value_and_grad(functools.partial(lm_loss, head=materialised_head)))
    eval_inputs, eval_labels = evaluation
    eval_start = float(grad_fused(params, eval_inputs, eval_labels)[0])
    print(f"held-out loss before training {eval_start:.4f} (log V = {np.log(args.vocab):.4f})")

    losses = []
    stream = batches(train, args.batch, args.seed)
    for step in range(1, args.steps + 1):
        inputs, labels = next(stream)
        params, opt_state, loss = step_fn(params, opt_state, inputs, labels)
        losses.append(float(loss))
        if step % args.log_every == 0 or step in (1, args.steps):
            print(f"step {step:4d}  loss {losses[-1]:.4f}")
    g_fused = grad_fused(params, eval_inputs, eval_labels)
    eval_end = float(g_fused[0])
    print(f"held-out loss after {args.steps} steps {eval_end:.4f}")

    # The trained model's head, fused and materialised: the same loss and gradients.
    g_mat = grad_mat(params, eval_inputs, eval_labels)
    model_loss_diff = abs(float(g_fused[0]) - float(g_mat[0]))
    model_grad_diff = max_abs_diff(g_fused[1], g_mat[1])
    print(
        f"trained model, fused vs materialised head: loss {float(g_fused[0]):.6f} vs {float(g_mat[0]):.6f}, "
        f"max |diff| loss {model_loss_diff:.2e}, gradients {model_grad_diff:.2e}"
    )

    mem = compare_heads(args.mem_tokens, args.mem_vocab, args.mem_dim, seed=args.seed)
    print(
        f"memory, value_and_grad of the head at {mem['tokens']} tokens x {mem['vocab']} classes "
        f"(D = {mem['dim']}; one float32 copy of the logits is {_mib(mem['logits_bytes']).strip()}), "
        f"XLA temp_size_in_bytes:"
    )
    print(f"  fused_linear_cross_entropy       {_mib(mem['fused_temp_bytes'])}")
    print(f"  hidden @ weight + sparse_softmax {_mib(mem['materialised_temp_bytes'])}")
    print(f"  ratio materialised / fused       {mem['ratio']:8.1f}x")
    print(
        f"  losses {mem['loss_fused']:.6f} (fused) vs {mem['loss_materialised']:.6f} (materialised), "
        f"max |diff| loss {mem['max_abs_loss_diff']:.2e}, gradients {mem['max_abs_grad_diff']:.2e}"
    )
    agree = model_loss_diff <= 1e-4 * max(1.0, abs(float(g_mat[0]))) and mem["max_abs_loss_diff"] <= 1e-4 * max(
        1.0, abs(mem["loss_materialised"])
    )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return {
        "losses": losses,
        "eval_loss_start": eval_start,
        "eval_loss_end": eval_end,
        "model_loss_diff": model_loss_diff,
        "model_grad_diff": model_grad_diff,
        "memory": mem,
        "agree": bool(agree),
    }


if __name__ == "__main__":
    main()
