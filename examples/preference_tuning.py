"""Preference tuning of a tiny Flax NNX language model: DPO, then GRPO, on a fused head.

The task is sorting digits. A prompt is ``<bos> d1 d2 d3 d4 <sep>`` (four
distinct digits) and a completion is four more tokens. The vocabulary is
large (4096 ids by default, as a real tokenizer's would be) and only ten of
its ids are digits, so the ``[tokens, V]`` logits are by far the biggest
array of a training step while the task itself is about ten tokens.

The model is a one-block causal transformer in ``flax.nnx`` (embedding,
attention, MLP, layer norms and an ``nnx.Linear`` head whose ``[D, V]``
kernel goes to the loss), trained as a pure function of its ``nnx.State``
in ``jax.jit``-compiled Optax Adam steps. Its per-token log-probabilities
always come from ``jaxloss.fused_linear_log_probs(hidden, kernel, labels,
bias=bias)``, which never holds the logits, and are summed over the
completion with ``jaxloss.sequence_log_probs(..., where=completion_mask)``.
Three stages:

1. A base model: next-token training on prompts followed by their digits
   in a random order, so it writes the prompt's digits but seldom sorts them.
2. DPO on synthetic preference pairs: two random orders of a prompt's
   digits, the one with fewer out-of-order pairs chosen (a noisy labeller
   that never shows the sorted answer on purpose). The reference is a
   frozen copy of the base model::

       out = jaxloss.dpo(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1)
       loss = mean(out.losses) + 0.2 * nll_of_chosen

   (TRL 1.16's ``loss_type=["sigmoid", "sft"]``, weights ``[1, 0.2]``),
   printing the DPO loss, the reward margin ``mean(chosen_rewards -
   rejected_rewards)`` and the preference accuracy (the fraction of pairs
   whose chosen reward is the larger) as they go.
3. GRPO with a verifiable reward: 1 when the completion is the prompt's
   digits in ascending order, else 0. For each prompt a group of
   completions is sampled from the model one token at a time with
   ``jax.random.categorical`` (only the ``[N, V]`` logits of the position
   being sampled exist) and the sampling log-probabilities kept as the old
   log-probs; advantages are standardised within each group
   (``jaxloss.group_advantages``) and the loss is
   ``jaxloss.grpo(log_probs, old_log_probs, advantages, where=mask)``
   (TRL's default ``"dapo"`` aggregation and clipped ratios), a few
   optimizer steps per generation, printing the mean reward.

After each stage it prints how often the model sorts 128 held-out prompts
(one sample each at temperature 1). At the end it compiles
``jax.value_and_grad`` of the DPO loss at the example's shape twice, with
the fused head and with the materialised one (``hidden @ kernel + bias``,
``log_softmax``, the labels' entries), prints the temporary memory XLA
reports for each (``jit(f).lower(...).compile().memory_analysis()``) and
checks that both give the same loss and gradients.

Run (needs ``pip install -e ".[examples]"``)::

    python examples/preference_tuning.py
    python examples/preference_tuning.py --vocab 8192 --dpo-steps 80 --grpo-steps 40
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxloss

BOS, SEP = 1, 2
DIGIT0 = 16  # the token of digit d is DIGIT0 + d; every other id is a word the task never needs


# --------------------------------------------------------------------------
# data: prompts of distinct digits, completions of digits
# --------------------------------------------------------------------------


def digit_prompts(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``[n, length]`` digits, distinct within a row."""
    return np.argsort(rng.random((n, 10)), axis=1)[:, :length]


