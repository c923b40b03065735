"""Fused linear + softmax cross-entropy for large vocabularies.

The output head of a language model computes ``logits = hidden @ weight`` with
``[tokens, V]`` entries, which for ``V`` in the hundreds of thousands is the
largest activation of the whole model. The functions here compute the loss
and its gradients in chunks of tokens, so that only ``[chunk, V]`` logits
exist at any moment, and (for a scalar reduction) produce the gradients in
the same pass as the loss, as Liger Kernel does: the backward pass is a
multiplication by the incoming cotangent.

``sharded_fused_linear_cross_entropy`` runs the same computation under
``jax.shard_map`` with the tokens split over one mesh axis and the vocabulary
over another (tensor parallelism, Megatron-LM style): the row maximum, the sum
of exponentials and the target logit are all-reduced over the vocabulary
axis, and the logits are never gathered. (For logits that are already
materialised and vocabulary-sharded, ``jaxloss.sparse_softmax_cross_entropy``
under ``jit`` is partitioned that way by XLA itself.)
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from jaxloss import _checks, _reduce, _vma
from jaxloss._primitives import safe_mul

# The vocabulary scheme's blocks have at least this many classes (matmul efficiency).
_MIN_VOCAB_BLOCK = 128


class _Config(NamedTuple):
    """Static description of one fused computation (hashable: a custom_vjp nondiff arg)."""

    reduction: str
    chunk: int  # tokens whose logits are live at once
    ignore_index: int | None
    has_bias: bool
    smoothing: bool  # label_smoothing is not a static 0
    zloss: bool  # z_loss is not a static 0
    softcap: bool  # logit_soft_cap is set
    num_classes: int  # the whole vocabulary (all shards)
    acc_dtype: Any  # float32, or float64 for float64 inputs
    vd: bool = False  # the weight is a [V, D] table (weight_layout="VD")
    has_cw: bool = False  # class_weights are given
    scheme: str = "tokens"  # "tokens" (one pass) or "vocab" (16-bit weights), see _choose_scheme
    mesh: Mesh | None = None
    token_axis: Any = None  # a mesh axis name, a tuple of names, or None
    vocab_axis: Any = None


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------


def _validate(
    hidden,
    weight,
    labels,
    bias,
    chunk_size,
    ignore_index,
    label_smoothing,
    z_loss,
    logit_soft_cap,
    reduction,
    weight_layout,
):
    """Trace-time checks; returns the validated arrays and the vocabulary size."""
    _reduce.check_reduction(reduction)
    if weight_layout not in ("DV", "VD"):
        raise _checks.error(
            ValueError,
            f"`weight_layout` must be 'DV' ([D, V] kernel) or 'VD' ([V, D] embedding table), got {weight_layout!r}.",
        )
    hidden = _checks.as_float(hidden, "hidden")
    weight = _checks.as_float(weight, "weight")
    labels = _checks.as_integer(labels, "labels")
    if hidden.ndim < 1:
        raise _checks.error(ValueError, "`hidden` must have a feature axis, shape [..., D], got a scalar.")
    vd = weight_layout == "VD"
    expected = "[V, D] embedding table (weight_layout='VD')" if vd else "[D, V] kernel (a Flax Dense kernel)"
    if weight.ndim != 2:
        raise _checks.error(ValueError, f"`weight` must be a 2-D {expected}, got shape {tuple(weight.shape)}.")
    d_axis = 1 if vd else 0
    if weight.shape[d_axis] != hidden.shape[-1]:
        hint = "" if vd else " For a tied [V, D] embedding table pass weight_layout='VD'."
        raise _checks.error(
            ValueError,
            f"`weight` must be a {expected} with D = hidden.shape[-1] = {hidden.shape[-1]}, got "
            f"shape {tuple(weight.shape)}.{hint}",
        )
    num_classes = weight.shape[1 - d_axis]
    if num_classes == 0:
        raise _checks.error(
            ValueError, f"`weight` must have at least one class (V > 0), got shape {tuple(weight.shape)}."
        )
    if tuple(labels.shape) != tuple(hidden.shape[:-1]):
        raise _checks.error(
            ValueError,
            f"`labels` must have the shape of `hidden` without its last axis, "
            f"{tuple(hidden.shape[:-1])}, got {tuple(labels.shape)}.",
        )
    if bias is not None:
        bias = _checks.as_float(bias, "bias")
        if tuple(bias.shape) != (num_classes,):
            raise _checks.error(ValueError, f"`bias` must have shape (V,) = ({num_classes},), got {tuple(bias.shape)}.")
    _checks.check_int(chunk_size, "chunk_size", allow_none=True, minimum=1)
    _checks.check_ignore_index(ignore_index)
    _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
    _checks.check_range(z_loss, "z_loss", 0.0)
    if logit_soft_cap is not None:
        _checks.check_range(logit_soft_cap, "logit_soft_cap", 0.0, low_open=True)
    return hidden, weight, labels, bias, num_classes


def _auto_chunk(num_tokens: int, dim: int, vocab: int) -> int:
    # Liger's rule: a chunk of logits about the size of `hidden` itself
    # (chunk * V ~ N * D), rounded up to a power of two, at least 64 tokens so
    # the matmuls stay efficient, at most 2048 (no gain beyond).
    target = max(1, -(-num_tokens * dim // max(vocab, 1)))
    chunk = 1 << (target - 1).bit_length()
    return max(1, min(max(chunk, 64), 2048, num_tokens))


# --------------------------------------------------------------------------
# the per-chunk mathematics
# --------------------------------------------------------------------------


def _dot(a, b, contract_a: int, contract_b: int, acc_dtype):
    return lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((), ())), preferred_element_type=acc_dtype)


def _allreduce(cfg: _Config, x, op):
    # Every reduction over the vocabulary is a local reduction followed by an
    # all-reduce of one number per token: the logits never leave their device.
    return x if cfg.vocab_axis is None else op(x, cfg.vocab_axis)


def _logits(cfg: _Config, hh, w, bs, opts):
    """``s = cap * tanh((hh @ w + b) / cap)`` (or without the cap) and ``tanh``."""
    z = _dot(hh, w, 1, 1 if cfg.vd else 0, cfg.acc_dtype)
    if cfg.has_bias:
        z = z + bs[0].astype(cfg.acc_dtype)[None, :]
    if not cfg.softcap:
        return z, None
    # Gemma-2 soft cap: cap * tanh(z / cap), whose derivative is 1 - tanh^2.
    t = jnp.tanh(z / opts[2])
    return opts[2] * t, t


class _Rows(NamedTuple):
    """Per-token results of a full pass over the vocabulary."""

    loss: jax.Array | None  # None where only the statistics travel (grad_from_stats)
    lse: jax.Array  # logsumexp of the (capped) logits, 0 for a row with no finite logit
    n_kept: jax.Array  # classes with a finite logit (the smoothing average's size)
    live: jax.Array  # the token has a gradient: a label in range, not ignored, a finite row
    wy: jax.Array | None = None  # the class weight of the target (with class_weights)
    wsum: jax.Array | None = None  # the sum of the class weights of the finite classes (with class_weights)

    def arrays(self) -> tuple:
        """The statistics a later pass needs, without the loss (``None`` fields left out)."""
        return tuple(x for x in (self.lse, self.n_kept, self.live, self.wy, self.wsum) if x is not None)

    @classmethod
    def of(cls, arrays) -> _Rows:
        return cls(None, *arrays)


def _row_stats(cfg: _Config, s, yy, local_y, opts, cws=()) -> _Rows:
    """Loss of each row of ``s`` [C, V_local], with the vocabulary all-reduced.

    ``cws``: ``()`` or this device's ``[V_local]`` class weights.
    """
    smoothing, zl, _ = opts
    v_local = s.shape[1]
    m = _allreduce(cfg, jnp.max(s, axis=-1), lax.pmax)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    sum_exp = _allreduce(cfg, jnp.sum(jnp.exp(s - m[:, None]), axis=-1), lax.psum)
    row_ok = sum_exp > 0  # some class has a finite logit
    lse = jnp.where(row_ok, jnp.log(jnp.where(row_ok, sum_exp, 1.0)) + m, 0.0)
    # The target logit: one gather per row on the device that holds the class.
    hit = (local_y >= 0) & (local_y < v_local)
    picked = jnp.take_along_axis(s, jnp.clip(local_y, 0, v_local - 1)[:, None], axis=-1, mode="promise_in_bounds")[:, 0]
    target = _allreduce(cfg, jnp.where(hit, picked, 0.0), lax.psum)
    loss = lse - target
    count = jnp.ones_like(lse)
    wy = wsum = None
    if cfg.has_cw:
        # torch's `weight`: the target's class weight scales its nll.
        cw = cws[0]
        w_picked = jnp.take(cw, jnp.clip(local_y, 0, v_local - 1), mode="clip")
        wy = _allreduce(cfg, jnp.where(hit, w_picked, 0.0), lax.psum)
        loss = wy * loss
    if cfg.smoothing:
        # torch's smoothing, (1 - a) * nll + a/K * sum_c w_c (lse - s_c), over
        # the K classes with a finite logit (a -inf bias entry, e.g. a padded
        # vocabulary, is left out as the core loss does); w_c = 1 without
        # class weights.
        kept = s > -jnp.inf
        count = jnp.maximum(_allreduce(cfg, jnp.sum(kept, axis=-1).astype(lse.dtype), lax.psum), 1.0)
        if cfg.has_cw:
            cw_row = jnp.where(kept, cw[None, :], 0.0)
            ws_sum = _allreduce(cfg, jnp.sum(cw_row * jnp.where(kept, s, 0.0), axis=-1), lax.psum)
            wsum = _allreduce(cfg, jnp.sum(cw_row, axis=-1), lax.psum)
            loss = (1.0 - smoothing) * loss + smoothing * (wsum * lse - ws_sum) / count
        else:
            s_sum = _allreduce(cfg, jnp.sum(jnp.where(kept, s, 0.0), axis=-1), lax.psum)
            loss = (1.0 - smoothing) * loss + smoothing * (lse - s_sum / count)
    elif cfg.has_cw:
        wsum = jnp.zeros_like(lse)  # unused without smoothing
    if cfg.zloss:
        loss = loss + zl * jnp.square(lse)
    in_range = (yy >= 0) & (yy < cfg.num_classes)
    ignored = _ignored(cfg, yy)
    loss = jnp.where(row_ok & ~ignored, loss, 0.0)
    # An out-of-range label gives nan and, as in the core loss, no gradient.
    loss = jnp.where(in_range | ignored, loss, jnp.nan)
    return _Rows(loss, lse, count, row_ok & in_range & ~ignored, wy, wsum)


def _dlogits(cfg: _Config, s, t, local_y, rows: _Rows, coef, opts, cws=(), start=0):
    """``d sum(coef * loss) / d logits`` for a block of columns starting at ``start``.

    With ``p = softmax(s)``, class weights ``w`` (1 when absent), ``W`` their
    sum over the ``K`` kept classes: ``d loss / d s_c = p_c ((1 - a) w_y +
    a W / K + 2 z lse) - (1 - a) w_y [c = y] - a w_c [c kept] / K``, times
    ``1 - tanh^2`` under the soft cap. ``cws``: ``()`` or the block's class
    weights.
    """
    smoothing, zl, _ = opts
    scale = jnp.where(rows.live, coef, 0.0)
    p = jnp.exp(s - rows.lse[:, None])
    target_w = scale * rows.wy if rows.wy is not None else scale  # the nll term's weight
    if cfg.smoothing:
        smooth_w = scale * smoothing / rows.n_kept  # per kept class, times w_c
        target_w = target_w * (1.0 - smoothing)
        p_w = target_w + (smooth_w * rows.wsum if cfg.has_cw else scale * smoothing)
    else:
        p_w = target_w
    if cfg.zloss:
        p_w = p_w + scale * 2.0 * zl * rows.lse
    g = p * p_w[:, None]
    cls = lax.broadcasted_iota(jnp.int32, s.shape, 1) + start
    g = g - jnp.where(cls == local_y[:, None].astype(jnp.int32), target_w[:, None], 0.0)
    if cfg.smoothing:
        per_class = smooth_w[:, None] * cws[0][None, :] if cfg.has_cw else smooth_w[:, None]
        g = g - jnp.where(s > -jnp.inf, per_class, 0.0)
    if cfg.softcap:
        g = g * (1.0 - jnp.square(t))
    return g


def _ignored(cfg: _Config, y):
    if cfg.ignore_index is None:
        return jnp.zeros(y.shape, bool)
    return y == cfg.ignore_index


def _blocks(total: int, block: int, carry, update):
    """``update(carry, start, size)`` over ``[0, total)`` in blocks: a loop, then a static tail."""
    block = max(1, min(block, total))
    n_full = total // block
    if n_full == 1:
        carry = update(carry, 0, block)
    elif n_full:
        carry = lax.fori_loop(0, n_full, lambda i, c: update(c, i * block, block), carry)
    if total % block:
        carry = update(carry, n_full * block, total % block)
    return carry


def _add_rows(acc_w, h_t, g, block: int, acc_dtype):
    """``acc_w += h_t @ g`` ([D, V]) a block of rows at a time (no [D, V] temporary)."""
    if block >= h_t.shape[0]:
        return acc_w + _dot(h_t, g, 1, 0, acc_dtype)

    def update(acc_w, start, size):
        rows = lax.dynamic_slice_in_dim(h_t, start, size, 0)
        cur = lax.dynamic_slice_in_dim(acc_w, start, size, 0)
        return lax.dynamic_update_slice_in_dim(acc_w, cur + _dot(rows, g, 1, 0, acc_dtype), start, 0)

    return _blocks(h_t.shape[0], block, acc_w, update)


def _add_rows_vd(acc_w, g, hh, block: int, acc_dtype):
    """``acc_w += g.T @ hh`` ([V, D], a tied embedding) a block of vocabulary rows at a time."""
    if block >= g.shape[1]:
        return acc_w + _dot(g, hh, 0, 0, acc_dtype)

    def update(acc_w, start, size):
        cols = lax.dynamic_slice_in_dim(g, start, size, 1)
        cur = lax.dynamic_slice_in_dim(acc_w, start, size, 0)
        return lax.dynamic_update_slice_in_dim(acc_w, cur + _dot(cols, hh, 0, 0, acc_dtype), start, 0)

    return _blocks(g.shape[1], block, acc_w, update)


# --------------------------------------------------------------------------
# the two passes
# --------------------------------------------------------------------------


def _vocab_offset(cfg: _Config, v_local: int):
    return 0 if cfg.vocab_axis is None else lax.axis_index(cfg.vocab_axis) * v_local


def _local_labels(y, offset):
    # Standard promotion of the labels with the int32 offset, cast explicitly
    # (users may run with jax_numpy_dtype_promotion="strict").
    if isinstance(offset, int):
        return y - offset
    dtype = _checks.result_type(y.dtype, offset.dtype)
    return y.astype(dtype) - offset.astype(dtype)


def _token_pass(cfg: _Config, mode: str, h2, w, bs, cws, y, coef, opts):
    """This device's tokens, ``cfg.chunk`` at a time, each against all its classes.

    ``mode``: ``"loss"`` (per-token losses), ``"stats"`` (the losses and the
    other ``_Rows`` fields) or ``"grad"`` (the losses and the gradients of
    ``sum(coef * loss)``: ``dh`` [N, D] in hidden's dtype, ``dw`` in the
    accumulation dtype summed over the token axes, ``db``).
    """
    acc = cfg.acc_dtype
    n, d = h2.shape
    v_local = w.shape[0] if cfg.vd else w.shape[1]
    offset = _vocab_offset(cfg, v_local)
    grad = mode == "grad"
    carry = {"loss": jnp.zeros((n,), acc)}
    if cfg.has_cw:  # the targets' class weights, for the weighted denominators
        carry["wy"] = jnp.zeros((n,), acc)
    if mode == "stats":
        carry.update(lse=jnp.zeros((n,), acc), count=jnp.zeros((n,), acc), live=jnp.zeros((n,), bool))
        if cfg.has_cw:
            carry["wsum"] = jnp.zeros((n,), acc)
    if grad:
        carry.update(dh=jnp.zeros((n, d), h2.dtype), dw=jnp.zeros(w.shape, acc))
        if cfg.has_bias:
            carry["db"] = jnp.zeros((v_local,), acc)
    # Inside a user's shard_map (check_vma=True) the loop carries must have the
    # type of what the loop writes into them: varying over the inputs' axes.
    carry = _vma.vary_like(carry, h2, w, bs, cws, y, coef, opts)

    def step(carry, start, size):
        hh = lax.dynamic_slice_in_dim(h2, start, size, 0)
        yy = lax.dynamic_slice_in_dim(y, start, size, 0)
        local_y = _local_labels(yy, offset)
        s, t = _logits(cfg, hh, w, bs, opts)
        rows = _row_stats(cfg, s, yy, local_y, opts, cws)
        carry = dict(carry)
        put = functools.partial(lax.dynamic_update_slice_in_dim, start_index=start, axis=0)
        assert rows.loss is not None  # a full pass computes the loss
        carry["loss"] = put(carry["loss"], rows.loss)
        if rows.wy is not None:
            carry["wy"] = put(carry["wy"], rows.wy)
        if mode == "stats":
            for k, value in (("lse", rows.lse), ("count", rows.n_kept), ("live", rows.live), ("wsum", rows.wsum)):
                if value is not None:
                    carry[k] = put(carry[k], value)
        if grad:
            cc = lax.dynamic_slice_in_dim(coef, start, size, 0)
            g = _dlogits(cfg, s, t, local_y, rows, cc, opts, cws)
            g_op = g.astype(w.dtype)
            # g @ w.T ([D, V] kernel) or g @ w ([V, D] table): contract the vocabulary.
            dh = _allreduce(cfg, _dot(g_op, w, 1, 0 if cfg.vd else 1, acc), lax.psum)
            carry["dh"] = put(carry["dh"], dh.astype(h2.dtype))
            if cfg.vd:
                # Blocks of vocabulary rows holding about as many entries as the logits.
                block = max(8, cfg.chunk * v_local // max(d, 1))
                carry["dw"] = _add_rows_vd(carry["dw"], g_op, hh, block, acc)
            else:
                carry["dw"] = _add_rows(carry["dw"], hh.T, g_op, max(cfg.chunk, 8), acc)
            if cfg.has_bias:
                carry["db"] = carry["db"] + jnp.sum(g, axis=0)
        return carry

    carry = _blocks(n, cfg.chunk, carry, step)
    if grad and cfg.token_axis is not None:
        carry["dw"] = lax.psum(carry["dw"], cfg.token_axis)
        if cfg.has_bias:
            carry["db"] = lax.psum(carry["db"], cfg.token_axis)
    return carry


def _vocab_pass(cfg: _Config, h2, w, bs, cws, y, coef, opts, rows: _Rows):
    """The gradients, a block of this device's classes at a time against all its tokens.

    Needs the per-token statistics of a ``"stats"`` token pass. Each block of
    the weight gradient is one matmul over every token, accumulated in
    ``acc_dtype`` and written once in the weight's dtype: 16-bit weights get
    float32 accumulation without a float32 copy of the whole gradient.
    """
    acc = cfg.acc_dtype
    n, d = h2.shape
    v_local = w.shape[0] if cfg.vd else w.shape[1]
    local_y = _local_labels(y, _vocab_offset(cfg, v_local))
    w_axis = 0 if cfg.vd else 1
    # As many logits per block as a token chunk holds, at least 128 columns.
    block = max(min(v_local, _MIN_VOCAB_BLOCK), cfg.chunk * v_local // max(n, 1))
    carry = {"dh": jnp.zeros((n, d), acc), "dw": jnp.zeros(w.shape, w.dtype)}
    if cfg.has_bias:
        carry["db"] = jnp.zeros((v_local,), acc)
    carry = _vma.vary_like(carry, h2, w, bs, cws, y, coef, opts, rows)

    def step(carry, start, size):
        wj = lax.dynamic_slice_in_dim(w, start, size, w_axis)
        bj = tuple(lax.dynamic_slice_in_dim(b, start, size, 0) for b in bs)
        cwj = tuple(lax.dynamic_slice_in_dim(c, start, size, 0) for c in cws)
        s, t = _logits(cfg, h2, wj, bj, opts)
        g = _dlogits(cfg, s, t, local_y, rows, coef, opts, cwj, start)
        g_op = g.astype(w.dtype)
        carry = dict(carry)
        carry["dh"] = carry["dh"] + _dot(g_op, wj, 1, 0 if cfg.vd else 1, acc)
        dwj = _dot(g_op, h2, 0, 0, acc) if cfg.vd else _dot(h2, g_op, 0, 0, acc)
        if cfg.token_axis is not None:
            dwj = lax.psum(dwj, cfg.token_axis)
        carry["dw"] = lax.dynamic_update_slice_in_dim(carry["dw"], dwj.astype(w.dtype), start, w_axis)
        if cfg.has_bias:
            carry["db"] = lax.dynamic_update_slice_in_dim(carry["db"], jnp.sum(g, axis=0), start, 0)
        return carry

    carry = _blocks(v_local, block, carry, step)
    carry["dh"] = _allreduce(cfg, carry["dh"], lax.psum).astype(h2.dtype)
    if cfg.has_bias and cfg.token_axis is not None:
        carry["db"] = lax.psum(carry["db"], cfg.token_axis)
    return carry


def _stats_rows(cfg: _Config, out) -> tuple:
    """The statistics of a ``"stats"`` pass that the vocabulary pass needs, as a tuple."""
    return _Rows(None, out["lse"], out["count"], out["live"], out.get("wy"), out.get("wsum")).arrays()


def _local(cfg: _Config, mode: str, h2, w, bs, cws, y, coef, opts, rows):
    """Dispatches ``mode`` (``"loss"``, ``"stats"``, ``"grad"``, ``"grad_from_stats"``)."""
    if mode == "grad_from_stats":
        return _vocab_pass(cfg, h2, w, bs, cws, y, coef, opts, _Rows.of(rows))
    if mode == "grad" and cfg.scheme == "vocab":
        stats = _token_pass(cfg, "stats", h2, w, bs, cws, y, coef, opts)
        out = _vocab_pass(cfg, h2, w, bs, cws, y, coef, opts, _Rows.of(_stats_rows(cfg, stats)))
        out["loss"] = stats["loss"]
        if cfg.has_cw:
            out["wy"] = stats["wy"]
        return out
    return _token_pass(cfg, mode, h2, w, bs, cws, y, coef, opts)


def _run(cfg: _Config, mode: str, h2, w, bs, cws, y, coef=None, opts=None, rows=()):
    """``_local`` on one device, or under ``shard_map`` on ``cfg.mesh``."""
    if coef is None:
        coef = jnp.zeros((), cfg.acc_dtype)
    fn = functools.partial(_local, cfg, mode)
    if cfg.mesh is None:
        return fn(h2, w, bs, cws, y, coef, opts, rows)
    tok, voc = cfg.token_axis, cfg.vocab_axis
    w_spec = P(voc, None) if cfg.vd else P(None, voc)
    out_specs = {} if mode == "grad_from_stats" else {"loss": P(tok)}
    if cfg.has_cw and mode != "grad_from_stats":
        out_specs["wy"] = P(tok)
    if mode == "stats":
        out_specs.update(lse=P(tok), count=P(tok), live=P(tok))
        if cfg.has_cw:
            out_specs["wsum"] = P(tok)
    if mode in ("grad", "grad_from_stats"):
        out_specs.update(dh=P(tok, None), dw=w_spec)
        if cfg.has_bias:
            out_specs["db"] = P(voc)
    in_specs = (
        P(tok, None),
        w_spec,
        tuple(P(voc) for _ in bs),
        tuple(P(voc) for _ in cws),
        P(tok),
        P(tok) if jnp.ndim(coef) else P(),
        (P(), P(), P()),
        tuple(P(tok) for _ in rows),
    )
    # check_vma=False: the collectives are written out by hand (each output is
    # made invariant over the axes its spec leaves out), and this function is
    # never differentiated by autodiff (it sits inside a custom_vjp).
    sharded = jax.shard_map(fn, mesh=cfg.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return sharded(h2, w, bs, cws, y, coef, opts, rows)


# --------------------------------------------------------------------------
# the custom VJP
# --------------------------------------------------------------------------


def _safe_div(num, den):
    # A zero denominator (every token ignored, or zero weights) gives 0, as
    # jaxloss.reduce does.
    zero = den == 0
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def _grads(cfg: _Config, out, w, bs):
    dw = out["dw"].astype(w.dtype)
    db = (out["db"].astype(bs[0].dtype),) if cfg.has_bias else ()
    return out["dh"], dw, db


def _dropped(coef, losses):
    # jaxloss.reduce's safe product: a zero coefficient drops a nan/inf loss.
    return jnp.where((coef == 0) & ~jnp.isfinite(losses), 0.0, losses)


def _with_wy(cfg: _Config, value, out):
    # The targets' class weights (no gradient: the class weights are constants).
    return value, (out["wy"] if cfg.has_cw else None)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused(cfg: _Config, h2, w, bs, cws, y, opts, coef):
    """``(losses, wy)`` for ``"none"``, ``(sum(coef * losses), wy)`` for a scalar reduction.

    ``wy``: each token's target class weight with class weights, else None.
    """
    out = _run(cfg, "loss", h2, w, bs, cws, y, opts=opts)
    if cfg.reduction == "none":
        return _with_wy(cfg, out["loss"], out)
    return _with_wy(cfg, jnp.sum(coef * _dropped(coef, out["loss"])), out)


def _fused_fwd(cfg: _Config, h2, w, bs, cws, y, opts, coef):
    if cfg.reduction == "none":
        if cfg.scheme == "vocab":
            # Keep four numbers per token (six with class weights); the
            # backward pass is one pass over the vocabulary blocks (the logits
            # computed once more).
            out = _run(cfg, "stats", h2, w, bs, cws, y, opts=opts)
            return _with_wy(cfg, out["loss"], out), (h2, w, bs, cws, y, opts, _stats_rows(cfg, out))
        # Keep only the inputs: the weight gradient needs every token's
        # cotangent, so the backward pass recomputes the logits chunk by chunk.
        return _fused(cfg, h2, w, bs, cws, y, opts, coef), (h2, w, bs, cws, y, opts, None)
    # A scalar reduction: the gradients of sum(coef * loss) in the same pass.
    out = _run(cfg, "grad", h2, w, bs, cws, y, coef, opts)
    losses = _dropped(coef, out["loss"])
    return _with_wy(cfg, jnp.sum(coef * losses), out), (*_grads(cfg, out, w, bs), losses)


def _fused_bwd(cfg: _Config, res, cts):
    ct, _ = cts  # wy depends on no differentiable input
    if cfg.reduction == "none":
        h2, w, bs, cws, y, opts, rows = res
        coef = ct.astype(cfg.acc_dtype)
        if rows is None:
            out = _run(cfg, "grad", h2, w, bs, cws, y, coef, opts)
        else:
            out = _run(cfg, "grad_from_stats", h2, w, bs, cws, y, coef, opts, rows)
        return (*_grads(cfg, out, w, bs), None, None, None, None)
    dh, dw, db, losses = res
    # Scaled in their own dtype, so XLA can write the result in place.
    scale = lambda x: x * ct.astype(x.dtype)  # noqa: E731
    # The coefficients (the per-token weights over the denominator) get the
    # losses: gradients reach `weights` through the reduction outside.
    return scale(dh), scale(dw), tuple(scale(b) for b in db), None, None, None, scale(losses)


_fused.defvjp(_fused_fwd, _fused_bwd)


# Compiled once per shape and configuration: an eager call (or an eager
# ``grad``) runs one program instead of retracing the chunk loops every time;
# under an outer ``jit`` or ``shard_map`` it is inlined.
_fused_compiled = jax.jit(_fused, static_argnums=(0,))


def _choose_scheme(weight_dtype, acc_dtype) -> str:
    # A weight narrower than the accumulation dtype (16-bit) would need a
    # [D, V] float32 accumulator in the one-pass token scheme, twice the
    # gradient's own size: the vocabulary scheme accumulates each block of
    # the weight gradient in float32 inside one matmul instead, for a fourth
    # matmul (the logits computed twice).
    return "vocab" if jnp.dtype(weight_dtype).itemsize < jnp.dtype(acc_dtype).itemsize else "tokens"


def _reduce_sum(cfg: _Config, total, y, tw, wy):
    """``total = sum(tw * loss)`` over the reduction's denominator, as :func:`jaxloss.reduce`.

    With ``where = labels != ignore_index`` (``tw`` is 0 there) and the
    weights ``tw * class_weights[labels]`` (``wy``) in the denominators of
    ``"weighted_mean"`` and ``"sum_by_nonzero_weights"``.
    """
    acc = cfg.acc_dtype
    if cfg.reduction == "sum":
        return total
    if cfg.reduction == "mean":
        return _safe_div(total, jnp.sum(~_ignored(cfg, y)).astype(acc))
    eff = tw if wy is None else tw * wy
    den = jnp.sum(eff) if cfg.reduction == "weighted_mean" else jnp.count_nonzero(eff).astype(acc)
    return _safe_div(total, den)


def _prepare(
    hidden,
    weight,
    labels,
    bias,
    weights,
    class_weights,
    chunk_size,
    ignore_index,
    label_smoothing,
    z_loss,
    logit_soft_cap,
    reduction,
    weight_layout,
    *,
    mesh=None,
    token_axis=None,
    vocab_axis=None,
    num_vocab_shards=1,
    num_token_shards=1,
):
    hidden, weight, labels, bias, v = _validate(
        hidden,
        weight,
        labels,
        bias,
        chunk_size,
        ignore_index,
        label_smoothing,
        z_loss,
        logit_soft_cap,
        reduction,
        weight_layout,
    )
    if weights is not None:
        weights = _checks.as_numeric(weights, "weights")
        _checks.check_broadcastable_to(weights, labels.shape, "weights", "labels")
    d = hidden.shape[-1]
    acc = _checks.compute_dtype(hidden, weight, *([bias] if bias is not None else []))
    # The matmuls run in the inputs' common dtype with `acc` accumulation;
    # only a mixed-precision pair casts the narrower one (weight included).
    op = _checks.result_type(hidden.dtype, weight.dtype)
    h2 = hidden.reshape(-1, d).astype(op)
    w = weight.astype(op)
    y = labels.reshape(-1)
    n = h2.shape[0]
    tw = None if weights is None else jnp.broadcast_to(weights, labels.shape).reshape(-1).astype(acc)
    cw = None
    if class_weights is not None:
        # Constants, as torch's `weight`: no gradient reaches them.
        cw = _checks.class_vector(class_weights, "class_weights", v, acc)
        cw = lax.stop_gradient(jnp.broadcast_to(cw, (v,)))
    n_local = n // num_token_shards
    v_local = v // num_vocab_shards
    chunk = chunk_size if chunk_size is not None else _auto_chunk(n_local, d, v_local)
    cfg = _Config(
        reduction=reduction,
        chunk=int(chunk),
        ignore_index=None if ignore_index is None else int(ignore_index),
        has_bias=bias is not None,
        smoothing=not _checks.is_static_zero(label_smoothing),
        zloss=not _checks.is_static_zero(z_loss),
        softcap=logit_soft_cap is not None,
        num_classes=int(v),
        acc_dtype=jnp.dtype(acc),
        vd=weight_layout == "VD",
        has_cw=cw is not None,
        scheme=_choose_scheme(w.dtype, acc),
        mesh=mesh,
        token_axis=token_axis,
        vocab_axis=vocab_axis,
    )
    cap = 1.0 if logit_soft_cap is None else logit_soft_cap
    opts = tuple(jnp.asarray(o, acc) for o in (label_smoothing, z_loss, cap))
    bs = () if bias is None else (bias,)
    cws = () if cw is None else (cw,)
    # The per-token weights, 0 where ignored (the reduction's `where`). A
    # scalar reduction is computed as sum(tw * loss) / denominator: the
    # gradients of the sum come out of the same pass, and the division (by a
    # denominator that may need the targets' class weights, which the pass
    # also gives) is ordinary autodiff outside it.
    keep = ~_ignored(cfg, y)
    tw = keep.astype(acc) if tw is None else jnp.where(keep, tw, 0.0)
    coef = jnp.zeros((), acc) if reduction == "none" else tw
    # Inside a user's shard_map (check_vma=True): every input of the custom
    # VJP gets the same varying axes, so its cotangents and loop carries have
    # the inputs' type; autodiff then sums the gradient of a replicated
    # weight over the token shards (the transpose of that cast).
    h2, w, bs, cws, y, opts, coef = _vma.match(h2, w, bs, cws, y, opts, coef)
    out, wy = _fused_compiled(cfg, h2, w, bs, cws, y, opts, coef)
    if reduction != "none":
        return _reduce_sum(cfg, out, y, tw, wy)
    if weights is not None:
        out = safe_mul(tw, out)
    return out.reshape(labels.shape)


def _vocabulary_size(arguments) -> int | None:
    """V, from the weight's layout (for :func:`jaxloss.checked`)."""
    weight = arguments.get("weight")
    if weight is None or len(getattr(weight, "shape", ())) != 2:
        return None
    return int(weight.shape[0] if arguments.get("weight_layout") == "VD" else weight.shape[1])


