"""Tests of ``jaxloss.fused_linear_log_probs`` and its sharded twin (jax + numpy only).

Every value and vector-Jacobian product (random cotangents for the
log-probabilities *and* the entropy; gradients of ``hidden``, ``weight`` and
``bias``) of the float32 fused head is compared with the materialised
computation in float64,

    u = cap * tanh((hidden @ weight + bias) / cap) / temperature
    log_probs = log_softmax(u)[labels],  entropy = -sum(p * log p)

at ``rtol=1e-4``: both weight layouts, with and without the entropy, chunk
sizes that do and do not divide the tokens, ``ignore_index`` (ignored
tokens give 0 and no gradient even where their hidden row is ``nan``),
out-of-range and narrow-integer labels, bfloat16 inputs, ``jit``/``vmap``/
``jax.checkpoint``/``lax.scan``, logits of magnitude 1e4, the small
entropies of a temperature of 0.05 and a ``-inf`` bias entry (a padded
vocabulary); plus the temporary memory of the compiled program against
the materialised one, the argument errors, and
(in a subprocess on 8 host CPU devices) the sharded function against the
unsharded one.
"""

from __future__ import annotations

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, D, V = 24, 8, 40
IGNORE = -100
IGNORED = (2, 7, 19)
TRL = dict(temperature=0.7, logit_soft_cap=5.0)  # both transforms, TRL's order


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    # Compilation dominates this file's time; XLA's optimisations do not change
    # the values. The memory test turns them back on.
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture
def optimized():
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


def make_inputs(n=N, d=D, v=V, *, seed=0, ignored=IGNORED, dtype=jnp.float32):
    k = jax.random.split(jax.random.key(seed), 6)
    hidden = jax.random.normal(k[0], (n, d)).astype(dtype)
    weight = (jax.random.normal(k[1], (d, v)) * (2.0 / np.sqrt(d))).astype(dtype)
    bias = (0.5 * jax.random.normal(k[2], (v,))).astype(dtype)
    labels = jax.random.randint(k[3], (n,), 0, v)
    for i in ignored:
        labels = labels.at[i].set(IGNORE)
    ct_lp = jax.random.normal(k[4], (n,))
    ct_ent = jax.random.normal(k[5], (n,))
    return hidden, weight, bias, labels, ct_lp, ct_ent


def materialised(
    hidden,
    weight,
    labels,
    bias=None,
    *,
    temperature=1.0,
    logit_soft_cap=None,
    ignore_index=None,
    weight_layout="DV",
    return_entropy=False,
    chunk_size=None,
):
    """The computation the fused head must equal, holding every ``[tokens, V]`` logit."""
    del chunk_size
    w = weight if weight_layout == "DV" else weight.T
    num_classes = w.shape[1]
    keep = jnp.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    h = jnp.where(keep[..., None], hidden, jnp.zeros((), hidden.dtype))  # an ignored nan row: no gradient
    z = jnp.einsum("...d,dv->...v", h, w)
    if bias is not None:
        z = z + bias.reshape((1,) * (z.ndim - 1) + bias.shape)
    if logit_soft_cap is not None:
        z = logit_soft_cap * jnp.tanh(z / logit_soft_cap)
    u = z / temperature
    log_softmax = jax.nn.log_softmax(u, axis=-1)
    valid = (labels >= 0) & (labels < num_classes)
    picked = jnp.take_along_axis(log_softmax, jnp.clip(labels, 0, num_classes - 1)[..., None], axis=-1)[..., 0]
    log_probs = jnp.where(keep, jnp.where(valid, picked, jnp.nan), 0.0)
    if not return_entropy:
        return log_probs
    entropy = -jnp.sum(jnp.exp(log_softmax) * log_softmax, axis=-1)
    return log_probs, jnp.where(keep, entropy, 0.0)


def _value_and_vjp(fn, hidden, weight, bias, labels, cts, options):
    """``fn``'s outputs and their VJP with cotangents ``cts`` w.r.t. (hidden, weight[, bias]), under jit."""

    def run(hidden, weight, bias, labels, cts):
        def f(*args):
            h, w = args[:2]
            b = args[2] if bias is not None else None
            return fn(h, w, labels, bias=b, **options)

        primals = (hidden, weight) if bias is None else (hidden, weight, bias)
        out, vjp = jax.vjp(f, *primals)
        return out, vjp(cts)

    return jax.jit(run)(hidden, weight, bias, labels, cts)


