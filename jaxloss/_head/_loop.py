"""The chunk loop every fused head shares: logits a block at a time, gradients accumulated in place.

A head computation is a *row model* (what a loss computes from each token's
row of logits, and the derivative of that with respect to the row) run by
the passes here:

* :func:`token_pass`: the tokens ``spec.chunk`` at a time, each chunk
  against all of this device's classes: ``u = transform(hidden @ weight +
  bias)`` (``[chunk, V]``, never more), the model's per-token results and,
  with ``grad=True``, the gradients of ``sum(model's objective)`` with
  respect to hidden, weight and bias, accumulated as the chunks go.
* :func:`class_pass`: the gradients a block of classes at a time against
  every token, from per-token statistics a token pass saved (for 16-bit
  weights, see ``_spec.choose_scheme``).

A row model is a static (hashable) object with

* ``keys``: the per-token results it can return, with ``dtype(key, acc)``;
* ``saved``: the per-token statistics its derivative needs;
* ``rows(spec, u, labels, local_labels, classes, tokens)``: a dict of
  per-token results for a block of rows ``u`` (all of this device's
  classes), every reduction over the vocabulary all-reduced with
  :func:`allreduce`;
* ``dlogits(spec, u, local_labels, stats, classes, tokens, start)``: the
  derivative of its objective with respect to ``u``, for a block of columns
  starting at class ``start``.

``classes`` are ``[V]`` arrays (``bias``, ``class_weights``), ``tokens``
``[N]`` arrays (``labels`` and the model's per-token inputs: the
coefficient of each token's loss, the cotangents), both sliced here to the
block at hand.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxloss import _checks, _vma
from jaxloss._head._spec import HeadSpec

# A block of classes whose gradients are formed at once holds about this many
# bytes per [rows, block] array (it stays in the cache), and at least 128
# classes (matmul efficiency).
_CLASS_BLOCK_BYTES = 2 * 2**20
_MIN_CLASS_BLOCK = 128

GRADS = ("dh", "dw", "db")


def dot(a, b, contract_a: int, contract_b: int, acc_dtype):
    return lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((), ())), preferred_element_type=acc_dtype)


def allreduce(spec: HeadSpec, x, op):
    """A reduction over the vocabulary: local, then all-reduced over ``vocab_axis`` (one number per token)."""
    return x if spec.vocab_axis is None else op(x, spec.vocab_axis)


def ignored(spec: HeadSpec, y):
    if spec.ignore_index is None:
        return jnp.zeros(y.shape, bool)
    return y == spec.ignore_index


def in_range(spec: HeadSpec, y):
    return (y >= 0) & (y < spec.num_classes)


def pick(spec: HeadSpec, u, local_y):
    """``u[i, y_i]`` from the device holding class ``y_i`` (0 elsewhere), all-reduced; and whether held here."""
    v_local = u.shape[1]
    hit = (local_y >= 0) & (local_y < v_local)
    idx = jnp.clip(local_y, 0, v_local - 1)[:, None]
    picked = jnp.take_along_axis(u, idx, axis=-1, mode="promise_in_bounds")[:, 0]
    return allreduce(spec, jnp.where(hit, picked, 0.0), lax.psum), hit


def logsumexp_rows(spec: HeadSpec, u):
    """``(m, sum_exp, lse, row_ok)`` of each row over the whole vocabulary; ``lse`` 0 where no logit is finite."""
    m = allreduce(spec, jnp.max(u, axis=-1), lax.pmax)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    sum_exp = allreduce(spec, jnp.sum(jnp.exp(u - m[:, None]), axis=-1), lax.psum)
    row_ok = sum_exp > 0
    lse = jnp.where(row_ok, jnp.log(jnp.where(row_ok, sum_exp, 1.0)) + m, 0.0)
    return m, sum_exp, lse, row_ok


def argmax_rows(spec: HeadSpec, u, offset):
    """The first class of largest logit in each row, over every shard (int32)."""
    local = jnp.argmax(u, axis=-1).astype(jnp.int32)
    if spec.vocab_axis is None:
        return local
    best = jnp.max(u, axis=-1)
    top = lax.pmax(best, spec.vocab_axis)
    candidate = jnp.where(best == top, local + jnp.asarray(offset, jnp.int32), jnp.int32(spec.num_classes))
    return lax.pmin(candidate, spec.vocab_axis)


def class_ids(u, start):
    return lax.broadcasted_iota(jnp.int32, u.shape, 1) + start


def class_offset(spec: HeadSpec):
    """This device's first class (inside the loop's ``shard_map`` when the vocabulary is split)."""
    if spec.vocab_axis is None or spec.mesh is None:
        return 0
    return lax.axis_index(spec.vocab_axis) * (spec.num_classes // spec.mesh.shape[spec.vocab_axis])


def shift(x, m, top, offset, start):
    """``(s, is_top)``: ``s = x - m`` for a block of columns starting at (local) class ``start``, exactly 0 at the
    row's first maximum ``top`` (a global class) when it is finite; ``is_top`` marks that class."""
    is_top = class_ids(x, start) == _local_labels(top, offset)[:, None]
    s = x - m[:, None]
    return jnp.where(is_top & jnp.isfinite(s), 0.0, s), is_top