@_checks.declare(
    labels="labels",
    num_classes=_vocabulary_size,
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
) -> jax.Array:
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
      computes the losses (``F``) and keeps only the inputs (plus four numbers
      per token for a 16-bit weight), and the backward pass recomputes the
      logits chunk by chunk (``3 F``): ``4 F`` in all, no more memory.
    * a 16-bit ``weight``: a one-pass scheme would need a float32
      accumulator as large as the weight gradient (twice its bfloat16 size).
      Instead a first pass over token chunks computes each token's
      log-sum-exp (``F``) and a second pass over blocks of classes computes,
      against every token at once, each block of the weight gradient in one
      matmul accumulated in float32 and written once in the weight's dtype
      (``3 F``): ``4 F`` in all, and no ``[D, V]`` float32 buffer.

    Memory beyond the inputs and the gradients: about two float32 blocks of
    ``chunk_size * V`` logits (a ``[chunk, V]`` block of tokens, or a block of
    classes against every token holding as many entries), a block of rows of
    the weight gradient of the same size, and an ``[N, D]`` float32
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
    :func:`jaxloss._fused.sharded_fused_linear_cross_entropy` for a head
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
      chunk_size: tokens whose logits are computed at once. ``None`` picks a
        power of two near ``N * D / V`` (so the live logits are about the size
        of ``hidden``), between 64 and 2048 tokens. Any positive int works; it
        need not divide the number of tokens.
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

    Returns:
      Per-token losses shaped like ``labels`` for ``reduction="none"``, else a
      scalar; float32 for 16-bit inputs.

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
    return _prepare(
        hidden,
        weight,
        labels,
        bias,
        weights,
        class_weights,
        chunk_size,
        ignore_index,
        label_smoothing,
        z_loss,
        logit_soft_cap,
        reduction,
        weight_layout,
    )