def fused_value_and_vjp(hidden, weight, bias, labels, cts, **options):
    return _value_and_vjp(jaxloss.fused_linear_log_probs, hidden, weight, bias, labels, cts, options)


def float64_value_and_vjp(hidden, weight, bias, labels, cts, **options):
    """The materialised computation in float64 (on the same, float32-representable inputs), as numpy."""
    with jax.enable_x64(True):
        f64 = lambda x: None if x is None else jnp.asarray(np.asarray(x, np.float64))  # noqa: E731
        cts64 = jax.tree_util.tree_map(f64, cts)
        out = _value_and_vjp(materialised, f64(hidden), f64(weight), f64(bias), jnp.asarray(labels), cts64, options)
        return jax.tree_util.tree_map(np.asarray, out)


def assert_close(got, want, what, *, rtol=1e-4, atol=1e-5):
    """Leaf by leaf; ``atol`` relative to the leaf's largest finite magnitude (at least 1)."""
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for i, (a, b) in enumerate(zip(got_leaves, want_leaves, strict=True)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape, (what, i, a.shape, b.shape)
        finite = b[np.isfinite(b)]
        scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=f"{what} (leaf {i})")


def cotangents(ct_lp, ct_ent, return_entropy):
    return (ct_lp, ct_ent) if return_entropy else ct_lp


def check_against_float64(hidden, weight, bias, labels, ct_lp, ct_ent, *, rtol=1e-4, atol=1e-5, **options):
    entropy = options.get("return_entropy", False)
    cts = cotangents(ct_lp, ct_ent, entropy)
    got = fused_value_and_vjp(hidden, weight, bias, labels, cts, **options)
    want = float64_value_and_vjp(hidden, weight, bias, labels, cts, **options)
    outs = got[0] if entropy else (got[0],)
    for out in outs:
        assert out.dtype == jnp.float32 and out.shape == labels.shape
    for g, x in zip(got[1], (hidden, weight, bias), strict=False):
        assert g.dtype == x.dtype and g.shape == x.shape
    assert_close(got[0], want[0], "values", rtol=rtol, atol=atol)
    assert_close(got[1], want[1], "vjp (d hidden, d weight, d bias)", rtol=rtol, atol=atol)
    return got, want


# --------------------------------------------------------------------------
# values and VJPs against the float64 materialised computation
# --------------------------------------------------------------------------

# 24 tokens: chunks of 5 (four loop steps and a tail of 4), 8 (three steps),
# 1, one chunk of all (None picks min(tokens, ...)), 64 (more than the tokens).
_CASES = [
    ("DV", True, 5),
    ("DV", False, 8),
    ("VD", True, 8),
    ("VD", False, 5),
    ("DV", True, None),
    ("VD", True, 1),
    ("DV", True, 64),
]


@pytest.mark.parametrize("layout, entropy, chunk", _CASES, ids=[f"{a}-entropy={b}-chunk={c}" for a, b, c in _CASES])
def test_matches_float64_materialised(layout, entropy, chunk):
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=1)
    # The ignored tokens' hidden rows hold nan: 0 for both outputs, no gradient, no nan anywhere.
    h = h.at[jnp.array(IGNORED)].set(jnp.nan)
    if layout == "VD":
        w = jnp.asarray(w.T)
    (out, grads), _ = check_against_float64(
        h,
        w,
        b,
        y,
        ct_lp,
        ct_ent,
        ignore_index=IGNORE,
        return_entropy=entropy,
        chunk_size=chunk,
        weight_layout=layout,
        **TRL,
    )
    for o in out if entropy else (out,):
        assert np.all(np.asarray(o)[list(IGNORED)] == 0.0)
        assert np.all(np.isfinite(np.asarray(o)))
    assert not np.any(np.asarray(grads[0])[list(IGNORED)])
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g)))
    assert np.any(np.asarray(grads[1])) and np.any(np.asarray(grads[2]))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"temperature": 0.7},
        {"logit_soft_cap": 5.0},
        {"temperature": 2.5, "logit_soft_cap": 1.0},
        {"temperature": 0.7, "logit_soft_cap": 5.0, "bias": False},
    ],
    ids=str,
)
def test_each_transform(options):
    # Temperature and soft cap alone and together (a small cap saturates tanh),
    # without ignore_index, with and without bias.
    options = dict(options)
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=2, ignored=())
    if not options.pop("bias", True):
        b = None
    check_against_float64(h, w, b, y, ct_lp, ct_ent, return_entropy=True, chunk_size=7, **options)


