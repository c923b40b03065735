"""Distillation over two linear heads: the per-token generalized JSD of student and teacher, without their logits.

On-policy distillation compares, at every token, the student's and the
teacher's next-token distributions over the whole vocabulary. Materialised,
that is two ``[tokens, V]`` logit arrays (and their softmaxes) for one
number per token. Here both heads' logits are computed a chunk of tokens at
a time by the loop of ``_loop``: the student's as every fused head's, the
teacher's by the row model itself, from the teacher's hidden states (a
per-token input of the loop) and its weight as a ``[V, Dt]`` table (a
per-class input, so it is sliced and split along the vocabulary with the
student's classes).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _vma
from jaxloss._head import _loop, _spec
from jaxloss._head._loop import allreduce
from jaxloss._head._spec import HeadSpec

# The loop's labels carry no meaning here (all 0). The backward pass marks
# with this "ignored" label the tokens whose cotangents are all 0, so that a
# token masked out by the caller's reduction contributes exactly 0 to every
# gradient even where its hidden state holds nan.
_DROPPED = -1


class JSDRows(NamedTuple):
    """The row model of the generalized JSD of ``softmax(u)`` (student) and ``softmax(t)`` (teacher), see ``_loop``.

    ``t = cap_t * tanh(z_t / cap_t) / T`` is computed here, block by block,
    from ``tokens["teacher_hidden"]`` (``[rows, Dt]``) and
    ``classes["teacher_w"]`` (``[classes, Dt]``, plus
    ``classes["teacher_bias"]``). Its objective is ``sum(ct * D + ct_ent *
    H)`` for per-token cotangents, with ``D`` the divergence and ``H`` the
    student's entropy; the teacher is a constant. With ``p = softmax(u)``,
    ``q = softmax(t)``, ``M = (1 - b) p + b q``:

    * ``b = 0``: ``D = KL(q || p)``, ``dD/du_k = p_k - q_k``;
    * ``b = 1``: ``D = KL(p || q)``; ``a_k = log p_k - log q_k``;
    * else ``D = b KL(q || M) + (1 - b) KL(p || M)``; ``a_k = (1 - b)(log p_k - log M_k)``;

    and for ``b > 0`` ``dD/du_k = p_k (a_k - sum_j p_j a_j)``;
    ``dH/du_k = -p_k (u_k - E)``, ``E = sum_j p_j u_j``.

    Both derivatives are differences of nearly equal numbers at the class
    ``k*`` that holds nearly all of ``p`` (a low temperature): ``a_k* -
    sum_j p_j a_j``, ``u_k* - E``, ``p_k* - q_k*``. The forward pass
    therefore saves, at the student's first argmax ``k*``, ``a_k*`` and
    ``delta = sum_j p_j (a_j - a_k*)`` (whose ``k*`` term is exactly 0), so
    that ``a_k - sum_j p_j a_j = (a_k - a_k*) - delta``, and the derivative
    at ``k*`` itself (``-p_k* delta``, or ``sum_{j != k*} q_j - sum_{j !=
    k*} p_j`` for ``b = 0``), which the backward pass uses as it is rather
    than from recomputed logits: float32 gradients stay accurate to about
    1e-6 of their largest entry down to a temperature of 0.05, where the
    plain formula loses three digits.
    """

    beta: float = 0.5
    teacher_cap: float | None = None
    entropy: bool = False

    @property
    def saved(self) -> tuple[str, ...]:
        stats = ("max_s", "log_sum_s", "max_t", "log_sum_t", "live", "top", "top_t", "top_grad")
        stats = stats + (("a_top", "delta") if self.beta > 0.0 else ())
        return stats + (("mean_shift",) if self.entropy else ())

    @staticmethod
    def dtype(key: str, acc):
        return {"live": jnp.bool_, "top": jnp.int32, "top_t": jnp.int32}.get(key, acc)

    def teacher_logits(self, spec: HeadSpec, classes, tokens):
        """The teacher's transformed logits ``t`` for the rows of ``tokens`` and the classes of ``classes``."""
        t = _loop.dot(tokens["teacher_hidden"], classes["teacher_w"], 1, 1, spec.acc_dtype)
        bias = classes.get("teacher_bias")
        if bias is not None:
            t = t + bias.astype(spec.acc_dtype)[None, :]
        if self.teacher_cap is not None:
            t = self.teacher_cap * jnp.tanh(t / self.teacher_cap)
        if spec.temperature != 1.0:
            t = t / spec.temperature
        return t

    def _terms(self, s_u, s_t, log_ps, log_pt, ps, pt):
        """``(terms, a)``: each class's share of ``D``, and ``a_k`` up to a per-row constant (None for ``b = 0``).

        ``s_u``, ``s_t`` are the logits less their row maxima. 0 wherever the
        weight (``p`` or ``q``) is 0, so that a ``-inf`` logit gives no ``0 *
        inf``. For ``0 < b < 1``, with ``x = log q - log p + log(b / (1 -
        b))``, ``log p - log M = -log(1 - b) - softplus(x)`` and ``log q - log
        M = -log(b) - softplus(-x)``: no difference of two log-probabilities
        of the row's magnitude is left in either, and ``a_k = -(1 - b)
        softplus(x_k)`` up to the constant.
        """
        b = self.beta
        if b == 0.0:
            return jnp.where(pt > 0, pt * (log_pt - log_ps), 0.0), None
        if b == 1.0:
            terms = jnp.where(ps > 0, ps * (log_ps - log_pt), 0.0)
            return terms, jnp.where(ps > 0, s_u - s_t, 0.0)
        x = (log_pt - log_ps) + math.log(b / (1.0 - b))
        sp_x, sp_minus_x = jnp.logaddexp(x, 0.0), jnp.logaddexp(-x, 0.0)
        kl_s = jnp.where(ps > 0, ps * (-math.log1p(-b) - sp_x), 0.0)
        kl_t = jnp.where(pt > 0, pt * (-math.log(b) - sp_minus_x), 0.0)
        return b * kl_t + (1.0 - b) * kl_s, jnp.where(ps > 0, -(1.0 - b) * sp_x, 0.0)

    def rows(self, spec: HeadSpec, u, y, local_y, offset, classes, tokens) -> dict:
        del y, local_y
        s_u, m_s, sum_s, ok_s, top, is_top = _loop.shifted(spec, u, offset)
        s_t, m_t, sum_t, ok_t, top_t, _ = _loop.shifted(spec, self.teacher_logits(spec, classes, tokens), offset)
        log_sum_s, log_sum_t = jnp.log(jnp.where(ok_s, sum_s, 1.0)), jnp.log(jnp.where(ok_t, sum_t, 1.0))
        log_ps, log_pt = s_u - log_sum_s[:, None], s_t - log_sum_t[:, None]
        ps, pt = jnp.exp(log_ps), jnp.exp(log_pt)
        terms, a = self._terms(s_u, s_t, log_ps, log_pt, ps, pt)
        local_top = _loop._local_labels(top, offset)
        live = ok_s & ok_t
        # A row with nan logits gives nan; one without any finite logit gives 0.
        nan_row = jnp.isnan(sum_s) | jnp.isnan(sum_t)
        div = allreduce(spec, jnp.sum(terms, axis=-1), lax.psum)
        out = {
            "divergence": jnp.where(live, div, jnp.where(nan_row, jnp.nan, 0.0)),
            "max_s": m_s,
            "log_sum_s": log_sum_s,
            "max_t": m_t,
            "log_sum_t": log_sum_t,
            "live": live,
            "top": top,
            "top_t": top_t,
        }
        if a is None:
            # p_k* - q_k* = (1 - q_k*) - (1 - p_k*), each a sum over the other classes.
            out["top_grad"] = allreduce(spec, jnp.sum(jnp.where(is_top, 0.0, pt - ps), axis=-1), lax.psum)
        else:
            a_top, _ = _loop.pick(spec, a, local_top)
            delta = allreduce(spec, jnp.sum(ps * (a - a_top[:, None]), axis=-1), lax.psum)
            p_top, _ = _loop.pick(spec, ps, local_top)
            out.update(a_top=a_top, delta=delta, top_grad=-p_top * delta)
        if self.entropy:
            # H = log S - sum e s / S with s = u - max u, e = exp(s).
            weighted = allreduce(spec, jnp.sum(jnp.where(ps > 0, ps * s_u, 0.0), axis=-1), lax.psum)
            mean_shift = jnp.where(ok_s, weighted, 0.0)
            out["entropy"] = jnp.where(ok_s, log_sum_s - mean_shift, jnp.where(jnp.isnan(sum_s), jnp.nan, 0.0))
            out["mean_shift"] = mean_shift
        return out

    def dlogits(self, spec: HeadSpec, u, local_y, stats, classes, tokens, start):
        del local_y
        offset = _loop.class_offset(spec)
        s_u, is_top = _loop.shift(u, stats["max_s"], stats["top"], offset, start)
        s_t, _ = _loop.shift(self.teacher_logits(spec, classes, tokens), stats["max_t"], stats["top_t"], offset, start)
        log_ps, log_pt = s_u - stats["log_sum_s"][:, None], s_t - stats["log_sum_t"][:, None]
        ps, pt = jnp.exp(log_ps), jnp.exp(log_pt)
        if self.beta == 0.0:
            g = ps - pt
        else:
            _, a = self._terms(s_u, s_t, log_ps, log_pt, ps, pt)
            g = ps * ((a - stats["a_top"][:, None]) - stats["delta"][:, None])
        g = jnp.where(is_top, stats["top_grad"][:, None], g)
        g = g * jnp.where(stats["live"], tokens["ct"], 0.0)[:, None]
        if self.entropy:
            centred = s_u - stats["mean_shift"][:, None]
            g = g - jnp.where(ps > 0, ps * centred, 0.0) * tokens["ct_ent"][:, None]
        return g