# --------------------------------------------------------------------------
# tensor parallelism: the vocabulary split over a mesh axis
# --------------------------------------------------------------------------


def _mesh_axes(mesh, token_axis, vocab_axis):
    """Checks the mesh and axis names; returns (token axes as a tuple or None, sizes)."""
    if not isinstance(mesh, Mesh):
        raise _checks.error(TypeError, f"`mesh` must be a jax.sharding.Mesh, got {mesh!r}.")
    names = tuple(mesh.axis_names)
    if not isinstance(vocab_axis, str) or vocab_axis not in names:
        raise _checks.error(ValueError, f"`vocab_axis` must name an axis of `mesh` {names}, got {vocab_axis!r}.")
    if token_axis is None:
        tok = None
    else:
        tok = (token_axis,) if isinstance(token_axis, str) else tuple(token_axis)
        for a in tok:
            if not isinstance(a, str) or a not in names:
                raise _checks.error(ValueError, f"`token_axis` must name axes of `mesh` {names}, got {token_axis!r}.")
            if a == vocab_axis:
                raise _checks.error(ValueError, f"`token_axis` and `vocab_axis` must differ, both hold {a!r}.")
        if len(set(tok)) != len(tok):
            raise _checks.error(ValueError, f"`token_axis` repeats an axis: {token_axis!r}.")
    n_vocab = mesh.shape[vocab_axis]
    n_tok = math.prod(mesh.shape[a] for a in tok) if tok else 1
    return tok, n_vocab, n_tok


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
) -> jax.Array:
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
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from jax.sharding import Mesh
      >>> from jaxloss._fused import sharded_fused_linear_cross_entropy
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> hidden, weight = jnp.ones((4, 3)), jnp.ones((3, 8))
      >>> float(sharded_fused_linear_cross_entropy(
      ...     hidden, weight, jnp.array([0, 1, 2, 3]), mesh=mesh, vocab_axis="model",
      ...     token_axis="data", reduction="mean"))
      2.079441547393799
    """
    tok, n_vocab, n_tok = _mesh_axes(mesh, token_axis, vocab_axis)
    vd = weight_layout == "VD"
    v = jnp.shape(weight)[0 if vd else 1] if jnp.ndim(weight) == 2 else None
    if v is not None and v % n_vocab:
        raise _checks.error(
            ValueError,
            f"the vocabulary size V = {v} of `weight` must be a multiple of the size "
            f"{n_vocab} of mesh axis `vocab_axis`={vocab_axis!r}.",
        )
    n = math.prod(jnp.shape(labels))
    if n % n_tok:
        raise _checks.error(
            ValueError,
            f"the number of tokens {n} (`labels`.size) must be a multiple of the size "
            f"{n_tok} of mesh axes `token_axis`={token_axis!r}.",
        )
    return _prepare(
        hidden,
        weight,
        labels,
        bias,
        weights,
        class_weights,
        chunk_size,
        ignore_index,
        label_smoothing,
        z_loss,
        logit_soft_cap,
        reduction,
        weight_layout,
        mesh=mesh,
        token_axis=tok,
        vocab_axis=vocab_axis,
        num_vocab_shards=n_vocab,
        num_token_shards=n_tok,
    )