def shuffled(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """Each row of ``digits`` in a random order."""
    return np.take_along_axis(digits, np.argsort(rng.random(digits.shape), axis=1), axis=1)


def inversions(rows: np.ndarray) -> np.ndarray:
    """The number of out-of-order pairs in each row (0 for a sorted row)."""
    return np.sum(np.triu(rows[:, :, None] > rows[:, None, :], 1), axis=(1, 2))


def preference_pairs(rng: np.random.Generator, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two random orders of each prompt's digits; the one with fewer inversions is chosen (never a tie)."""
    a, b = shuffled(rng, prompts), shuffled(rng, prompts)
    while (tie := inversions(a) == inversions(b)).any():
        b[tie] = shuffled(rng, prompts[tie])
    a_wins = (inversions(a) < inversions(b))[:, None]
    return np.where(a_wins, a, b), np.where(a_wins, b, a)


def token_rows(prompts: np.ndarray, completions: np.ndarray | None = None) -> np.ndarray:
    """``<bos> prompt <sep> completion`` as int32 token ids (the prompt only when ``completions`` is None)."""
    n = len(prompts)
    parts = [np.full((n, 1), BOS), DIGIT0 + prompts, np.full((n, 1), SEP)]
    if completions is not None:
        parts.append(DIGIT0 + completions)
    return np.concatenate(parts, axis=1).astype(np.int32)


def completion_mask(n: int, prompt_len: int, completion_len: int) -> np.ndarray:
    """``[n, T]`` over the predicted tokens ``tokens[:, 1:]``: True on the completion."""
    predicted = np.arange(1, prompt_len + 2 + completion_len)
    return np.broadcast_to(predicted >= prompt_len + 2, (n, len(predicted))).copy()


def sorting_reward(tokens, digits: int) -> jax.Array:
    """The verifier: 1.0 where the completion is the prompt's digits in ascending order, else 0.0."""
    prompt, completion = tokens[:, 1 : digits + 1], tokens[:, -digits:]
    return jnp.all(completion == jnp.sort(prompt, axis=1), axis=1).astype(jnp.float32)


# --------------------------------------------------------------------------
# the model: a one-block causal transformer with a linear head
# --------------------------------------------------------------------------


class TinyLM(nnx.Module):
    """Embedding + learned positions, pre-norm causal attention and MLP, final norm, ``[D, V]`` head."""

    def __init__(self, vocab: int, dim: int, seq_len: int, heads: int, *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab, dim, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (seq_len, dim)))
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(heads, dim, decode=False, keep_rngs=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.up = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, rngs=rngs)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, vocab, rngs=rngs)

    def hidden(self, tokens) -> jax.Array:
        """The head's input ``[B, T, D]``; position ``t`` sees tokens ``<= t`` only."""
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        x = x + self.attn(self.norm1(x), mask=nnx.make_causal_mask(tokens))
        return self.norm(x + self.down(nnx.gelu(self.up(self.norm2(x)))))


def token_log_probs(model: TinyLM, tokens, *, fused: bool = True) -> jax.Array:
    """``log p(tokens[:, t+1] | tokens[:, :t+1])``, ``[B, T]``: fused (no logits) or materialised."""
    hidden, labels = model.hidden(tokens[:, :-1]), tokens[:, 1:]
    kernel, bias = model.head.kernel[...], model.head.bias[...]
    if fused:
        return jaxloss.fused_linear_log_probs(hidden, kernel, labels, bias=bias)
    logits = hidden @ kernel + bias  # [B, T, V]
    return jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], axis=-1)[..., 0]


# --------------------------------------------------------------------------
# the three objectives, as functions of the model's parameters
# --------------------------------------------------------------------------


def sft_loss(graphdef, params, tokens, mask):
    """Negative log-likelihood of the completions: each one's mean over its tokens, averaged over the batch."""
    lp = token_log_probs(nnx.merge(graphdef, params), tokens)
    return -jnp.mean(jaxloss.sequence_log_probs(lp, where=mask, average=True))


def dpo_loss(
    graphdef, params, ref_params, chosen, rejected, mask, *, beta: float, nll_weight: float, fused: bool = True
):
    """DPO on a batch of pairs plus ``nll_weight`` x the chosen completions' NLL.

    Returns ``(loss, (dpo_loss, nll, chosen_rewards, rejected_rewards))``.
    TRL 1.16 computes the same as ``DPOTrainer`` with ``loss_type=["sigmoid",
    "sft"]`` and ``loss_weights=[1, nll_weight]``: the NLL keeps the chosen
    completions likely, where DPO alone is free to make both answers of a
    pair unlikely (and here would move the model's mass off the digits).
    """
    tokens = jnp.concatenate([chosen, rejected])  # one pass over [chosen; rejected], as TRL does
    both = jnp.concatenate([mask, mask])
    lp = token_log_probs(nnx.merge(graphdef, params), tokens, fused=fused)
    logps = jaxloss.sequence_log_probs(lp, where=both)  # sums over each completion
    ref_lp = token_log_probs(nnx.merge(graphdef, ref_params), tokens, fused=fused)
    ref_logps = jax.lax.stop_gradient(jaxloss.sequence_log_probs(ref_lp, where=both))
    n = chosen.shape[0]
    out = jaxloss.dpo(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], beta=beta)
    dpo_mean = jnp.mean(out.losses)
    nll = -jnp.sum(jaxloss.sequence_log_probs(lp[:n], where=mask)) / jnp.sum(mask)  # per chosen token
    return dpo_mean + nll_weight * nll, (dpo_mean, nll, out.chosen_rewards, out.rejected_rewards)