def test_transform_order_is_cap_then_temperature():
    # cap * tanh(z / cap) / T, not cap * tanh(z / (cap * T)) nor cap * tanh(z / T / cap) * ...:
    # pinned on one token by hand. z = (2, 0, -1), cap 1.5, T 0.5.
    h = jnp.array([[1.0]])
    w = jnp.array([[2.0, 0.0, -1.0]])
    lp, ent = jaxloss.fused_linear_log_probs(
        h, w, jnp.array([0]), temperature=0.5, logit_soft_cap=1.5, return_entropy=True
    )
    u = 1.5 * np.tanh(np.array([2.0, 0.0, -1.0]) / 1.5) / 0.5
    log_p = u - np.log(np.sum(np.exp(u)))
    np.testing.assert_allclose(lp, [log_p[0]], rtol=1e-5)
    np.testing.assert_allclose(ent, [-np.sum(np.exp(log_p) * log_p)], rtol=1e-5)


def test_higher_rank_hidden():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=3)
    shape = (3, 8)
    check_against_float64(
        h.reshape(*shape, D),
        w,
        b,
        y.reshape(shape),
        ct_lp.reshape(shape),
        ct_ent.reshape(shape),
        ignore_index=IGNORE,
        return_entropy=True,
        chunk_size=5,
        **TRL,
    )


def test_everything_ignored_gives_zero():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=4)
    y = jnp.full_like(y, IGNORE)
    (lp, ent), grads = fused_value_and_vjp(
        h, w, b, y, (ct_lp, ct_ent), ignore_index=IGNORE, return_entropy=True, chunk_size=5, **TRL
    )
    assert not np.any(np.asarray(lp)) and not np.any(np.asarray(ent))
    for g in grads:
        assert not np.any(np.asarray(g))


def test_out_of_range_label_gives_nan_and_no_gradient():
    # Labels V and -1 (not ignore_index): nan log-probability, and no gradient
    # through it even for a nonzero cotangent; their entropy is still
    # computed (and differentiated); the other tokens are unaffected.
    h, w, b, y, _, ct_ent = make_inputs(seed=5, ignored=(7,))
    bad = [3, 5]
    y = y.at[3].set(V).at[5].set(-1)
    ct_lp = jnp.ones(N)
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, **TRL)
    (lp, ent), grads = fused_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    assert np.all(np.isnan(np.asarray(lp)[bad]))
    assert np.all(np.isfinite(np.delete(np.asarray(lp), bad)))
    assert np.all(np.isfinite(np.asarray(ent)))
    # The reference with the offending tokens' log-prob cotangent dropped.
    (want_lp, want_ent), want_grads = float64_value_and_vjp(
        h, w, b, y, (ct_lp.at[jnp.array(bad)].set(0.0), ct_ent), **opts
    )
    assert_close((lp, ent), (want_lp, want_ent), "values")
    assert_close(grads, want_grads, "vjp")
    # Without ignore_index too (then the label -100 of token 7 is out of range as well).
    lp = jaxloss.fused_linear_log_probs(h, w, y, bias=b, chunk_size=5)
    assert np.all(np.isnan(np.asarray(lp)[[*bad, 7]]))
    assert np.all(np.isfinite(np.delete(np.asarray(lp), [*bad, 7])))


