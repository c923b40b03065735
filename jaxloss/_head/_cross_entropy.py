"""Fused linear + softmax cross-entropy for large vocabularies.

The output head of a language model computes ``logits = hidden @ weight``
with ``[tokens, V]`` entries, which for ``V`` in the hundreds of thousands is
the largest activation of the whole model. The functions here compute the
loss and its gradients in chunks of tokens (the loop of ``_loop``), so that
only ``[chunk, V]`` logits exist at any moment, and, for a scalar reduction,
produce the gradients in the same pass as the loss, as Liger Kernel does:
the backward pass is a multiplication by the incoming cotangent.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh
from jax.typing import ArrayLike

from jaxloss import _checks, _reduce, _vma
from jaxloss._head import _loop, _spec
from jaxloss._head._loop import allreduce
from jaxloss._head._spec import HeadSpec
from jaxloss._primitives import safe_mul


class HeadStats(NamedTuple):
    """What a training loop logs about the head, per token, without its logits (no gradient).

    * ``logsumexp``: float32 (float64 under x64) ``logsumexp`` of the
      (soft-capped) logits, the normaliser z-loss penalises; 0 for a row with
      no finite logit. Every token has one, ignored or not.
    * ``predicted``: int32, the first class of largest logit (the argmax).
    * ``correct``: bool, ``predicted == label``; ``False`` where the label
      is ``ignore_index``. ``mean(correct) / mean(label != ignore_index)``
      is the accuracy.
    """

    logsumexp: jax.Array
    predicted: jax.Array
    correct: jax.Array


class CrossEntropyRows(NamedTuple):
    """The row model of softmax cross-entropy (see ``_loop``): its static options, named."""

    label_smoothing: float = 0.0
    z_loss: float = 0.0
    class_weights: bool = False  # a [V] class-weight vector comes in `classes`
    stats: bool = False  # return_stats: the argmax too

    @property
    def saved(self) -> tuple[str, ...]:
        return ("lse", "n_kept", "live") + (("wy", "wsum") if self.class_weights else ())

    @staticmethod
    def dtype(key: str, acc):
        return {"live": jnp.bool_, "correct": jnp.bool_, "predicted": jnp.int32}.get(key, acc)

    def rows(self, spec: HeadSpec, u, y, local_y, offset, classes, tokens) -> dict:
        """Each row's loss and the statistics of its softmax, over the whole vocabulary."""
        del tokens
        a = self.label_smoothing
        m, sum_exp, lse, row_ok = _loop.logsumexp_rows(spec, u)
        target, hit = _loop.pick(spec, u, local_y)
        loss = lse - target
        count = jnp.ones_like(lse)
        out: dict = {}
        if self.class_weights:
            # torch's `weight`: the target's class weight scales its nll.
            cw = classes["class_weights"]
            w_picked = jnp.take(cw, jnp.clip(local_y, 0, u.shape[1] - 1), mode="clip")
            out["wy"] = allreduce(spec, jnp.where(hit, w_picked, 0.0), lax.psum)
            loss = out["wy"] * loss
            out["wsum"] = jnp.zeros_like(lse)  # used with smoothing only
        if a:
            # torch's smoothing, (1 - a) * nll + a/K * sum_c w_c (lse - u_c), over
            # the K classes with a finite logit (a -inf bias entry, e.g. a padded
            # vocabulary, is left out as the core loss does); w_c = 1 without
            # class weights.
            kept = u > -jnp.inf
            count = jnp.maximum(allreduce(spec, jnp.sum(kept, axis=-1).astype(lse.dtype), lax.psum), 1.0)
            if self.class_weights:
                cw_row = jnp.where(kept, cw[None, :], 0.0)
                ws_sum = allreduce(spec, jnp.sum(cw_row * jnp.where(kept, u, 0.0), axis=-1), lax.psum)
                out["wsum"] = allreduce(spec, jnp.sum(cw_row, axis=-1), lax.psum)
                loss = (1.0 - a) * loss + a * (out["wsum"] * lse - ws_sum) / count
            else:
                u_sum = allreduce(spec, jnp.sum(jnp.where(kept, u, 0.0), axis=-1), lax.psum)
                loss = (1.0 - a) * loss + a * (lse - u_sum / count)
        if self.z_loss:
            loss = loss + self.z_loss * jnp.square(lse)
        valid = _loop.in_range(spec, y)
        ignored = _loop.ignored(spec, y)
        loss = jnp.where(row_ok & ~ignored, loss, 0.0)
        # An out-of-range label gives nan and, as in the core loss, no gradient.
        out["loss"] = jnp.where(valid | ignored, loss, jnp.nan)
        out.update(lse=lse, n_kept=count, live=row_ok & valid & ~ignored)
        if self.stats:
            out["predicted"] = predicted = _loop.argmax_rows(spec, u, offset)
            out["correct"] = (predicted.astype(y.dtype) == y) & ~ignored
        return out

    def dlogits(self, spec: HeadSpec, u, local_y, stats, classes, tokens, start):
        """``d sum(coef * loss) / d u`` for a block of columns starting at class ``start``.

        With ``p = softmax(u)``, class weights ``w`` (1 when absent), ``W`` their
        sum over the ``K`` kept classes: ``d loss / d u_c = p_c ((1 - a) w_y +
        a W / K + 2 z lse) - (1 - a) w_y [c = y] - a w_c [c kept] / K``.
        """
        a = self.label_smoothing
        scale = jnp.where(stats["live"], tokens["coef"], 0.0)
        p = jnp.exp(u - stats["lse"][:, None])
        target_w = scale * stats["wy"] if self.class_weights else scale  # the nll term's weight
        if a:
            smooth_w = scale * a / stats["n_kept"]  # per kept class, times w_c
            target_w = target_w * (1.0 - a)
            p_w = target_w + (smooth_w * stats["wsum"] if self.class_weights else scale * a)
        else:
            p_w = target_w
        if self.z_loss:
            p_w = p_w + scale * 2.0 * self.z_loss * stats["lse"]
        g = p * p_w[:, None]
        g = g - jnp.where(_loop.class_ids(u, start) == local_y[:, None].astype(jnp.int32), target_w[:, None], 0.0)
        if a:
            per_class = (
                smooth_w[:, None] * classes["class_weights"][None, :] if self.class_weights else smooth_w[:, None]
            )
            g = g - jnp.where(u > -jnp.inf, per_class, 0.0)
        return g


