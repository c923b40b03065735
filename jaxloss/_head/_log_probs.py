"""Per-token log-probabilities (and entropy) of a linear head, without its logits.

The input of every policy-gradient, preference and distillation loss is the
log-probability each token's label has under the model's softmax, often
with the distribution's entropy. Materialising ``[tokens, V]`` logits to
gather one number per token is what runs RL trainers out of memory; here
the logits are computed a chunk of tokens at a time by the loop of
``_loop``, shared with the fused cross-entropy.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh
from jax.typing import ArrayLike

from jaxloss import _checks, _vma
from jaxloss._head import _loop, _spec
from jaxloss._head._loop import allreduce
from jaxloss._head._spec import HeadSpec


class LogProbRows(NamedTuple):
    """The row model of ``log softmax(u)[label]`` and, with ``entropy``, ``-sum p log p`` (see ``_loop``).

    Its objective is ``sum(ct_lp * log_prob + ct_ent * entropy)`` for any
    per-token cotangents: with ``p = softmax(u)`` and ``E = sum_c p_c u_c``,
    ``d log_prob / d u_c = [c = y] - p_c`` and ``d entropy / d u_c = -p_c (u_c - E)``.
    """

    entropy: bool = False

    @property
    def saved(self) -> tuple[str, ...]:
        return ("max", "log_sum", "top", "live") + (("mean_shift", "kept") if self.entropy else ())

    @staticmethod
    def dtype(key: str, acc):
        return {"live": jnp.bool_, "kept": jnp.bool_, "top": jnp.int32}.get(key, acc)

    def rows(self, spec: HeadSpec, u, y, local_y, offset, classes, tokens) -> dict:
        del classes, tokens
        # The row maximum and the log-sum kept apart, never one rounded
        # log-sum-exp, and every use of the row taken from s = u - max,
        # exactly 0 at the first maximum (see ``_loop.shifted``).
        s, m, total, row_ok, top, is_top = _loop.shifted(spec, u, offset)
        # log S = log1p(S - 1), with S - 1 the other classes' share: a small
        # entropy or a log-probability near 0 keeps its digits.
        rest = allreduce(spec, jnp.sum(jnp.where(is_top, 0.0, jnp.exp(s)), axis=-1), lax.psum)
        log_sum = jnp.where(jnp.isfinite(total), jnp.log1p(rest), jnp.log(total))
        log_sum = jnp.where(row_ok, log_sum, 0.0)
        target, _ = _loop.pick(spec, s, local_y)
        valid = _loop.in_range(spec, y)
        ignored = _loop.ignored(spec, y)
        kept = row_ok & ~ignored
        log_prob = jnp.where(kept, target - log_sum, 0.0)
        # A label out of range gives nan (and no gradient), as in the cross-entropy.
        out = {
            "log_prob": jnp.where(valid | ignored, log_prob, jnp.nan),
            "max": m,
            "log_sum": log_sum,
            "top": top,
            "live": kept & valid,
        }
        if self.entropy:
            # entropy = log S - sum p s (the top class's term exactly 0).
            p = jnp.exp(s - log_sum[:, None])
            weighted = allreduce(spec, jnp.sum(jnp.where(p > 0, p * s, 0.0), axis=-1), lax.psum)
            mean_shift = jnp.where(row_ok, weighted, 0.0)
            out["entropy"] = jnp.where(kept, log_sum - mean_shift, 0.0)
            out["mean_shift"] = mean_shift
            out["kept"] = kept
        return out

    def dlogits(self, spec: HeadSpec, u, local_y, stats, classes, tokens, start):
        del classes
        s, is_top = _loop.shift(u, stats["max"], stats["top"], _loop.class_offset(spec), start)
        log_sum = stats["log_sum"][:, None]
        p = jnp.exp(s - log_sum)
        a = jnp.where(stats["live"], tokens["ct_lp"], 0.0)[:, None]
        # [c = y] - p_c; at the label, 1 - p_y, which at the top class is
        # 1 - 1 / S = -expm1(-log S) (no cancellation when p_y is nearly 1).
        hit = _loop.class_ids(u, start) == local_y[:, None].astype(jnp.int32)
        g = a * jnp.where(hit, jnp.where(is_top, -jnp.expm1(-log_sum), 1.0 - p), -p)
        if self.entropy:
            # -p_c (u_c - E) = -p_c (s_c - sum p s): exactly p_top sum p s at the top class.
            b = jnp.where(stats["kept"], tokens["ct_ent"], 0.0)[:, None]
            g = g - jnp.where(p > 0, p * (s - stats["mean_shift"][:, None]), 0.0) * b
        return g


def _outputs(model: LogProbRows) -> tuple[str, ...]:
    return ("log_prob", "entropy") if model.entropy else ("log_prob",)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _log_probs(spec: HeadSpec, model: LogProbRows, h2, w, bias, y):
    classes = {} if bias is None else {"bias": bias}
    out = _loop.forward(spec, model, _outputs(model), h2, w, classes, {"labels": y})
    return {k: out[k] for k in _outputs(model)}


def _log_probs_fwd(spec: HeadSpec, model: LogProbRows, h2, w, bias, y):
    classes = {} if bias is None else {"bias": bias}
    keys = _outputs(model)
    out = _loop.forward(spec, model, keys + model.saved, h2, w, classes, {"labels": y})
    return {k: out[k] for k in keys}, (h2, w, bias, y, {k: out[k] for k in model.saved})


def _log_probs_bwd(spec: HeadSpec, model: LogProbRows, res, cts):
    h2, w, bias, y, saved = res
    classes = {} if bias is None else {"bias": bias}
    tokens = {"labels": y, "ct_lp": cts["log_prob"].astype(spec.acc_dtype), **saved}
    if model.entropy:
        tokens["ct_ent"] = cts["entropy"].astype(spec.acc_dtype)
    # The logits recomputed chunk by chunk from the saved row maxima, log-sums and top classes: no
    # reduction over the vocabulary, no collective but the hidden gradient's.
    out = _loop.grads_from(spec, model, h2, w, classes, tokens)
    return (*_loop.cast_grads(out, w, bias), None)


_log_probs.defvjp(_log_probs_fwd, _log_probs_bwd)
_log_probs_compiled = jax.jit(_log_probs, static_argnums=(0, 1))


def _log_probs_call(head: _spec.Head, spec: HeadSpec, model: LogProbRows):
    h2, w, bias, y = head.hidden, head.weight, head.bias, head.labels
    h2, w, bias, y = _vma.match(h2, w, bias, y)
    out = _log_probs_compiled(spec, model, h2, w, bias, y)
    log_probs = out["log_prob"].reshape(head.shape)
    if not model.entropy:
        return log_probs
    return log_probs, out["entropy"].reshape(head.shape)


def _check(
    head: _spec.Head, temperature, logit_soft_cap, return_entropy, ignore_index, chunk_size, weight_layout, **mesh
):
    chunk, index, cap = _spec.check_options(chunk_size, ignore_index, logit_soft_cap)
    temp = _spec.static_float(temperature, "temperature", 0.0, low_open=True)
    entropy = _checks.check_bool(return_entropy, "return_entropy")
    spec = _spec.make_spec(head, chunk, index, cap, weight_layout, temperature=temp, **mesh)
    return spec, LogProbRows(entropy)


@_checks.declare(labels="labels", num_classes=_spec.vocabulary_size, ignore_index="ignore_index")
def fused_linear_log_probs(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    temperature: float = 1.0,
    logit_soft_cap: float | None = None,
    return_entropy: bool = False,
    ignore_index: int | None = None,
    chunk_size: int | None = None,
    weight_layout: str = "DV",
) -> Any:
    r"""Per-token log-probability of each label under a linear head, without its logits.

    With ``z = hidden @ weight + bias``, soft-capped to ``cap * tanh(z /
    cap)`` when ``logit_soft_cap`` is set and then divided by
    ``temperature`` (TRL's order), ``u = cap * tanh(z / cap) / temperature``,
    computes for each token

    .. math:: \log p_y = u_y - \operatorname{logsumexp}(u), \qquad
              H = -\sum_c p_c \log p_c \quad (p = \operatorname{softmax}(u))

    that is ``jnp.take_along_axis(jax.nn.log_softmax(u), labels[..., None],
    -1)[..., 0]`` and, with ``return_entropy=True``, the entropy of the same
    distribution, but with only ``[chunk_size, V]`` logits live at a time
    (the loop of :func:`jaxloss.fused_linear_cross_entropy`). This is the
    input of policy-gradient, preference and distillation losses.

    Reverse-mode differentiable for any per-token cotangent of either output
    (``sum(log_probs * advantages)``, a ratio ``exp(log_probs - old)``, an
    entropy bonus): the forward pass keeps the inputs and four numbers per
    token (six with the entropy), and the backward pass recomputes the
    logits chunk by chunk, three matmuls; the gradients of ``hidden``,
    ``weight`` and ``bias`` are those of the materialised computation.

    Precision: the float32 outputs and gradients agree with the float64
    materialised computation as closely as the float32 materialised one
    does, down to a temperature of 0.05 and for logits of 1e4: the row
    maximum and the log-sum of each token are kept apart (not one rounded
    log-sum-exp), the most likely class's shifted logit is exactly 0, and a
    small entropy is never negative (and within about 1e-8 of its value at
    a temperature of 0.05, where the logits' own rounding is 1e-5).

    ``ignore_index`` tokens give 0 for both outputs and no gradient, even
    where their hidden states hold ``nan``. A label outside ``[0, V)`` that
    is not ``ignore_index`` gives a ``nan`` log-probability (its entropy is
    still computed) and no gradient through it. A row whose logits are all
    ``-inf`` gives 0. Labels of any integer dtype are widened before any
    comparison. 16-bit inputs are multiplied with float32 accumulation and
    the outputs are float32 (float64 for float64 inputs). Works under
    ``jit``, ``vmap``, ``jax.checkpoint``, ``lax.scan`` and inside a user's
    ``shard_map`` (``check_vma=True``); being a ``jax.custom_vjp`` it has no
    forward mode. See :func:`jaxloss.sharded_fused_linear_log_probs` for a
    vocabulary split over devices.

    Args:
      hidden: float array ``[..., D]``.
      weight: ``[D, V]`` kernel, or a ``[V, D]`` table with ``weight_layout="VD"``.
      labels: integer array ``hidden.shape[:-1]``, the tokens whose
        log-probabilities are wanted.
      bias: optional ``[V]``.
      temperature: ``> 0``; the logits are divided by it (after the soft cap).
      logit_soft_cap: optional ``cap > 0``.
      return_entropy: also return the per-token entropy.
      ignore_index: optional label whose tokens give 0 and no gradient.
      chunk_size: tokens whose logits are live at once (``None``: as in
        :func:`jaxloss.fused_linear_cross_entropy`).
      weight_layout: ``"DV"`` or ``"VD"``.

    Returns:
      float32 log-probabilities shaped like ``labels``, or
      ``(log_probs, entropy)`` with ``return_entropy=True``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> weight = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> labels = jnp.array([0, 1])
      >>> lp, ent = jaxloss.fused_linear_log_probs(hidden, weight, labels, return_entropy=True)
      >>> [round(float(x), 4) for x in lp], [round(float(x), 4) for x in ent]
      ([-0.4076, -0.5514], [0.8324, 0.9753])
      >>> # A policy-gradient objective: the gradient never needs the [tokens, V] logits.
      >>> adv = jnp.array([1.0, -0.5])
      >>> dw = jax.grad(lambda w: -jnp.sum(adv * jaxloss.fused_linear_log_probs(hidden, w, labels)))(weight)
      >>> dw.shape
      (2, 3)
    """
    head = _spec.check_head(hidden, weight, labels, bias, weight_layout)
    spec, model = _check(head, temperature, logit_soft_cap, return_entropy, ignore_index, chunk_size, weight_layout)
    return _log_probs_call(head, spec, model)


def sharded_fused_linear_log_probs(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    mesh: Mesh,
    vocab_axis: str,
    token_axis: str | tuple[str, ...] | None = None,
    bias: ArrayLike | None = None,
    temperature: float = 1.0,
    logit_soft_cap: float | None = None,
    return_entropy: bool = False,
    ignore_index: int | None = None,
    chunk_size: int | None = None,
    weight_layout: str = "DV",
) -> Any:
    """:func:`fused_linear_log_probs` with the vocabulary split over ``vocab_axis`` of ``mesh``.

    The same values and gradients, computed under ``jax.shard_map`` as
    :func:`jaxloss.sharded_fused_linear_cross_entropy` is: each device
    computes the logits of its own classes (and tokens, split over
    ``token_axis`` when given); the row maximum and its first class, the
    sums of exponentials, the label's logit and, for the entropy, the sum of
    ``p * (u - max)`` are all-reduced over ``vocab_axis`` as one number per
    token; the logits are never gathered.

    Args:
      hidden, weight, labels: as in :func:`fused_linear_log_probs`.
      mesh: the ``jax.sharding.Mesh``.
      vocab_axis: the mesh axis splitting the vocabulary (``V`` a multiple of its size).
      token_axis: ``None``, or mesh axes splitting the tokens.
      **options: as in :func:`fused_linear_log_probs`.

    Returns:
      As :func:`fused_linear_log_probs`.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np, jaxloss
      >>> from jax.sharding import Mesh
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> lp = jaxloss.sharded_fused_linear_log_probs(
      ...     jnp.ones((4, 3)), jnp.ones((3, 8)), jnp.array([0, 1, 2, 3]), mesh=mesh,
      ...     vocab_axis="model", token_axis="data")
      >>> [round(float(x), 4) for x in lp]
      [-2.0794, -2.0794, -2.0794, -2.0794]
    """
    tok, n_vocab, n_tok = _spec.check_mesh(mesh, token_axis, vocab_axis, weight, labels, weight_layout)
    head = _spec.check_head(hidden, weight, labels, bias, weight_layout)
    spec, model = _check(
        head,
        temperature,
        logit_soft_cap,
        return_entropy,
        ignore_index,
        chunk_size,
        weight_layout,
        mesh=mesh,
        token_axis=tok,
        vocab_axis=vocab_axis,
        num_vocab_shards=n_vocab,
        num_token_shards=n_tok,
    )
    return _log_probs_call(head, spec, model)
