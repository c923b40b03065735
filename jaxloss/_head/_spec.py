"""What every fused head computation is told: its static description and its argument checks.

A :class:`HeadSpec` is the one static (hashable) structure a head's chunk
loop, its custom VJP and its ``shard_map`` read: the weight's layout, the
vocabulary size, the logit transform (soft cap, temperature), the chunk of
tokens live at once, the accumulation dtype and the mesh. The options of a
particular loss (label smoothing, z-loss, ...) travel in that loss's own
row model (see ``_cross_entropy.CrossEntropyRows``), never in positional
tuples.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from jaxloss import _checks

# The live block of logits a chunk of tokens holds, in bytes: small enough to
# stay near the last-level cache and to keep the head's temporary memory a few
# percent of the materialised logits', large enough that the per-chunk update
# of the [D, V] weight gradient (read and written once per chunk) is amortised.
# See choose_chunk.
_CHUNK_BYTES = 16 * 2**20
_MIN_CHUNK = 32
# But never fewer rows than this once the tokens allow (a large vocabulary):
# with fewer, the [D, V] weight-gradient update per chunk and matmuls of a few
# rows dominate (measured at N=2048, D=512, V=131072, float32: 32 tokens per
# chunk 17.3 s, 128 tokens 5.9 s; temp memory 20 -> 69 MiB of the
# materialised 2048). The block of logits is then 128 x V, still a fixed
# fraction (128 / N) of the logits whatever V is.
_MIN_ROWS = 128
_MAX_CHUNK = 2048


class HeadSpec(NamedTuple):
    """Static description of one fused head computation (a ``custom_vjp`` nondiff argument)."""

    layout: str  # "DV": weight [D, V] (a Dense kernel); "VD": a [V, D] table
    num_classes: int  # the whole vocabulary, every shard
    ignore_index: int | None
    chunk: int  # tokens whose logits are live at once
    acc_dtype: Any  # float32 (16-bit and float32 inputs) or float64
    soft_cap: float | None = None  # logits become cap * tanh(z / cap)
    temperature: float = 1.0  # then divided by the temperature
    scheme: str = "tokens"  # "tokens": one pass; "classes": stats, then class blocks (16-bit weights)
    rounded: Any = None  # logit gradients are rounded to this dtype before the matmuls (see check_head)
    mesh: Mesh | None = None
    token_axis: tuple[str, ...] | None = None
    vocab_axis: str | None = None

    @property
    def vd(self) -> bool:
        return self.layout == "VD"


class Head(NamedTuple):
    """The validated arrays of a head call, flattened to ``[N, D]`` tokens."""

    hidden: jax.Array  # [N, D], in the matmul dtype
    weight: jax.Array  # [D, V] or [V, D], in the matmul dtype
    labels: jax.Array  # [N], widened integers
    bias: jax.Array | None  # [V] or None
    shape: tuple[int, ...]  # the labels' original shape
    num_classes: int
    acc_dtype: Any
    rounded: Any = None  # the 16-bit dtype of inputs widened for the matmuls (XLA:CPU), else None


def check_head(hidden, weight, labels, bias, weight_layout) -> Head:
    """Trace-time checks of the arrays every fused function takes."""
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
    num_classes = int(weight.shape[1 - d_axis])
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
    arrays = [hidden, weight]
    if bias is not None:
        bias = _checks.as_float(bias, "bias")
        if tuple(bias.shape) != (num_classes,):
            raise _checks.error(ValueError, f"`bias` must have shape (V,) = ({num_classes},), got {tuple(bias.shape)}.")
        arrays.append(bias)
    acc = jnp.dtype(_checks.compute_dtype(*arrays))
    # The matmuls run in the inputs' common dtype with `acc` accumulation;
    # only a mixed-precision pair casts the narrower one.
    op = jnp.dtype(_checks.result_type(hidden.dtype, weight.dtype))
    rounded = None
    if op.itemsize < acc.itemsize and jax.default_backend() == "cpu":
        # XLA:CPU has no 16-bit matmul: it converts 16-bit operands to float32
        # inside every matmul (the weight once per chunk). Converting once
        # here and multiplying in float32 gives the same numbers (a product of
        # two 16-bit numbers is exact in float32, and the sums are float32
        # either way) provided each logit gradient is rounded to the 16-bit
        # dtype first, as a 16-bit matmul operand would be (`rounded`).
        op, rounded = acc, op
    d = hidden.shape[-1]
    return Head(
        hidden.reshape(-1, d).astype(op),
        weight.astype(op),
        labels.reshape(-1),
        bias,
        tuple(labels.shape),
        num_classes,
        acc,
        rounded,
    )


def check_options(chunk_size, ignore_index, logit_soft_cap) -> tuple[int | None, int | None, float | None]:
    """The options every fused function takes, as static Python values."""
    chunk = _checks.check_int(chunk_size, "chunk_size", allow_none=True, minimum=1)
    index = _checks.check_ignore_index(ignore_index)
    cap = None
    if logit_soft_cap is not None:
        _checks.check_range(logit_soft_cap, "logit_soft_cap", 0.0, low_open=True)
        cap = float(logit_soft_cap)
    return chunk, index, cap


def static_float(value, name: str, low: float | None = None, high: float | None = None, **kw) -> float:
    """A scalar option, range-checked, as a Python float (it becomes part of the static spec)."""
    _checks.check_range(value, name, low, high, **kw)
    return float(value)


def choose_chunk(num_tokens: int, vocab_local: int, itemsize: int = 4) -> int:
    """Tokens per chunk: a ``[chunk, V]`` block of about ``_CHUNK_BYTES``, whatever the number of tokens.

    Once the tokens are many (eight chunks or more) the chunk does not grow
    with their number, so neither does the head's temporary memory; it is
    at least ``_MIN_ROWS`` (128) tokens for a large vocabulary, between 32
    and 2048 tokens and at most an eighth of them (or all of them, when
    there are fewer than 32).
    """
    target = max(1, _CHUNK_BYTES // max(1, vocab_local * itemsize))
    chunk = max(1 << (target.bit_length() - 1), _MIN_ROWS)  # the power of two at or below, >= 128 rows
    # A small head (few tokens or classes) still gets several chunks: at most an
    # eighth of the tokens, so the live block stays well below the logits' size.
    chunk = min(max(chunk, _MIN_CHUNK), max(_MIN_CHUNK, num_tokens // 8))
    return max(1, min(chunk, _MAX_CHUNK, num_tokens))


def choose_scheme(weight_dtype, acc_dtype) -> str:
    """``"classes"`` for a weight narrower than the accumulation dtype, else ``"tokens"``.

    The one-pass token scheme accumulates the weight gradient over the token
    chunks, which for a 16-bit weight needs a float32 ``[D, V]`` accumulator
    (twice the gradient's own size). The class scheme first computes each
    token's statistics (one matmul), then each block of classes' gradient
    against every token in one matmul accumulated in float32 and written
    once in the weight's dtype: a fourth matmul instead of that buffer.
    """
    return "classes" if jnp.dtype(weight_dtype).itemsize < jnp.dtype(acc_dtype).itemsize else "tokens"


def make_spec(
    head: Head,
    chunk_size: int | None,
    ignore_index: int | None,
    soft_cap: float | None,
    weight_layout: str,
    *,
    temperature: float = 1.0,
    mesh: Mesh | None = None,
    token_axis: tuple[str, ...] | None = None,
    vocab_axis: str | None = None,
    num_vocab_shards: int = 1,
    num_token_shards: int = 1,
) -> HeadSpec:
    n_local = head.hidden.shape[0] // num_token_shards
    v_local = head.num_classes // num_vocab_shards
    chunk = chunk_size if chunk_size is not None else choose_chunk(n_local, v_local)
    return HeadSpec(
        layout=weight_layout,
        num_classes=head.num_classes,
        ignore_index=ignore_index,
        chunk=int(chunk),
        acc_dtype=head.acc_dtype,
        soft_cap=soft_cap,
        temperature=float(temperature),
        scheme=choose_scheme(head.weight.dtype, head.acc_dtype),
        rounded=head.rounded,
        mesh=mesh,
        token_axis=token_axis,
        vocab_axis=vocab_axis,
    )


def check_mesh(mesh, token_axis, vocab_axis, weight, labels, weight_layout) -> tuple[tuple[str, ...] | None, int, int]:
    """Checks a sharded head's mesh and axes; returns (token axes or None, vocab shards, token shards)."""
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
    return tok, n_vocab, n_tok


def vocabulary_size(arguments) -> int | None:
    """V, from the weight's layout (for :func:`jaxloss.checked`)."""
    weight = arguments.get("weight")
    if weight is None or len(getattr(weight, "shape", ())) != 2:
        return None
    return int(weight.shape[0] if arguments.get("weight_layout") == "VD" else weight.shape[1])