# --------------------------------------------------------------------------
# the custom VJP
# --------------------------------------------------------------------------


def _classes(bias, cw) -> dict:
    out = {}
    if bias is not None:
        out["bias"] = bias
    if cw is not None:
        out["class_weights"] = cw
    return out


def _aux_keys(model: CrossEntropyRows) -> tuple[str, ...]:
    return (("wy",) if model.class_weights else ()) + (("lse", "predicted", "correct") if model.stats else ())


def _dropped(coef, losses):
    # jaxloss.reduce's safe product: a zero coefficient drops a nan/inf loss.
    return jnp.where((coef == 0) & ~jnp.isfinite(losses), 0.0, losses)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _cross_entropy(spec: HeadSpec, model: CrossEntropyRows, scalar: bool, h2, w, bias, cw, y, coef):
    """``(losses, aux)``, or ``(sum(coef * losses), aux)`` when ``scalar``.

    ``aux``: per-token results without gradient (the targets' class weights
    ``wy``, the statistics of ``return_stats``).
    """
    keep = ("loss",) + _aux_keys(model)
    out = _loop.forward(spec, model, keep, h2, w, _classes(bias, cw), {"labels": y})
    aux = {k: out[k] for k in keep[1:]}
    if not scalar:
        return out["loss"], aux
    return jnp.sum(coef * _dropped(coef, out["loss"])), aux


def _cross_entropy_fwd(spec: HeadSpec, model: CrossEntropyRows, scalar: bool, h2, w, bias, cw, y, coef):
    keep = ("loss",) + _aux_keys(model)
    classes = _classes(bias, cw)
    if not scalar:
        # The weight gradient needs every token's cotangent, which the forward
        # pass does not know: keep a few numbers per token, and let the
        # backward pass recompute the logits chunk by chunk.
        out = _loop.forward(spec, model, tuple(dict.fromkeys(keep + model.saved)), h2, w, classes, {"labels": y})
        saved = {k: out[k] for k in model.saved}
        return (out["loss"], {k: out[k] for k in keep[1:]}), (h2, w, bias, cw, y, saved)
    # A scalar reduction: the gradients of sum(coef * loss) in the same pass.
    out = _loop.forward_and_grads(spec, model, keep, h2, w, classes, {"labels": y, "coef": coef})
    losses = _dropped(coef, out["loss"])
    value = (jnp.sum(coef * losses), {k: out[k] for k in keep[1:]})
    return value, (*_loop.cast_grads(out, w, bias), losses)