@pytest.mark.parametrize("dtype, v", [(jnp.int8, 300), (jnp.uint8, 200), (jnp.int16, V)], ids=str)
def test_narrow_integer_labels_equal_int32_labels(dtype, v):
    # Widened before any comparison: int8 labels with 300 classes, a uint8
    # label 156 (== -100 mod 256) is a class, not ignore_index=-100.
    h, w, b, y, ct_lp, ct_ent = make_inputs(v=v, seed=6, ignored=())
    y = y % min(v, int(jnp.iinfo(dtype).max) + 1)
    if jnp.issubdtype(dtype, jnp.signedinteger):
        y = y.at[0].set(IGNORE)
    else:
        y = y.at[1].set(156)
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, **TRL)
    got = fused_value_and_vjp(h, w, b, y.astype(dtype), (ct_lp, ct_ent), **opts)
    want = fused_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    for a, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_array_equal(a, e)
    if dtype == jnp.uint8:
        assert float(got[0][0][1]) < 0.0  # a real class, not ignored
    else:
        assert float(got[0][0][0]) == 0.0
    assert_close(got, float64_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts), "against float64")


def test_bfloat16_gives_float32_close_to_float32():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=7, dtype=jnp.bfloat16)
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, **TRL)
    (lp, ent), grads = fused_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    assert lp.dtype == jnp.float32 and ent.dtype == jnp.float32
    f32 = [x.astype(jnp.float32) for x in (h, w, b)]
    (lp32, ent32), grads32 = fused_value_and_vjp(*f32, y, (ct_lp, ct_ent), **opts)
    # The same (rounded) inputs, float32 products and sums: nearly the float32 result.
    assert_close((lp, ent), (lp32, ent32), "bfloat16 values", rtol=1e-4, atol=1e-5)
    for g, e, x in zip(grads, grads32, (h, w, b), strict=True):
        assert g.dtype == jnp.bfloat16 and g.shape == x.shape
        # One bfloat16 rounding of d logits and of the result.
        assert_close(g.astype(jnp.float32), e, "bfloat16 vjp", rtol=2e-2, atol=2e-2)


# --------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------


def _objective(y, ct_lp, ct_ent, **options):
    def f(h, w, b):
        lp, ent = jaxloss.fused_linear_log_probs(h, w, y, bias=b, return_entropy=True, **options)
        return jnp.sum(lp * ct_lp) + jnp.sum(ent * ct_ent)

    return f


def test_jit_matches_eager():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=8)
    opts = dict(ignore_index=IGNORE, chunk_size=5, **TRL)
    f = jax.value_and_grad(_objective(y, ct_lp, ct_ent, **opts), argnums=(0, 1, 2))
    assert_close(jax.jit(f)(h, w, b), f(h, w, b), "jit vs eager", rtol=1e-5, atol=1e-6)
    eager = jaxloss.fused_linear_log_probs(h, w, y, bias=b, **opts)
    jitted = jax.jit(lambda h: jaxloss.fused_linear_log_probs(h, w, y, bias=b, **opts))(h)
    assert_close(jitted, eager, "values", rtol=1e-6, atol=1e-7)


def test_vmap_over_a_batch_axis():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=9)
    hb, yb, cb, eb = h.reshape(3, 8, D), y.reshape(3, 8), ct_lp.reshape(3, 8), ct_ent.reshape(3, 8)
    opts = dict(ignore_index=IGNORE, chunk_size=3, **TRL)
    fn = lambda h, y: jaxloss.fused_linear_log_probs(h, w, y, bias=b, return_entropy=True, **opts)  # noqa: E731
    batched = jax.jit(jax.vmap(fn))(hb, yb)
    whole = jax.jit(fn)(hb, yb)  # the [3, 8, D] call itself
    looped = tuple(jnp.stack(x) for x in zip(*[fn(hb[i], yb[i]) for i in range(3)], strict=True))
    assert_close(batched, whole, "vmap vs rank 3", rtol=1e-6, atol=1e-7)
    assert_close(batched, looped, "vmap vs loop", rtol=1e-6, atol=1e-7)

    def grads(h, y, c, e):
        return jax.grad(_objective(y, c, e, **opts), argnums=(0, 1, 2))(h, w, b)

    got = jax.jit(jax.vmap(grads))(hb, yb, cb, eb)
    want = [jax.jit(grads)(hb[i], yb[i], cb[i], eb[i]) for i in range(3)]
    assert_close(got, tuple(jnp.stack(x) for x in zip(*want, strict=True)), "vmap of grad", rtol=1e-5, atol=1e-6)