def grpo_loss(graphdef, params, tokens, old_log_probs, advantages, mask, *, epsilon: float):
    lp = token_log_probs(nnx.merge(graphdef, params), tokens)
    return jaxloss.grpo(lp, old_log_probs, advantages, where=mask, epsilon=epsilon)


def make_step(loss_fn, optimizer, *, has_aux: bool = False):
    """A jitted Adam step ``(params, opt_state, *batch) -> (params, opt_state, loss[, aux])``."""

    def step(params, opt_state, *batch):
        out, grads = jax.value_and_grad(loss_fn, has_aux=has_aux)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, out

    return jax.jit(step)


def make_sampler(graphdef, prompt_len: int, completion_len: int):
    """Jitted ``(params, prompt_tokens, key) -> (tokens, log_probs)`` at temperature 1.

    One token at a time: the model runs on the whole (causally masked)
    sequence and only the ``[N, V]`` logits of the position being sampled
    are formed; ``log_probs[:, t]`` is the sampling policy's log-probability
    of ``tokens[:, t + 1]`` (0 on the prompt), the old log-probs of GRPO.
    """
    start = prompt_len + 1  # the <sep> position predicts the first completion token

    def sample(params, prompts, key):
        model = nnx.merge(graphdef, params)
        n = prompts.shape[0]
        tokens = jnp.concatenate([prompts, jnp.zeros((n, completion_len), prompts.dtype)], axis=1)
        log_probs = jnp.zeros((n, tokens.shape[1] - 1), jnp.float32)

        def body(i, carry):
            tokens, log_probs, key = carry
            key, sub = jax.random.split(key)
            pos = start + i
            h = jax.lax.dynamic_index_in_dim(model.hidden(tokens[:, :-1]), pos, axis=1, keepdims=False)
            logits = h @ model.head.kernel[...] + model.head.bias[...]  # [N, V]: one position
            tok = jax.random.categorical(sub, logits).astype(tokens.dtype)
            lp = jnp.take_along_axis(jax.nn.log_softmax(logits), tok[:, None], axis=1)[:, 0]
            tokens = jax.lax.dynamic_update_index_in_dim(tokens, tok, pos + 1, axis=1)
            log_probs = jax.lax.dynamic_update_index_in_dim(log_probs, lp, pos, axis=1)
            return tokens, log_probs, key

        tokens, log_probs, _ = jax.lax.fori_loop(0, completion_len, body, (tokens, log_probs, key))
        return tokens, log_probs

    return jax.jit(sample)


# --------------------------------------------------------------------------
# memory: the fused head against the materialised one, as XLA compiles them
# --------------------------------------------------------------------------


def compare_heads(graphdef, params, ref_params, chosen, rejected, mask, *, beta: float, nll_weight: float) -> dict:
    """Temporary memory of ``value_and_grad`` of the DPO loss, fused and materialised, and whether they agree."""
    n_tokens, vocab = 2 * chosen.shape[0] * (chosen.shape[1] - 1), params["head"]["kernel"][...].shape[1]
    out = {"tokens": n_tokens, "vocab": vocab, "logits_bytes": n_tokens * vocab * 4}
    results = {}
    for name, fused in (("fused", True), ("materialised", False)):
        f = jax.value_and_grad(
            lambda p, fused=fused: dpo_loss(
                graphdef, p, ref_params, chosen, rejected, mask, beta=beta, nll_weight=nll_weight, fused=fused
            )[0]
        )
        compiled = jax.jit(f).lower(params).compile()
        out[f"{name}_temp_bytes"] = int(compiled.memory_analysis().temp_size_in_bytes)
        results[name] = jax.block_until_ready(compiled(params))
    out["ratio"] = out["materialised_temp_bytes"] / max(out["fused_temp_bytes"], 1)
    (lf, gf), (lm, gm) = results["fused"], results["materialised"]
    out["loss_fused"], out["loss_materialised"] = float(lf), float(lm)
    out["max_abs_grad_diff"] = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(gf), jax.tree.leaves(gm), strict=True)
    )
    return out