def shifted(spec: HeadSpec, x, offset):
    """``(s, m, S, ok, top, is_top)`` of the rows ``x`` (all of this device's classes).

    ``m`` is the row maximum over the whole vocabulary (0 if not finite),
    ``top`` its first class, ``s = x - m`` (exactly 0 at ``top``), ``S =
    sum exp(s)``, ``ok = S > 0``. Every later use of the row (its
    log-probabilities, the entropy's ``sum p s``, and the backward pass's
    recomputed ``s``, from the saved ``m`` and ``top`` with :func:`shift`)
    is computed from ``s``. Forcing the 0 matters: XLA:CPU contracts the
    multiplication by ``1 / temperature`` and the subtraction of the maximum
    into one unrounded fused multiply-add in some consumers and not in
    others, which leaves ``x_top - m`` at up to half an ulp of the logit
    (about 1e-5 at a temperature of 0.05, 1e-3 for logits of 1e4) in some
    sums only: a 1e-3 relative error in small entropies and divergences,
    and in gradients.
    """
    top = argmax_rows(spec, x, offset)
    m = allreduce(spec, jnp.max(x, axis=-1), lax.pmax)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    s, is_top = shift(x, m, top, offset, 0)
    total = allreduce(spec, jnp.sum(jnp.exp(s), axis=-1), lax.psum)
    return s, m, total, total > 0, top, is_top


def logits(spec: HeadSpec, hh, w, bias):
    """``u = transform(hh @ w + bias)``: the soft cap ``cap * tanh(z / cap)``, then the temperature."""
    u = dot(hh, w, 1, 1 if spec.vd else 0, spec.acc_dtype)
    if bias is not None:
        u = u + bias.astype(spec.acc_dtype)[None, :]
    if spec.soft_cap is not None:
        # One product after the tanh: a saturated tanh (exactly +-1) gives exactly +-(cap / T), which
        # ``transform_derivative`` recognises (its derivative is then exactly 0, as it is materialised).
        return jnp.tanh(u / spec.soft_cap) * (spec.soft_cap / spec.temperature)
    if spec.temperature != 1.0:
        u = u / spec.temperature
    return u


def transform_derivative(spec: HeadSpec, u):
    """``du/dz`` from ``u`` itself (None when 1): ``(1 - tanh^2) / T`` with ``tanh = u T / cap``.

    Exactly 0 where the tanh saturated (``|u| = cap / T``, see :func:`logits`): recovered from ``u``,
    ``1 - tanh^2`` would be a rounding error of ``u`` there (about 1e-7, times a weight of any size).
    """
    factor = None
    if spec.soft_cap is not None:
        bound = spec.soft_cap / spec.temperature
        factor = jnp.where(jnp.abs(u) >= bound, 0.0, 1.0 - jnp.square(u * (1.0 / bound)))
    if spec.temperature != 1.0:
        factor = (1.0 / spec.temperature) if factor is None else factor / spec.temperature
    return factor