def test_checkpoint_and_scan():
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=10)
    f = _objective(y, ct_lp, ct_ent, ignore_index=IGNORE, chunk_size=5, **TRL)
    want = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(h, w, b)
    got = jax.jit(jax.value_and_grad(jax.checkpoint(f), argnums=(0, 1, 2)))(h, w, b)
    assert_close(got, want, "jax.checkpoint", rtol=1e-5, atol=1e-6)

    # Gradient accumulation over three micro-batches in a lax.scan.
    def accumulated(w, b):
        def step(carry, xs):
            hh, yy, cc, ee = xs
            g = jax.grad(_objective(yy, cc, ee, ignore_index=IGNORE, chunk_size=5, **TRL), argnums=(1, 2))(hh, w, b)
            return jax.tree_util.tree_map(jnp.add, carry, g), None

        zeros = (jnp.zeros_like(w), jnp.zeros_like(b))
        xs = (h.reshape(3, 8, D), y.reshape(3, 8), ct_lp.reshape(3, 8), ct_ent.reshape(3, 8))
        return jax.lax.scan(step, zeros, xs)[0]

    assert_close(jax.jit(accumulated)(w, b), want[1][1:], "lax.scan accumulation", rtol=1e-5, atol=1e-6)


def test_forward_mode_is_not_supported():
    h, w, _, y, _, _ = make_inputs(seed=11)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda h: jaxloss.fused_linear_log_probs(h, w, y, ignore_index=IGNORE), (h,), (h,))


# --------------------------------------------------------------------------
# extremes
# --------------------------------------------------------------------------


# With a temperature other than 1 and logits near 1e4, XLA:CPU contracts the multiplication by 1 / T
# and the subtraction of the row maximum into one unrounded multiply-add in some uses only: a saved
# log-sum-exp and the backward pass's recomputed logits then disagree by half an ulp of 1e4 (the
# entropy came out about -1e-3, the gradients ~1e-3 off). The row maximum and the log-sum are saved
# apart, u_top - max is exactly 0; with the soft cap, a saturated tanh has derivative exactly 0.
@pytest.mark.parametrize("options", [{"temperature": 0.7}, {"temperature": 1.0}, TRL], ids=str)
def test_logits_of_magnitude_1e4(options):
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=12)
    w = w * 5e3  # |z| of order 1e4
    assert float(jnp.max(jnp.abs(h @ w))) > 1e4
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, **options)
    got = fused_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    for leaf in jax.tree_util.tree_leaves(got):
        assert np.all(np.isfinite(np.asarray(leaf)))
    lp, ent = got[0]
    # An entropy is never negative (a few float32 ulps of a unit entropy at most).
    assert float(jnp.min(ent)) >= -1e-6, np.asarray(ent)
    # And as accurate as the materialised float32 computation is here (about
    # 1e-7 relative): within the acceptance tolerance of the float64 result.
    want = float64_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    assert_close(lp, want[0][0], "log-probs", rtol=1e-4, atol=1e-6)
    assert_close(ent, want[0][1], "entropy", rtol=1e-4, atol=1e-5)
    assert_close(got[1], want[1], "vjp (d hidden, d weight, d bias)", rtol=1e-4, atol=1e-4)