def _mib(n: int) -> str:
    return f"{n / 2**20:8.2f} MiB"


# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=4096, help="vocabulary size V (ten of its ids are digits)")
    p.add_argument("--dim", type=int, default=64, help="hidden size D")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--digits", type=int, default=4, help="digits in a prompt, and tokens in a completion")
    p.add_argument("--batch", type=int, default=64, help="sequences per base-model step, pairs per DPO step")
    p.add_argument("--sft-steps", type=int, default=150, help="steps of the base model")
    p.add_argument("--sft-lr", type=float, default=3e-3)
    p.add_argument("--dpo-steps", type=int, default=40)
    p.add_argument("--dpo-lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.1, help="DPO's beta")
    p.add_argument("--nll-weight", type=float, default=0.2, help="weight of the chosen completions' NLL in DPO")
    p.add_argument("--grpo-steps", type=int, default=30, help="generations (sample, score, update)")
    p.add_argument("--grpo-prompts", type=int, default=16, help="prompts per generation")
    p.add_argument("--group-size", type=int, default=8, help="completions sampled per prompt")
    p.add_argument("--grpo-updates", type=int, default=2, help="optimizer steps per generation")
    p.add_argument("--grpo-lr", type=float, default=1e-3)
    p.add_argument("--epsilon", type=float, default=0.2, help="GRPO's clipping range")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    k, seq_len = args.digits, 2 * args.digits + 2
    model = TinyLM(args.vocab, args.dim, seq_len, args.heads, rngs=nnx.Rngs(args.seed))
    graphdef, params = nnx.split(model)  # the static graph and the nnx.State of parameters
    mask = jnp.asarray(completion_mask(args.batch, k, k))
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(
        f"model: {n_params} parameters, vocabulary {args.vocab} (digits are ids {DIGIT0}..{DIGIT0 + 9}), "
        f"sequences <bos> {k} digits <sep> {k} tokens"
    )

    # Held-out prompts, sampled once after each stage (the GRPO batch's shape: one compiled sampler).
    n, g = args.grpo_prompts * args.group_size, args.group_size
    sample = make_sampler(graphdef, k, k)
    reward_of = jax.jit(sorting_reward, static_argnums=1)
    held_out = token_rows(digit_prompts(np.random.default_rng(args.seed + 1), n, k))
    held_out_key = jax.random.key(args.seed + 1)
    solved = {}

    def report(stage: str) -> None:
        solved[stage] = float(jnp.mean(reward_of(sample(params, held_out, held_out_key)[0], k)))
        print(f"held-out prompts sorted after {stage}: {solved[stage]:.3f}")

    # 1. The base model: the prompt's digits back, in a random order.
    optimizer = optax.adam(args.sft_lr)
    opt_state = optimizer.init(params)
    step = make_step(lambda p, t, m: sft_loss(graphdef, p, t, m), optimizer)
    sft_losses = []
    for i in range(1, args.sft_steps + 1):
        prompts = digit_prompts(rng, args.batch, k)
        params, opt_state, loss = step(params, opt_state, token_rows(prompts, shuffled(rng, prompts)), mask)
        sft_losses.append(float(loss))
        if i % (5 * args.log_every) == 0 or i in (1, args.sft_steps):
            print(f"base model step {i:4d}  loss {sft_losses[-1]:.4f} per completion token")
    report("the base model")

    # 2. DPO against a frozen copy of the base model.
    ref_params = jax.tree.map(jnp.copy, params)
    optimizer = optax.adam(args.dpo_lr)
    opt_state = optimizer.init(params)
    step = make_step(
        lambda p, c, r, m: dpo_loss(graphdef, p, ref_params, c, r, m, beta=args.beta, nll_weight=args.nll_weight),
        optimizer,
        has_aux=True,
    )
    dpo = {"loss": [], "nll": [], "margin": [], "accuracy": []}
    for i in range(1, args.dpo_steps + 1):
        prompts = digit_prompts(rng, args.batch, k)
        chosen, rejected = (token_rows(prompts, c) for c in preference_pairs(rng, prompts))
        params, opt_state, (_, (loss, nll, rc, rr)) = step(params, opt_state, chosen, rejected, mask)
        dpo["loss"].append(float(loss))  # the metrics of the batch before its update, as TRL logs them
        dpo["nll"].append(float(nll))
        dpo["margin"].append(float(jnp.mean(rc - rr)))
        dpo["accuracy"].append(float(jnp.mean(rc > rr)))
        if i % args.log_every == 0 or i in (1, args.dpo_steps):
            print(
                f"DPO step {i:4d}  DPO loss {dpo['loss'][-1]:.4f}  chosen NLL {dpo['nll'][-1]:.4f}  "
                f"reward margin {dpo['margin'][-1]:+.4f}  preference accuracy {dpo['accuracy'][-1]:.3f}"
            )
    report("DPO")

    # 3. GRPO with the verifiable reward.
    optimizer = optax.adam(args.grpo_lr)
    opt_state = optimizer.init(params)
    step = make_step(lambda p, t, old, a, m: grpo_loss(graphdef, p, t, old, a, m, epsilon=args.epsilon), optimizer)
    advantages_of = jax.jit(lambda r: jaxloss.group_advantages(r, group_size=g))
    grpo_mask = jnp.asarray(completion_mask(n, k, k))
    key = jax.random.key(args.seed)
    grpo_rewards, grpo_losses = [], []
    for i in range(1, args.grpo_steps + 1):
        key, sub = jax.random.split(key)
        prompts = np.repeat(token_rows(digit_prompts(rng, args.grpo_prompts, k)), g, axis=0)  # groups in a row
        tokens, old_log_probs = sample(params, prompts, sub)
        rewards = reward_of(tokens, k)
        advantages = advantages_of(rewards)
        for _ in range(args.grpo_updates):
            params, opt_state, loss = step(params, opt_state, tokens, old_log_probs, advantages, grpo_mask)
        grpo_rewards.append(float(jnp.mean(rewards)))
        grpo_losses.append(float(loss))
        if i % args.log_every == 0 or i in (1, args.grpo_steps):
            window = grpo_rewards[-args.log_every :]
            print(
                f"GRPO step {i:4d}  mean reward {grpo_rewards[-1]:.3f}  "
                f"(last {len(window)}: {np.mean(window):.3f})  loss {grpo_losses[-1]:+.4f}"
            )
    report("GRPO")

    # The DPO step's loss and gradients, fused and materialised, at this shape.
    prompts = digit_prompts(rng, args.batch, k)
    chosen, rejected = (jnp.asarray(token_rows(prompts, c)) for c in preference_pairs(rng, prompts))
    mem = compare_heads(
        graphdef, params, ref_params, chosen, rejected, mask, beta=args.beta, nll_weight=args.nll_weight
    )
    print(
        f"memory, value_and_grad of the DPO loss at {mem['tokens']} tokens x {mem['vocab']} classes "
        f"(one float32 copy of the logits is {_mib(mem['logits_bytes']).strip()}), XLA temp_size_in_bytes:"
    )
    print(f"  fused_linear_log_probs            {_mib(mem['fused_temp_bytes'])}")
    print(f"  hidden @ kernel + log_softmax     {_mib(mem['materialised_temp_bytes'])}")
    print(f"  ratio materialised / fused        {mem['ratio']:8.1f}x")
    print(
        f"  losses {mem['loss_fused']:.6f} (fused) vs {mem['loss_materialised']:.6f} (materialised), "
        f"max |diff| of the gradients {mem['max_abs_grad_diff']:.2e}"
    )
    nnx.update(model, params)  # the tuned weights back into the module
    seconds = time.perf_counter() - t0
    print(f"done in {seconds:.1f} s")
    return {
        "sft_losses": sft_losses,
        "dpo": dpo,
        "grpo_rewards": grpo_rewards,
        "grpo_losses": grpo_losses,
        "held_out_sorted": solved,
        "memory": mem,
        "model": model,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