def _cross_entropy_bwd(spec: HeadSpec, model: CrossEntropyRows, scalar: bool, res, cts):
    ct, _ = cts  # the aux outputs depend on no differentiable input
    if not scalar:
        h2, w, bias, cw, y, saved = res
        tokens = {"labels": y, "coef": ct.astype(spec.acc_dtype), **saved}
        out = _loop.grads_from(spec, model, h2, w, _classes(bias, cw), tokens)
        return (*_loop.cast_grads(out, w, bias), None, None, None)
    dh, dw, db, losses = res
    # Scaled in their own dtype, so XLA can write the result in place.
    scale = lambda x: None if x is None else x * ct.astype(x.dtype)  # noqa: E731
    # The coefficients (the per-token weights) get the losses: gradients reach
    # `weights` through the reduction outside.
    return scale(dh), scale(dw), scale(db), None, None, scale(losses)


_cross_entropy.defvjp(_cross_entropy_fwd, _cross_entropy_bwd)

# Compiled once per shape and configuration: an eager call (or an eager
# ``grad``) runs one program instead of retracing the chunk loops every time;
# under an outer ``jit`` or ``shard_map`` it is inlined.
_cross_entropy_compiled = jax.jit(_cross_entropy, static_argnums=(0, 1, 2))


def _safe_div(num, den):
    # A zero denominator (every token ignored, or zero weights) gives 0, as
    # jaxloss.reduce does.
    zero = den == 0
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def _reduce_sum(spec: HeadSpec, reduction: str, total, y, tw, wy):
    """``total = sum(tw * loss)`` over the reduction's denominator, as :func:`jaxloss.reduce`.

    With ``where = labels != ignore_index`` (``tw`` is 0 there) and the
    weights ``tw * class_weights[labels]`` (``wy``) in the denominators of
    ``"weighted_mean"`` and ``"sum_by_nonzero_weights"``.
    """
    acc = spec.acc_dtype
    if reduction == "sum":
        return total
    if reduction == "mean":
        return _safe_div(total, jnp.sum(~_loop.ignored(spec, y)).astype(acc))
    eff = tw if wy is None else tw * wy
    den = jnp.sum(eff) if reduction == "weighted_mean" else jnp.count_nonzero(eff).astype(acc)
    return _safe_div(total, den)


class _Options(NamedTuple):
    """The cross-entropy options of one call, checked."""

    spec: HeadSpec
    model: CrossEntropyRows
    reduction: str
    weights: jax.Array | None
    class_weights: jax.Array | None


def _cross_entropy_call(head: _spec.Head, opts: _Options):
    spec, model = opts.spec, opts.model
    acc = spec.acc_dtype
    h2, w, y, bias = head.hidden, head.weight, head.labels, head.bias
    # The per-token weights, 0 where ignored (the reduction's `where`). A
    # scalar reduction is computed as sum(tw * loss) / denominator: the
    # gradients of the sum come out of the same pass, and the division (by a
    # denominator that may need the targets' class weights, which the pass
    # also gives) is ordinary autodiff outside it.
    keep = ~_loop.ignored(spec, y)
    tw = None
    if opts.weights is not None:
        tw = jnp.broadcast_to(opts.weights, head.shape).reshape(-1).astype(acc)
    tw = keep.astype(acc) if tw is None else jnp.where(keep, tw, 0.0)
    scalar = opts.reduction != "none"
    coef = tw if scalar else jnp.zeros((), acc)
    # Inside a user's shard_map (check_vma=True): every input of the custom
    # VJP gets the same varying axes, so its cotangents and loop carries have
    # the inputs' type; autodiff then sums the gradient of a replicated
    # weight over the token shards (the transpose of that cast).
    h2, w, bias, cw, y, coef = _vma.match(h2, w, bias, opts.class_weights, y, coef)
    out, aux = _cross_entropy_compiled(spec, model, scalar, h2, w, bias, cw, y, coef)
    if scalar:
        out = _reduce_sum(spec, opts.reduction, out, y, tw, aux.get("wy"))
    else:
        if opts.weights is not None:
            out = safe_mul(tw, out)
        out = out.reshape(head.shape)
    if not model.stats:
        return out
    stats = HeadStats(*(lax.stop_gradient(aux[k]).reshape(head.shape) for k in ("lse", "predicted", "correct")))
    return out, stats