def _outputs(model: JSDRows) -> tuple[str, ...]:
    return ("divergence", "entropy") if model.entropy else ("divergence",)


def _loop_inputs(spec: HeadSpec, h2, bias, th, tw, tb) -> tuple[dict, dict]:
    """The loop's per-class and per-token arrays: the teacher's weight as a ``[V, Dt]`` table."""
    classes = {"teacher_w": tw if spec.vd else tw.T}
    if bias is not None:
        classes["bias"] = bias
    if tb is not None:
        classes["teacher_bias"] = tb
    return classes, {"labels": jnp.zeros((h2.shape[0],), jnp.int32), "teacher_hidden": th}


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _jsd(spec: HeadSpec, model: JSDRows, h2, w, bias, th, tw, tb):
    classes, tokens = _loop_inputs(spec, h2, bias, th, tw, tb)
    out = _loop.forward(spec, model, _outputs(model), h2, w, classes, tokens)
    return {k: out[k] for k in _outputs(model)}


def _jsd_fwd(spec: HeadSpec, model: JSDRows, h2, w, bias, th, tw, tb):
    classes, tokens = _loop_inputs(spec, h2, bias, th, tw, tb)
    keys = _outputs(model)
    out = _loop.forward(spec, model, keys + model.saved, h2, w, classes, tokens)
    # The teacher's weight is kept as given (its [V, Dt] table is rebuilt in the backward pass).
    return {k: out[k] for k in keys}, (h2, w, bias, th, tw, tb, {k: out[k] for k in model.saved})