def test_small_entropies_at_temperature_005():
    # T = 0.05: most tokens put nearly all their mass on one class, with
    # entropies from 1e-25 to 1e-4 (3e-8 for token 3). They must not be
    # drowned by the rounding of |u| ~ 200 (an ulp is 1.5e-5): never
    # negative, and within 1e-6 of the float64 materialised entropy
    # (the unfixed head gave 1.9e-6 for 3e-8, and -1.3e-6); the
    # log-probabilities and gradients to the usual tolerance.
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=1)
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, temperature=0.05)
    got = fused_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    want = float64_value_and_vjp(h, w, b, y, (ct_lp, ct_ent), **opts)
    ent, want_ent = np.asarray(got[0][1], np.float64), want[0][1]
    small = want_ent < 1e-3
    assert np.sum(small) >= 10 and np.min(want_ent[small & (want_ent > 0)]) < 1e-20  # the case at hand
    assert np.all(ent >= 0.0), ent
    np.testing.assert_allclose(ent[small], want_ent[small], rtol=0, atol=1e-6)
    # Below 1e-3 of the entropy far better: each small entropy to 1e-3 of itself (or 1e-9).
    np.testing.assert_allclose(ent[small], want_ent[small], rtol=1e-3, atol=1e-9)
    # The larger entropies carry the logits' own rounding (as the float32 materialised computation does).
    np.testing.assert_allclose(ent, want_ent, rtol=0, atol=2e-5)
    assert_close(got[0][0], want[0][0], "log-probs", rtol=1e-4, atol=1e-6)
    assert_close(got[1], want[1], "vjp (d hidden, d weight, d bias)", rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", ["DV", "VD"])
def test_minus_inf_bias_is_a_padded_vocabulary(layout):
    # A -inf bias entry removes a class: both outputs and every gradient equal
    # the materialised computation over the finite classes alone; the removed
    # classes get zero (finite) gradients.
    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=13)
    padded = np.array([0, 7, 39])
    finite = np.setdiff1d(np.arange(V), padded)
    b = b.at[padded].set(-jnp.inf)
    remap = np.full(V, -1)
    remap[finite] = np.arange(finite.size)
    y = jnp.where(jnp.isin(y, padded), 1, y)
    y_small = jnp.where(y == IGNORE, IGNORE, jnp.asarray(remap)[jnp.clip(y, 0, V - 1)])
    opts = dict(ignore_index=IGNORE, return_entropy=True, chunk_size=5, temperature=0.7)
    w_in = w if layout == "DV" else jnp.asarray(w.T)
    (lp, ent), (dh, dw, db) = fused_value_and_vjp(h, w_in, b, y, (ct_lp, ct_ent), weight_layout=layout, **opts)
    if layout == "VD":
        dw = dw.T
    for leaf in (lp, ent, dh, dw, db):
        assert np.all(np.isfinite(np.asarray(leaf)))
    (want_lp, want_ent), (want_dh, want_dw, want_db) = float64_value_and_vjp(
        h, w[:, finite], b[finite], y_small, (ct_lp, ct_ent), **opts
    )
    assert_close((lp, ent), (want_lp, want_ent), "values over the finite classes")
    assert_close((dh, dw[:, finite], db[finite]), (want_dh, want_dw, want_db), "vjp over the finite classes")
    assert not np.any(np.asarray(dw)[:, padded]) and not np.any(np.asarray(db)[padded])


# --------------------------------------------------------------------------
# memory: never the [tokens, V] logits
# --------------------------------------------------------------------------


def test_temporary_memory_is_a_tenth_of_the_materialised(optimized):
    n, d, v = 2048, 256, 32768
    spec = jax.ShapeDtypeStruct
    args = (spec((n, d), jnp.float32), spec((d, v), jnp.float32), spec((v,), jnp.float32), spec((n,), jnp.int32))

    def objective(fn):
        def f(h, w, b, y):
            lp, ent = fn(h, w, y, bias=b, return_entropy=True, **TRL)
            return jnp.sum(lp) + jnp.sum(ent)

        return f

    def temp_bytes(fn):
        compiled = jax.jit(jax.value_and_grad(objective(fn), argnums=(0, 1, 2))).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    fused, unfused = temp_bytes(jaxloss.fused_linear_log_probs), temp_bytes(materialised)
    assert unfused >= n * v * 4, unfused  # the materialised program really holds the logits
    assert fused <= 0.10 * unfused, (fused, unfused)


# --------------------------------------------------------------------------
# argument errors
# --------------------------------------------------------------------------