def _check_options(
    head: _spec.Head,
    weights,
    class_weights,
    chunk_size,
    ignore_index,
    label_smoothing,
    z_loss,
    logit_soft_cap,
    reduction,
    weight_layout,
    return_stats,
    **mesh,
) -> _Options:
    _reduce.check_reduction(reduction)
    chunk, index, cap = _spec.check_options(chunk_size, ignore_index, logit_soft_cap)
    smoothing = _spec.static_float(label_smoothing, "label_smoothing", 0.0, 1.0)
    zl = _spec.static_float(z_loss, "z_loss", 0.0)
    stats = _checks.check_bool(return_stats, "return_stats")
    if weights is not None:
        weights = _checks.as_numeric(weights, "weights")
        _checks.check_broadcastable_to(weights, head.shape, "weights", "labels")
    cw = None
    if class_weights is not None:
        # Constants, as torch's `weight`: no gradient reaches them.
        cw = _checks.class_vector(class_weights, "class_weights", head.num_classes, head.acc_dtype)
        cw = lax.stop_gradient(jnp.broadcast_to(cw, (head.num_classes,)))
    spec = _spec.make_spec(head, chunk, index, cap, weight_layout, **mesh)
    model = CrossEntropyRows(smoothing, zl, cw is not None, stats)
    return _Options(spec, model, reduction, weights, cw)