def _jsd_bwd(spec: HeadSpec, model: JSDRows, res, cts):
    h2, w, bias, th, tw, tb, saved = res
    classes, tokens = _loop_inputs(spec, h2, bias, th, tw, tb)
    ct = cts["divergence"].astype(spec.acc_dtype)
    dropped = ct == 0
    tokens.update(ct=ct, **saved)
    if model.entropy:
        tokens["ct_ent"] = cts["entropy"].astype(spec.acc_dtype)
        dropped = dropped & (tokens["ct_ent"] == 0)
    tokens["labels"] = jnp.where(dropped, _DROPPED, 0).astype(jnp.int32)
    # The logits of both heads recomputed chunk by chunk from the saved
    # per-token statistics: no reduction over the vocabulary.
    out = _loop.grads_from(spec, model, h2, w, classes, tokens)
    # The teacher is a constant: zero cotangents, of its inputs' types.
    zero = lambda x: None if x is None else _vma.vary_like(jnp.zeros_like(x), x)  # noqa: E731
    return (*_loop.cast_grads(out, w, bias), zero(th), zero(tw), zero(tb))


_jsd.defvjp(_jsd_fwd, _jsd_bwd)
_jsd_compiled = jax.jit(_jsd, static_argnums=(0, 1))


def _check_heads(
    student_hidden, student_weight, teacher_hidden, teacher_weight, student_bias, teacher_bias, weight_layout
) -> tuple[_spec.Head, _spec.Head]:
    """Both heads checked (errors name the student's and the teacher's arguments), the student's with the
    accumulation dtype of all six arrays."""
    heads = []
    for who, hidden, weight, bias in (
        ("student", student_hidden, student_weight, student_bias),
        ("teacher", teacher_hidden, teacher_weight, teacher_bias),
    ):
        hidden = _checks.as_float(hidden, f"{who}_hidden")
        with _checks.argument_names(hidden=f"{who}_hidden", weight=f"{who}_weight", bias=f"{who}_bias"):
            labels = jnp.zeros(hidden.shape[:-1], jnp.int32)
            heads.append(_spec.check_head(hidden, weight, labels, bias, weight_layout))
    student, teacher = heads
    s_shape, t_shape = tuple(jnp.shape(student_hidden)), tuple(jnp.shape(teacher_hidden))
    if s_shape[:-1] != t_shape[:-1]:
        raise _checks.error(
            ValueError,
            f"`teacher_hidden` must have the tokens of `student_hidden` (the same shape but for the last axis), "
            f"got {t_shape} and {s_shape}.",
        )
    if teacher.num_classes != student.num_classes:
        raise _checks.error(
            ValueError,
            f"`teacher_weight` must have the vocabulary of `student_weight`, V = {student.num_classes}, got "
            f"V = {teacher.num_classes} (shape {tuple(jnp.shape(teacher_weight))}, weight_layout={weight_layout!r}).",
        )
    arrays = [
        x
        for x in (student_hidden, student_weight, student_bias, teacher_hidden, teacher_weight, teacher_bias)
        if x is not None
    ]
    acc = jnp.dtype(_checks.compute_dtype(*[jnp.asarray(x) for x in arrays]))
    return student._replace(acc_dtype=acc), teacher