def _call(**options):
    h, w, b, y, _, _ = make_inputs(seed=14)
    return jaxloss.fused_linear_log_probs(h, w, y, bias=b, **options)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"temperature": 0.0}, ValueError, "`temperature`"),
        ({"temperature": -0.7}, ValueError, "`temperature`"),
        ({"temperature": np.array([0.7, 0.7])}, ValueError, "`temperature`"),
        ({"temperature": jnp.ones((1,))}, ValueError, "`temperature`"),
        ({"return_entropy": 1}, TypeError, "`return_entropy`"),
        ({"return_entropy": "yes"}, TypeError, "`return_entropy`"),
        ({"return_entropy": None}, TypeError, "`return_entropy`"),
        ({"logit_soft_cap": 0.0}, ValueError, "`logit_soft_cap`"),
        ({"chunk_size": 0}, ValueError, "`chunk_size`"),
        ({"weight_layout": "XY"}, ValueError, "`weight_layout`"),
        ({"ignore_index": 1.5}, TypeError, "`ignore_index`"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_argument_errors(options, error, match):
    with pytest.raises(error, match=match):
        _call(**options)


def test_traced_temperature_raises_type_error():
    with pytest.raises(TypeError, match="`temperature` is a static option"):
        jax.jit(lambda t: _call(temperature=t))(0.7)


def test_zero_dimensional_temperature_is_a_scalar():
    want = _call(temperature=0.7, return_entropy=True)
    for t in (np.float32(0.7), np.array(0.7), jnp.asarray(0.7)):
        assert_close(_call(temperature=t, return_entropy=True), want, "0-d temperature", rtol=1e-6, atol=0)


# --------------------------------------------------------------------------
# sharded: a subprocess on 8 host CPU devices
# --------------------------------------------------------------------------


def test_sharded_matches_unsharded():
    from tests.test_sharding import run_case

    run_case("tests.test_log_probs", "sharded")


def _check_sharded(mesh, token_axis, layout, *, entropy=True, minus_inf=False, options=TRL):
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    h, w, b, y, ct_lp, ct_ent = make_inputs(seed=15)
    y = y.at[4].set(V)  # out of range: nan in both
    if minus_inf:
        b = b.at[jnp.array([0, 13, 38])].set(-jnp.inf)
        y = jnp.where(jnp.isin(y, jnp.array([0, 13, 38])), 1, y)
    if layout == "VD":
        w = jnp.asarray(w.T)
    put = lambda x, *spec: jax.device_put(x, NamedSharding(mesh, P(*spec)))  # noqa: E731
    h_s, y_s = put(h, token_axis, None), put(y, token_axis)
    w_s = put(w, None, "model") if layout == "DV" else put(w, "model", None)
    b_s = put(b, "model")
    cts = cotangents(ct_lp, ct_ent, entropy)
    cts_s = jax.tree_util.tree_map(lambda c: put(c, token_axis), cts)
    opts = dict(ignore_index=IGNORE, chunk_size=5, weight_layout=layout, return_entropy=entropy, **options)
    sharded = functools.partial(
        jaxloss.sharded_fused_linear_log_probs, mesh=mesh, vocab_axis="model", token_axis=token_axis
    )
    got = _value_and_vjp(sharded, h_s, w_s, b_s, y_s, cts_s, opts)
    want = fused_value_and_vjp(h, w, b, y, cts, **opts)
    what = f"sharded token_axis={token_axis} {layout} entropy={entropy} -inf={minus_inf}"
    assert np.isnan(np.asarray(jax.tree_util.tree_leaves(got[0])[0])[4]), what
    assert_close(got, want, what, rtol=2e-5, atol=2e-6)
    assert got[1][1].sharding.is_equivalent_to(w_s.sharding, 2), what


def _main(case: str) -> None:
    from jax.sharding import Mesh

    devices = jax.devices()
    assert len(devices) == 8, f"expected 8 host devices, got {len(devices)} (XLA_FLAGS not set before import?)"
    mesh = Mesh(np.array(devices).reshape(2, 4), ("data", "model"))  # 12 tokens, 10 classes per device
    if case == "sharded":
        for token_axis in ("data", None):
            for layout in ("DV", "VD"):
                _check_sharded(mesh, token_axis, layout)
        _check_sharded(mesh, "data", "DV", entropy=False)
        _check_sharded(mesh, None, "VD", minus_inf=True, options={"temperature": 0.7})
    else:
        raise SystemExit(f"unknown case {case!r}")
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