@_checks.declare(
    labels="labels",
    num_classes=_spec.vocabulary_size,
    ignore_index="ignore_index",
    class_weights="class_weights",
    non_negative=("weights", "class_weights"),
)
def fused_linear_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    class_weights: ArrayLike | None = None,
    chunk_size: int | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
    reduction: str = "none",
    weight_layout: str = "DV",
    return_stats: bool = False,
) -> Any:
    r"""Softmax cross-entropy of a linear head, without ever holding its logits.

    Computes, with ``logits = hidden @ weight + bias`` (soft-capped to
    ``logit_soft_cap * tanh(logits / logit_soft_cap)`` when ``logit_soft_cap``
    is set, the Gemma-2 convention),

    .. code-block:: python

        losses = jaxloss.sparse_softmax_cross_entropy(
            logits, labels, class_weights=class_weights, label_smoothing=label_smoothing,
            ignore_index=ignore_index, z_loss=z_loss)
        jaxloss.reduce(losses, weights, reduction=reduction, where=labels != ignore_index)

    where each token's loss, with ``lse = logsumexp(logits)``, class weights
    ``w`` (1 when absent), label smoothing ``a`` over the ``K`` classes and
    the z-loss coefficient ``z``, is torch's

    .. math:: \ell = (1 - a)\, w_y (\mathrm{lse} - z_y)
              + \frac{a}{K} \sum_c w_c (\mathrm{lse} - z_c) + z\, \mathrm{lse}^2

    and the reductions divide, with ``t`` the per-token ``weights`` (1 when
    absent) and sums over the tokens that are not ``ignore_index``:

    ============================ ==========================================
    ``"none"``                   ``t * loss`` per token (shaped like ``labels``)
    ``"sum"``                    ``sum(t * loss)``
    ``"mean"``                   ``sum(t * loss) / (number of tokens not ignored)``
    ``"weighted_mean"``          ``sum(t * loss) / sum(t * w_y)``
    ``"sum_by_nonzero_weights"`` ``sum(t * loss) / count_nonzero(t * w_y)``
    ============================ ==========================================

    So an ignored token is counted in no denominator (``"mean"`` is torch's
    ``cross_entropy(..., ignore_index=i, reduction="mean")``), and
    ``"weighted_mean"`` with ``class_weights=w`` is torch's
    ``cross_entropy(..., weight=w, reduction="mean")``; without class weights
    and token weights ``"mean"`` and ``"weighted_mean"`` agree. A zero
    denominator gives 0. A token of weight 0 contributes 0, even where its
    loss is ``nan``.

    The values and the gradients with respect to ``hidden``, ``weight``,
    ``bias`` and ``weights`` are those of that materialised computation
    (``class_weights`` are constants and get no gradient), but only blocks of ``[chunk_size, V]`` logits
    are ever live: the tokens are processed ``chunk_size`` at a time in a
    ``lax.fori_loop`` inside a ``jax.custom_vjp``, every logit of a chunk comes
    from one ``[chunk, D] x [D, V]`` matmul, and the weight gradient is
    accumulated in place, a block of rows at a time.

    Cost, for ``N`` tokens and ``F = 2 N D V`` flops (one matmul of the head;
    the unfused head with its backward pass costs ``3 F``):

    * a scalar ``reduction`` (``"sum"``, ``"mean"``, ``"weighted_mean"``,
      ``"sum_by_nonzero_weights"``) with a float32/float64 ``weight``: the
      gradients are computed during the forward pass (Liger Kernel's scheme),
      ``3 F`` in all and each logit computed once; the backward pass only
      scales the stored gradients by the incoming cotangent. Called without
      differentiation, only the loss is computed (``F``).
    * ``reduction="none"``: the weight gradient depends on every token's
      cotangent, which the forward pass does not know, so the forward pass
      computes the losses (``F``) and keeps the inputs and three numbers per
      token (five with class weights: each token's log-sum-exp, ...), and the
      backward pass recomputes the logits chunk by chunk (``3 F``) without
      reducing over the vocabulary again: ``4 F`` in all, no more memory.
    * a 16-bit ``weight``: a one-pass scheme would need a float32
      accumulator as large as the weight gradient (twice its bfloat16 size).
      Instead a first pass over token chunks computes each token's
      log-sum-exp (``F``) and a second pass over blocks of classes computes,
      against every token at once, each block of the weight gradient in one
      matmul accumulated in float32 and written once in the weight's dtype
      (``3 F``): ``4 F`` in all, and no ``[D, V]`` float32 buffer.

    Memory beyond the inputs and the gradients: about two float32 blocks of
    ``chunk_size * V`` logits (a ``[chunk, V]`` block of tokens, or a block of
    classes against every token holding as many entries), a 2 MiB block of
    rows of the weight gradient being updated, and an ``[N, D]`` float32
    accumulator for the hidden gradient with a 16-bit weight. (XLA's CPU
    backend has no bfloat16 matmul and converts a bfloat16 weight to float32
    once, a ``[D, V]`` float32 temporary that GPUs and TPUs do not make.)

    ``ignore_index`` tokens give 0 and no gradient, even where their hidden
    states hold ``nan``. Labels of any integer dtype are widened to int32
    before any comparison (``int8`` labels index more than 127 classes; a
    ``uint8`` label 156 is a class, not ``ignore_index=-100``). A label
    outside ``[0, V)`` that is not ``ignore_index`` gives ``nan`` for that
    token (and no gradient), as
    :func:`jaxloss.sparse_softmax_cross_entropy` does. A ``-inf`` bias entry
    (a padded vocabulary) is left out of the normaliser and of the smoothing
    average, as there.

    Precision: 16-bit inputs are multiplied in their own dtype with float32
    accumulation; the softmax, the loss and every sum of gradients are
    float32; the gradients are returned in the inputs' dtypes and the loss is
    float32. A ``hidden``/``weight`` pair of different dtypes is multiplied in
    the wider one, which casts (copies) the narrower array.

    Tied embeddings: pass the ``[V, D]`` table itself with
    ``weight_layout="VD"``; the matmuls then contract its ``D`` axis directly
    and its gradient comes back ``[V, D]``, with no transposed copy. Passing
    ``embedding.T`` gives the same values but is *not* free: even under
    ``jax.jit`` XLA materialises the transposed ``[D, V]`` table (measured on
    XLA:CPU, jax 0.10.2: +``4 D V`` bytes of temporary memory for float32,
    and copies of the gradient), because the transpose feeds a loop.

    Transformations: works under ``jit``, ``vmap`` and reverse-mode ``grad``,
    and inside a user's ``jax.shard_map`` with the default ``check_vma=True``
    (data parallelism: tokens split over a mesh axis, ``weight`` replicated;
    each shard gets its own tokens' reduction, which the caller sums with
    ``lax.psum``, and the gradient of the replicated ``weight`` is summed over the shards
    by autodiff).
    Being a ``jax.custom_vjp``, it does not support forward mode
    (``jax.jvp``, ``jax.jacfwd``) nor, therefore, ``jax.hessian``;
    differentiate the unfused loss where those are needed. See
    :func:`jaxloss.sharded_fused_linear_cross_entropy` for a head
    split over devices (the plain function under ``jit`` with sharded inputs
    also keeps a vocabulary-sharded weight sharded, but gathers the tokens).

    Args:
      hidden: float array ``[..., D]``, the inputs of the output head.
      weight: float array ``[D, V]``, a Flax ``Dense`` kernel, or a ``[V, D]``
        embedding table with ``weight_layout="VD"``.
      labels: integer array ``hidden.shape[:-1]`` of class indices in
        ``[0, V)``, or ``ignore_index``.
      bias: optional float array ``[V]``.
      weights: optional per-token weights broadcastable to ``labels`` (e.g.
        ``[B, 1]`` per-sequence weights for ``[B, T]`` labels): a weighted
        loss needs no ``reduction="none"``. They scale each token's
        coefficient in the one fused pass.
      class_weights: optional ``[V]`` non-negative weights, one per class
        (torch's ``weight``): each token's loss is multiplied by the weight of
        its target class, the smoothing term weighs each class by its own
        weight, and ``"weighted_mean"`` divides by their sum over the tokens.
      chunk_size: tokens whose logits are computed at once. ``None`` picks
        the power of two whose ``[chunk, V]`` float32 block is at most 16 MiB
        (V = 32768: 128 tokens), between 32 and 2048 tokens and at most an
        eighth of the tokens; beyond that it does not grow with the number of
        tokens, so neither does the temporary memory. Any
        positive int works; it need not divide the number of tokens.
      ignore_index: optional label value whose tokens give 0 and no gradient.
      label_smoothing: in ``[0, 1]``; torch's smoothing,
        ``(1 - a) * nll + a * mean_c(lse - logit_c)``.
      z_loss: coefficient ``>= 0`` of ``logsumexp(logits) ** 2`` (PaLM).
      logit_soft_cap: optional ``cap > 0``; logits become
        ``cap * tanh(logits / cap)`` before the softmax.
      reduction: ``"none"`` (per-token losses shaped like ``labels``),
        ``"sum"``, ``"mean"``, ``"weighted_mean"`` or
        ``"sum_by_nonzero_weights"``, as in :func:`jaxloss.reduce`.
      weight_layout: ``"DV"`` (default, ``weight`` is ``[D, V]``) or ``"VD"``
        (``weight`` is a ``[V, D]`` table, e.g. a tied embedding). An
        addition to the API table, keyword-only.
      return_stats: if True, also return a :class:`jaxloss.HeadStats` of
        per-token ``logsumexp``, ``predicted`` (argmax) and ``correct``,
        computed in the same pass (no gradient flows through them).

    Returns:
      Per-token losses shaped like ``labels`` for ``reduction="none"``, else a
      scalar; float32 for 16-bit inputs. With ``return_stats=True``,
      ``(loss, HeadStats)``, the statistics shaped like ``labels``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> weight = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> labels = jnp.array([0, 1, -100])
      >>> losses = jaxloss.fused_linear_cross_entropy(hidden, weight, labels, ignore_index=-100)
      >>> [round(float(x), 4) for x in losses]
      [0.4076, 0.5514, 0.0]
      >>> loss = lambda h, w: jaxloss.fused_linear_cross_entropy(
      ...     h, w, labels, ignore_index=-100, reduction="weighted_mean")
      >>> dh, dw = jax.grad(loss, argnums=(0, 1))(hidden, weight)
      >>> dw.shape
      (2, 3)
      >>> # The ignored token is counted in no denominator: "mean" is (0.4076 + 0.5514) / 2.
      >>> round(float(jaxloss.fused_linear_cross_entropy(
      ...     hidden, weight, labels, ignore_index=-100, reduction="mean")), 4)
      0.4795
      >>> # What a training loop logs, without the logits: accuracy over the tokens kept.
      >>> loss, stats = jaxloss.fused_linear_cross_entropy(
      ...     hidden, weight, labels, ignore_index=-100, reduction="mean", return_stats=True)
      >>> stats.predicted.tolist(), stats.correct.tolist()
      ([0, 1, 0], [True, True, False])
      >>> # torch's cross_entropy(weight=w, reduction="mean"): (2 * 0.4076 + 0.5514) / 3.
      >>> round(float(jaxloss.fused_linear_cross_entropy(
      ...     hidden, weight, labels, ignore_index=-100, class_weights=jnp.array([2.0, 1.0, 1.0]),
      ...     reduction="weighted_mean")), 4)
      0.4555

    References:
      Hsu et al., "Liger Kernel: Efficient Triton Kernels for LLM Training",
      2024 (https://arxiv.org/abs/2410.10989). Wijmans et al., "Cut Your
      Losses in Large-Vocabulary Language Models", 2024
      (https://arxiv.org/abs/2411.09009).
    """
    head = _spec.check_head(hidden, weight, labels, bias, weight_layout)
    opts = _check_options(
        head,
        weights,
        class_weights,
        chunk_size,
        ignore_index,
        label_smoothing,
        z_loss,
        logit_soft_cap,
        reduction,
        weight_layout,
        return_stats,
    )
    return _cross_entropy_call(head, opts)