def dlogits(spec: HeadSpec, model: Any, u, local_y, stats, classes, start):
    """``d objective / d z`` for a block of logits ``u`` (the model's derivative times the transform's).

    Rows of ignored tokens are 0, even where their logits are ``nan``.
    """
    g = model.dlogits(spec, u, local_y, stats, classes, stats, start)
    factor = transform_derivative(spec, u)
    g = g if factor is None else g * factor
    if spec.ignore_index is None:
        return g
    return jnp.where(ignored(spec, stats["labels"])[:, None], 0.0, g)


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


def _vocab_offset(spec: HeadSpec, v_local: int):
    return 0 if spec.vocab_axis is None else lax.axis_index(spec.vocab_axis) * v_local


def _local_labels(y, offset):
    # Standard promotion of the labels with the int32 offset, cast explicitly
    # (users may run with jax_numpy_dtype_promotion="strict").
    if isinstance(offset, int):
        return y - offset
    dtype = _checks.result_type(y.dtype, offset.dtype)
    return y.astype(dtype) - offset.astype(dtype)


def _num_local_classes(spec: HeadSpec, w) -> int:
    return w.shape[0] if spec.vd else w.shape[1]


def _slice_all(tree: dict, start, size) -> dict:
    return {k: lax.dynamic_slice_in_dim(v, start, size, 0) for k, v in tree.items()}