def fused_linear_jsd(
    student_hidden: ArrayLike,
    student_weight: ArrayLike,
    teacher_hidden: ArrayLike,
    teacher_weight: ArrayLike,
    *,
    student_bias: ArrayLike | None = None,
    teacher_bias: ArrayLike | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    student_logit_soft_cap: float | None = None,
    teacher_logit_soft_cap: float | None = None,
    return_entropy: bool = False,
    chunk_size: int | None = None,
    weight_layout: str = "DV",
) -> Any:
    r"""Per-token generalized Jensen-Shannon divergence of a student and a teacher head, without their logits.

    With each head's logits ``z = hidden @ weight + bias``, soft-capped by
    that head's cap and then divided by the common ``temperature``, ``u =
    cap * tanh(z / cap) / temperature`` (TRL's order; no cap when ``None``),
    ``p = softmax(u_student)``, ``q = softmax(u_teacher)`` and ``b = beta``,
    computes for each token

    .. math:: D = \begin{cases}
              \mathrm{KL}(q \,\|\, p) & b = 0 \text{ (forward KL)} \\
              \mathrm{KL}(p \,\|\, q) & b = 1 \text{ (reverse KL)} \\
              b\, \mathrm{KL}(q \,\|\, M) + (1 - b)\, \mathrm{KL}(p \,\|\, M),
              \quad M = (1 - b)\, p + b\, q & \text{otherwise}
              \end{cases}

    (no ``T**2`` factor; the endpoints are their own branches, as TRL keeps
    them), and with ``return_entropy=True`` the student's entropy ``H =
    -sum(p log p)``, but with only ``[chunk_size, V]`` logits of each head
    live at a time (the chunk loop of
    :func:`jaxloss.fused_linear_log_probs`). This is TRL 1.16's
    ``DistillationTrainer`` loss: ``jaxloss.reduce(D, where=mask,
    reduction="mean")`` equals ``_chunked_divergence_loss(...)[0]`` (``trl/
    trainer/distillation_trainer.py``, logit scales 1; TRL's weights are
    ``[V, H]`` tables, ``weight_layout="VD"``) and ``sum(where(mask, H,
    0))`` its second output.

    Gradients reach the student only (``student_hidden``,
    ``student_weight``, ``student_bias``): the teacher's inputs get zero
    cotangents. The divergence and the entropy are both differentiable for
    any per-token cotangents; the forward pass computes both heads' logits
    chunk by chunk and keeps the inputs and about ten numbers per token, and
    the backward pass recomputes both heads' logits block by block (the
    teacher's matmul, ``2 N Dt V`` flops, is paid twice). A token whose
    cotangents are 0 (masked out by the caller's reduction, e.g.
    ``jaxloss.reduce(D, where=mask)``) contributes exactly 0 to every
    gradient, even where its hidden states hold ``nan``; a ``nan`` hidden
    state gives ``nan`` for its token. Teacher and student may have
    different hidden sizes; the vocabulary ``V`` must agree.

    Precision: the float32 values and gradients agree with the float64
    materialised computation to a few 1e-6 of their largest entry down to a
    temperature of 0.05 (about 1e-5 with nearly saturated soft caps, as the
    float32 materialised computation does; its gradients of the JSD at that
    temperature are 1e-3 off): the per-token statistics are kept as row
    maximum and log-sum apart, and the derivative is centred at the
    student's most likely class (see ``JSDRows`` in the source).

    A ``-inf`` logit (a ``-inf`` bias entry, a padded vocabulary) is a class
    of probability 0 and contributes nothing (no ``nan``); where only one
    distribution gives a class probability 0, a KL that puts the other's
    mass on it is ``inf``, as it is mathematically, and so may be its
    gradient (the JSD with ``0 < b < 1`` stays finite, its gradient too). A
    row with no finite logit gives 0. 16-bit inputs are multiplied with
    float32 accumulation and the outputs are float32 (float64 for float64
    inputs). Works under ``jit``, ``vmap``,
    ``jax.checkpoint``, ``lax.scan`` and inside a user's ``shard_map``
    (``check_vma=True``); being a ``jax.custom_vjp`` it has no forward mode.
    With ``weight_layout="DV"`` the teacher's ``[Dt, V]`` kernel is
    transposed once per pass into a ``[V, Dt]`` temporary; a ``[V, D]``
    table (``"VD"``) is used as it is.

    Args:
      student_hidden: float array ``[..., Ds]``.
      student_weight: ``[Ds, V]`` kernel, or a ``[V, Ds]`` table with ``weight_layout="VD"``.
      teacher_hidden: float array ``[..., Dt]`` with the same leading axes.
      teacher_weight: ``[Dt, V]`` kernel, or a ``[V, Dt]`` table with ``weight_layout="VD"``.
      student_bias: optional ``[V]``.
      teacher_bias: optional ``[V]``.
      beta: in ``[0, 1]``: 0 the forward KL, 1 the reverse KL, between the two a generalized JSD.
      temperature: ``> 0``; both heads' logits are divided by it (after their soft caps).
      student_logit_soft_cap: optional ``cap > 0`` of the student's logits.
      teacher_logit_soft_cap: optional ``cap > 0`` of the teacher's logits.
      return_entropy: also return the student's per-token entropy.
      chunk_size: tokens whose logits are live at once (``None``: a ``[chunk, V]``
        float32 block of about 8 MiB per head, as in :func:`jaxloss.fused_linear_cross_entropy`).
      weight_layout: ``"DV"`` or ``"VD"``, for both weights.

    Returns:
      The per-token divergences, float32, shaped ``student_hidden.shape[:-1]``;
      ``(divergences, entropy)`` with ``return_entropy=True``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> student_hidden = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> student_weight = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> teacher_hidden = jnp.array([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # a wider teacher, Dt = 3
      >>> teacher_weight = jnp.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
      >>> d, entropy = jaxloss.fused_linear_jsd(student_hidden, student_weight, teacher_hidden, teacher_weight,
      ...                                       beta=0.5, return_entropy=True)
      >>> [round(float(x), 4) for x in d], [round(float(x), 4) for x in entropy]
      ([0.0371, 0.026], [0.8324, 0.9753])
      >>> # The mean over the tokens kept (TRL's loss); gradients reach the student only.
      >>> mask = jnp.array([True, False])
      >>> loss = lambda w: jaxloss.reduce(jaxloss.fused_linear_jsd(
      ...     student_hidden, w, teacher_hidden, teacher_weight, beta=1.0), where=mask, reduction="mean")
      >>> jax.grad(loss)(student_weight).shape
      (2, 3)
    """
    if weight_layout not in ("DV", "VD"):
        raise _checks.error(
            ValueError,
            f"`weight_layout` must be 'DV' ([D, V] kernels) or 'VD' ([V, D] tables, both weights), "
            f"got {weight_layout!r}.",
        )
    student, teacher = _check_heads(
        student_hidden, student_weight, teacher_hidden, teacher_weight, student_bias, teacher_bias, weight_layout
    )
    b = _spec.static_float(beta, "beta", 0.0, 1.0)
    temp = _spec.static_float(temperature, "temperature", 0.0, low_open=True)
    caps = []
    for name, cap in (
        ("student_logit_soft_cap", student_logit_soft_cap),
        ("teacher_logit_soft_cap", teacher_logit_soft_cap),
    ):
        caps.append(None if cap is None else _spec.static_float(cap, name, 0.0, low_open=True))
    entropy = _checks.check_bool(return_entropy, "return_entropy")
    chunk = _checks.check_int(chunk_size, "chunk_size", allow_none=True, minimum=1)
    if chunk is None:
        # Two heads' blocks live at once: each gets half of the usual block.
        chunk = _spec.choose_chunk(student.hidden.shape[0], student.num_classes, itemsize=8)
    spec = _spec.make_spec(student, chunk, _DROPPED, caps[0], weight_layout, temperature=temp)
    model = JSDRows(b, caps[1], entropy)
    h2, w, bias = student.hidden, student.weight, student.bias
    th, tw, tb = teacher.hidden, teacher.weight, teacher.bias
    h2, w, bias, th, tw, tb = _vma.match(h2, w, bias, th, tw, tb)
    out = _jsd_compiled(spec, model, h2, w, bias, th, tw, tb)
    shape = student.shape
    divergence = out["divergence"].reshape(shape)
    if not entropy:
        return divergence
    return divergence, out["entropy"].reshape(shape)