def sharded_fused_linear_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    mesh: Mesh,
    vocab_axis: str,
    token_axis: str | tuple[str, ...] | None = None,
    bias: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    class_weights: ArrayLike | None = None,
    chunk_size: int | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
    reduction: str = "none",
    weight_layout: str = "DV",
    return_stats: bool = False,
) -> Any:
    """:func:`fused_linear_cross_entropy` with the vocabulary split over devices.

    The same values and gradients as :func:`fused_linear_cross_entropy`
    (which see for every other argument), computed under ``jax.shard_map``
    on ``mesh`` with the classes (``weight``'s ``V`` axis, ``bias`` and
    ``class_weights``) split
    over ``vocab_axis`` and the tokens (all leading axes of ``hidden``,
    flattened, and ``labels``) split over ``token_axis`` (or replicated when
    it is ``None``). Each device computes the logits of its own tokens and
    classes, chunk by chunk; the row maximum, the sum of exponentials, the
    target logit (and, with smoothing, the sum of logits) are all-reduced
    over ``vocab_axis`` as ``[chunk]`` vectors, the hidden gradient is summed
    over ``vocab_axis`` and the weight gradient over ``token_axis``
    (Megatron-LM's vocabulary-parallel cross-entropy). No device ever holds
    logits of another device's classes.

    Use it inside ``jax.jit`` with arrays laid out as
    ``NamedSharding(mesh, P(token_axis, None))`` for a 2-D ``hidden``,
    ``P(None, vocab_axis)`` for ``weight`` (``P(vocab_axis, None)`` with
    ``weight_layout="VD"``); other layouts are resharded by XLA on entry.

    Args:
      hidden, weight, labels: as in :func:`fused_linear_cross_entropy`.
      mesh: the ``jax.sharding.Mesh``.
      vocab_axis: the mesh axis that splits the vocabulary; ``V`` must be a
        multiple of its size.
      token_axis: ``None``, a mesh axis name or a tuple of them splitting the
        tokens; the number of tokens must be a multiple of their total size.
      **options: as in :func:`fused_linear_cross_entropy`.

    Returns:
      As :func:`fused_linear_cross_entropy`.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np, jaxloss
      >>> from jax.sharding import Mesh
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> hidden, weight = jnp.ones((4, 3)), jnp.ones((3, 8))
      >>> float(jaxloss.sharded_fused_linear_cross_entropy(
      ...     hidden, weight, jnp.array([0, 1, 2, 3]), mesh=mesh, vocab_axis="model",
      ...     token_axis="data", reduction="mean"))
      2.079441547393799
    """
    tok, n_vocab, n_tok = _spec.check_mesh(mesh, token_axis, vocab_axis, weight, labels, weight_layout)
    head = _spec.check_head(hidden, weight, labels, bias, weight_layout)
    opts = _check_options(
        head,
        weights,
        class_weights,
        chunk_size,
        ignore_index,
        label_smoothing,
        z_loss,
        logit_soft_cap,
        reduction,
        weight_layout,
        return_stats,
        mesh=mesh,
        token_axis=tok,
        vocab_axis=vocab_axis,
        num_vocab_shards=n_vocab,
        num_token_shards=n_tok,
    )
    return _cross_entropy_call(head, opts)