def _class_block(rows: int, dim: int, v_local: int) -> int:
    return max(min(v_local, _MIN_CLASS_BLOCK), _CLASS_BLOCK_BYTES // (4 * max(rows, dim, 1)))


def class_blocks(spec: HeadSpec, model: Any, hh, w, u, local_y, stats, classes, dw, db, block: int):
    """The gradients of a block of rows (``hh``), a block of classes at a time.

    For each block ``j`` of this device's classes: ``g_j``, the derivative
    of the objective with respect to the block's logits (a slice of ``u``,
    or, when ``u`` is None, the block's logits recomputed from ``hh``), then
    ``dh += g_j @ w_j`` and the weight gradient's block ``j`` (its columns
    for a ``[D, V]`` kernel, its rows for a ``[V, D]`` table: one
    accumulation along the weight's class axis for both layouts) ``+= hh.T
    @ g_j`` or ``g_j.T @ hh``, and the bias gradient's. Only ``[rows,
    block]`` and ``[D, block]`` temporaries: the ``[rows, V]`` derivative is
    never formed. Returns ``(dh, dw, db)``; ``dh`` in the accumulation dtype.
    """
    acc = spec.acc_dtype
    axis = 0 if spec.vd else 1  # the weight's class axis
    labels = stats["labels"]

    def ignore_rows(x):
        # An ignored token's hidden state may hold nan: it must not reach the weight gradient.
        if spec.ignore_index is None:
            return x
        return jnp.where(ignored(spec, labels)[:, None], jnp.zeros((), x.dtype), x)

    v_local = _num_local_classes(spec, w)
    dh = jnp.zeros((hh.shape[0], hh.shape[1]), acc)
    carry = _vma.vary_like((dh, dw, db), hh, w, u, stats, classes)
    hh_w = ignore_rows(hh)  # the weight gradient's copy of the rows
    hht = None if spec.vd else lax.optimization_barrier(hh_w.T)

    def update(carry, start, size):
        dh, dw, db = carry
        wj = lax.dynamic_slice_in_dim(w, start, size, axis)
        cj = _slice_all(classes, start, size)
        uj = logits(spec, hh, wj, cj.get("bias")) if u is None else lax.dynamic_slice_in_dim(u, start, size, 1)
        g = dlogits(spec, model, uj, local_y, stats, cj, start)
        g_op = g.astype(w.dtype) if spec.rounded is None else g.astype(spec.rounded).astype(w.dtype)
        # g_j @ w_j.T ([D, V] kernel) or g_j @ w_j ([V, D] table): the block's share of d hidden.
        dh = dh + dot(g_op, wj, 1, 0 if spec.vd else 1, acc)
        # Both weight-gradient matmuls in the plain [M, K] x [K, N] form, with
        # the small operand transposed explicitly (hh.T once per block of
        # rows, g_j.T per class block): XLA:CPU's fast matmul path takes only
        # that form, and folds a transpose back into the matmul unless a
        # barrier keeps it (measured: 7 % of the head's time for DV, 8 % VD).
        if spec.vd:
            dwj = dot(lax.optimization_barrier(g_op.T), hh_w, 1, 0, acc)
        else:
            dwj = dot(hht, g_op, 1, 0, acc)
        if u is None and spec.token_axis is not None:
            dwj = lax.psum(dwj, spec.token_axis)  # a whole block over every token: complete here
        cur = lax.dynamic_slice_in_dim(dw, start, size, axis).astype(acc)
        dw = lax.dynamic_update_slice_in_dim(dw, (cur + dwj).astype(dw.dtype), start, axis)
        if db is not None:
            cur_b = lax.dynamic_slice_in_dim(db, start, size, 0)
            db = lax.dynamic_update_slice_in_dim(db, cur_b + jnp.sum(g, axis=0), start, 0)
        return dh, dw, db

    return _blocks(v_local, block, carry, update)


def token_pass(spec: HeadSpec, model: Any, keep: tuple, grad: bool, given: bool, h2, w, classes, tokens):
    """This device's tokens, ``spec.chunk`` at a time, each against all its classes.

    Returns the per-token results named in ``keep`` and, with ``grad``, the
    gradients ``dh`` ([N, D], hidden's dtype), ``dw`` (accumulation dtype,
    summed over the token axes) and ``db`` of the model's objective. With
    ``given``, the model's saved statistics come in ``tokens`` (from an
    earlier pass) instead of being computed: no reduction over the
    vocabulary, no collective but the hidden gradient's.
    """
    acc = spec.acc_dtype
    n, d = h2.shape
    v_local = _num_local_classes(spec, w)
    offset = _vocab_offset(spec, v_local)
    bias = classes.get("bias")
    block = _class_block(min(spec.chunk, n), d, v_local)
    carry: dict = {k: jnp.zeros((n,), model.dtype(k, acc)) for k in keep}
    if grad:
        carry.update(dh=jnp.zeros((n, d), h2.dtype), dw=jnp.zeros(w.shape, acc))
        if bias is not None:
            carry["db"] = jnp.zeros((v_local,), acc)
    # Inside a user's shard_map (check_vma=True) the loop carries must have the
    # type of what the loop writes into them: varying over the inputs' axes.
    carry = _vma.vary_like(carry, h2, w, classes, tokens)

    def step(carry, start, size):
        hh = lax.dynamic_slice_in_dim(h2, start, size, 0)
        tok = _slice_all(tokens, start, size)
        yy = tok["labels"]
        local_y = _local_labels(yy, offset)
        u = logits(spec, hh, w, bias)
        carry = dict(carry)
        put = functools.partial(lax.dynamic_update_slice_in_dim, start_index=start, axis=0)
        stats = tok if given else {**tok, **model.rows(spec, u, yy, local_y, offset, classes, tok)}
        if not given:
            for k in keep:
                carry[k] = put(carry[k], stats[k].astype(carry[k].dtype))
        if grad:
            dh, carry["dw"], db = class_blocks(
                spec, model, hh, w, u, local_y, stats, classes, carry["dw"], carry.get("db"), block
            )
            carry["dh"] = put(carry["dh"], allreduce(spec, dh, lax.psum).astype(h2.dtype))
            if db is not None:
                carry["db"] = db
        return carry

    carry = _blocks(n, spec.chunk, carry, step)
    if grad and spec.token_axis is not None:
        carry["dw"] = lax.psum(carry["dw"], spec.token_axis)
        if "db" in carry:
            carry["db"] = lax.psum(carry["db"], spec.token_axis)
    return carry


def class_pass(spec: HeadSpec, model: Any, h2, w, classes, tokens):
    """The gradients, a block of this device's classes at a time against all its tokens.

    ``tokens`` holds the model's saved statistics (from a token pass). Each
    block of the weight gradient is one matmul over every token, accumulated
    in ``acc_dtype`` and written once in the weight's dtype: a 16-bit weight
    gets float32 accumulation without a float32 copy of the whole gradient.
    The logits are recomputed block by block (:func:`class_blocks` with no
    stored logits).
    """
    n, d = h2.shape
    v_local = _num_local_classes(spec, w)
    local_y = _local_labels(tokens["labels"], _vocab_offset(spec, v_local))
    # As many logits per block as a token chunk holds, at least 128 classes.
    block = max(min(v_local, _MIN_CLASS_BLOCK), spec.chunk * v_local // max(n, 1))
    dw = jnp.zeros(w.shape, w.dtype)
    db = jnp.zeros((v_local,), spec.acc_dtype) if "bias" in classes else None
    dh, dw, db = class_blocks(spec, model, h2, w, None, local_y, tokens, classes, dw, db, block)
    out = {"dh": allreduce(spec, dh, lax.psum).astype(h2.dtype), "dw": dw}
    if db is not None:
        out["db"] = lax.psum(db, spec.token_axis) if spec.token_axis is not None else db
    return out


def run(spec: HeadSpec, fn, h2, w, classes: dict, tokens: dict, out_keys: tuple):
    """``fn(h2, w, classes, tokens)`` on one device, or under ``shard_map`` on ``spec.mesh``.

    ``fn`` returns a dict with the keys ``out_keys``: per-token results
    (split like the tokens) and the gradients ``dh``, ``dw``, ``db``.
    """
    if spec.mesh is None:
        return fn(h2, w, classes, tokens)
    tok, voc = spec.token_axis, spec.vocab_axis
    w_spec = P(voc, None) if spec.vd else P(None, voc)
    grad_specs = {"dh": P(tok, None), "dw": w_spec, "db": P(voc)}
    out_specs = {k: grad_specs.get(k, P(tok)) for k in out_keys}
    in_specs = (P(tok, None), w_spec, {k: P(voc) for k in classes}, {k: P(tok) for k in tokens})
    # check_vma=False: the collectives are written out by hand (each output is
    # made invariant over the axes its spec leaves out), and this function is
    # never differentiated by autodiff (it sits inside a custom_vjp).
    sharded = jax.shard_map(fn, mesh=spec.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return sharded(h2, w, classes, tokens)


def forward(spec: HeadSpec, model: Any, keep: tuple, h2, w, classes, tokens):
    """The per-token results ``keep`` (a token pass without gradients)."""
    fn = functools.partial(token_pass, spec, model, keep, False, False)
    return run(spec, fn, h2, w, classes, tokens, keep)


def forward_and_grads(spec: HeadSpec, model: Any, keep: tuple, h2, w, classes, tokens):
    """The per-token results ``keep`` and the gradients of the model's objective, in one pass when possible."""
    grads = GRADS if "bias" in classes else GRADS[:2]
    if spec.scheme == "tokens":
        fn = functools.partial(token_pass, spec, model, keep, True, False)
        return run(spec, fn, h2, w, classes, tokens, keep + grads)
    stats_keys = tuple(dict.fromkeys(keep + model.saved))
    out = forward(spec, model, stats_keys, h2, w, classes, tokens)
    saved = {k: out[k] for k in model.saved}
    result = grads_from(spec, model, h2, w, classes, {**tokens, **saved})
    result.update({k: out[k] for k in keep})
    return result


def grads_from(spec: HeadSpec, model: Any, h2, w, classes, tokens):
    """The gradients from saved statistics (in ``tokens``), by token chunks or by class blocks."""
    grads = GRADS if "bias" in classes else GRADS[:2]
    if spec.scheme == "tokens":
        fn = functools.partial(token_pass, spec, model, (), True, True)
    else:
        fn = functools.partial(class_pass, spec, model)
    return run(spec, fn, h2, w, classes, tokens, grads)


def cast_grads(out: dict, w, bias):
    """The gradients in the inputs' dtypes: ``(dh, dw, db or None)``."""
    db = out["db"].astype(bias.dtype) if bias is not None else None
    return out["dh"], out["dw"].astype(w.dtype), db
