"""Tests of ``jaxloss.fused_linear_jsd`` (jax + numpy only).

Every value and vector-Jacobian product (random cotangents for the
divergence *and* the student's entropy; gradients of the student's hidden
states, weight and bias) of the float32 fused heads is compared with the
materialised computation in float64,

    u = cap_s * tanh((h_s @ W_s + b_s) / cap_s) / T,  t likewise with the teacher's cap
    p = softmax(u), q = softmax(t), M = (1 - beta) p + beta q
    D = KL(q || p) (beta 0), KL(p || q) (beta 1), beta KL(q || M) + (1 - beta) KL(p || M)

at ``rtol=1e-5``: beta 0, 0.3, 0.5 and 1, both weight layouts, a teacher
wider than the student, chunk sizes with several loop steps and a tail,
soft caps, temperatures 0.05 (where the float32 *materialised* gradients
are ~1e-3 off), 0.7 and 2, biases given or not, ``-inf`` bias entries, and
the teacher's zero cotangents; bfloat16 inputs; a masked token whose
hidden state is ``nan``; ``jit``/``vmap``; the temporary memory of the
compiled program against the materialised one; the argument errors; and,
in subprocesses on 8 host CPU devices, ``jit`` with ``NamedSharding``
inputs (data and vocabulary parallel), a user's ``jax.shard_map``
(``check_vma=True``), ``jax.checkpoint`` and ``lax.scan`` gradient
accumulation.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, DS, DT, V = 23, 8, 12, 40  # 23 tokens: chunks of 5 are four loop steps and a tail of 3


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


def make_inputs(n=N, ds=DS, dt=DT, v=V, *, seed=0, dtype=jnp.float32):
    """``(student, teacher, cts)``: ``(hidden, weight [D, V], bias)`` for each head, and two cotangents."""
    k = jax.random.split(jax.random.key(seed), 8)
    student = (
        jax.random.normal(k[0], (n, ds)),
        jax.random.normal(k[1], (ds, v)) * (2.0 / np.sqrt(ds)),
        0.5 * jax.random.normal(k[2], (v,)),
    )
    teacher = (
        jax.random.normal(k[3], (n, dt)),
        jax.random.normal(k[4], (dt, v)) * (2.0 / np.sqrt(dt)),
        0.5 * jax.random.normal(k[5], (v,)),
    )
    cts = (jax.random.normal(k[6], (n,)), jax.random.normal(k[7], (n,)))
    cast = lambda xs: tuple(x.astype(dtype) for x in xs)  # noqa: E731
    return cast(student), cast(teacher), cts


def materialised(
    hs,
    ws,
    ht,
    wt,
    *,
    student_bias=None,
    teacher_bias=None,
    beta=0.5,
    temperature=1.0,
    student_logit_soft_cap=None,
    teacher_logit_soft_cap=None,
    return_entropy=False,
    weight_layout="DV",
    chunk_size=None,
):
    """The computation the fused heads must equal, holding every ``[tokens, V]`` logit of both."""
    del chunk_size

    def logits(h, w, b, cap):
        z = jnp.einsum("...d,dv->...v", h, w if weight_layout == "DV" else w.T)
        if b is not None:
            z = z + b.reshape((1,) * (z.ndim - 1) + b.shape)
        if cap is not None:
            z = cap * jnp.tanh(z / cap)
        return z / temperature

    ls = jax.nn.log_softmax(logits(hs, ws, student_bias, student_logit_soft_cap), axis=-1)
    lt = jax.nn.log_softmax(logits(ht, wt, teacher_bias, teacher_logit_soft_cap), axis=-1)
    lt = jax.lax.stop_gradient(lt)
    p, q = jnp.exp(ls), jnp.exp(lt)
    # p log(p / r), 0 where p is 0 (a -inf logit), without a nan in value or gradient.
    kl_terms = lambda p, lp, lr: jnp.where(p > 0, p * (jnp.where(p > 0, lp, 0.0) - jnp.where(p > 0, lr, 0.0)), 0.0)  # noqa: E731
    if beta == 0.0:
        d = jnp.sum(kl_terms(q, lt, ls), axis=-1)
    elif beta == 1.0:
        d = jnp.sum(kl_terms(p, ls, lt), axis=-1)
    else:
        lm = jnp.logaddexp(ls + np.log1p(-beta), lt + np.log(beta))
        d = beta * jnp.sum(kl_terms(q, lt, lm), axis=-1) + (1 - beta) * jnp.sum(kl_terms(p, ls, lm), axis=-1)
    if not return_entropy:
        return d
    return d, -jnp.sum(kl_terms(p, ls, jnp.zeros_like(ls)), axis=-1)


def _value_and_vjp(fn, student, teacher, cts, options):
    """``fn``'s outputs and their VJP w.r.t. (student hidden, weight[, bias], teacher hidden, weight[, bias])."""
    hs, ws, bs = student
    ht, wt, bt = teacher

    def run(hs, ws, bs, ht, wt, bt, cts):
        def f(hs, ws, bs, ht, wt, bt):
            return fn(hs, ws, ht, wt, student_bias=bs, teacher_bias=bt, **options)

        out, vjp = jax.vjp(f, hs, ws, bs, ht, wt, bt)
        return out, vjp(cts)

    return jax.jit(run)(hs, ws, bs, ht, wt, bt, cts)


def _cts(cts, options):
    return cts if options.get("return_entropy") else cts[0]


def fused_value_and_vjp(student, teacher, cts, **options):
    return _value_and_vjp(jaxloss.fused_linear_jsd, student, teacher, _cts(cts, options), options)


def float64_value_and_vjp(student, teacher, cts, **options):
    """The materialised computation in float64 (on the same float32-representable inputs), as numpy."""
    with jax.enable_x64(True):
        f64 = lambda x: None if x is None else jnp.asarray(np.asarray(x, np.float64))  # noqa: E731
        out = _value_and_vjp(
            materialised,
            tuple(map(f64, student)),
            tuple(map(f64, teacher)),
            jax.tree_util.tree_map(f64, _cts(cts, options)),
            options,
        )
        return jax.tree_util.tree_map(np.asarray, out)


def assert_close(got, want, what, *, rtol=1e-5, atol=1e-6):
    """Leaf by leaf; ``atol`` relative to the leaf's largest finite magnitude (at least 1e-3)."""
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for i, (a, b) in enumerate(zip(got_leaves, want_leaves, strict=True)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape, (what, i, a.shape, b.shape)
        finite = b[np.isfinite(b)]
        scale = max(1e-3, float(np.max(np.abs(finite)))) if finite.size else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=f"{what} (leaf {i})")


def _biases(student, teacher, which):
    hs, ws, bs = student
    ht, wt, bt = teacher
    bs = bs if which in ("both", "student") else None
    bt = bt if which in ("both", "teacher") else None
    return (hs, ws, bs), (ht, wt, bt)


def _layout(student, teacher, layout):
    if layout == "DV":
        return student, teacher
    return (student[0], jnp.asarray(student[1].T), student[2]), (teacher[0], jnp.asarray(teacher[1].T), teacher[2])


def check_against_float64(student, teacher, cts, *, rtol=1e-5, atol=1e-6, **options):
    got = fused_value_and_vjp(student, teacher, cts, **options)
    want = float64_value_and_vjp(student, teacher, cts, **options)
    outs = got[0] if options.get("return_entropy") else (got[0],)
    for out in outs:
        assert out.dtype == jnp.float32 and out.shape == student[0].shape[:-1]
    grads = got[1]
    for g, x in zip(grads, (*student, *teacher), strict=True):
        assert (g is None) == (x is None)
        if x is not None:
            assert g.dtype == x.dtype and g.shape == x.shape
    # The teacher is a constant: zero cotangents.
    for g in grads[3:]:
        if g is not None:
            assert not np.any(np.asarray(g))
    assert_close(got[0], want[0], "values", rtol=rtol, atol=atol)
    assert_close(grads[:3], want[1][:3], "vjp (d hidden, d weight, d bias) of the student", rtol=rtol, atol=atol)
    for g in grads[:3]:
        if g is not None:
            assert np.any(np.asarray(g))
    return got, want


# --------------------------------------------------------------------------
# values and VJPs against the float64 materialised computation
# --------------------------------------------------------------------------

CAPS = dict(student_logit_soft_cap=3.0, teacher_logit_soft_cap=4.0)
# (beta, layout, temperature, caps, biases, entropy, chunk)
_CASES = []
for _beta in (0.0, 0.3, 0.5, 1.0):
    _CASES += [
        (_beta, "DV", 1.0, CAPS, "both", True, 5),
        (_beta, "VD", 0.05, {}, "student", True, 8),
        (_beta, "DV", 2.0, {"teacher_logit_soft_cap": 1.5}, "teacher", False, None),
        (_beta, "VD", 0.7, {"student_logit_soft_cap": 2.0}, "none", False, 1),
    ]
_CASES += [(0.5, "DV", 0.05, CAPS, "both", False, 64), (1.0, "VD", 0.05, {}, "both", False, 23)]


@pytest.mark.parametrize(
    "beta, layout, temperature, caps, biases, entropy, chunk",
    _CASES,
    ids=[f"beta={c[0]}-{c[1]}-T={c[2]}-caps={len(c[3])}-bias={c[4]}-entropy={c[5]}-chunk={c[6]}" for c in _CASES],
)
def test_matches_float64_materialised(beta, layout, temperature, caps, biases, entropy, chunk):
    student, teacher, cts = make_inputs(seed=1)
    student, teacher = _layout(*_biases(student, teacher, biases), layout)
    check_against_float64(
        student,
        teacher,
        cts,
        beta=beta,
        temperature=temperature,
        return_entropy=entropy,
        chunk_size=chunk,
        weight_layout=layout,
        **caps,
    )


def test_temperature_005_with_soft_caps_and_entropy():
    # Both soft caps near saturation at T = 0.05: the derivative of the cap,
    # 1 - tanh^2, is recovered from the transformed logit, which costs about
    # a digit (the float32 materialised computation is ~9e-6 of the largest
    # gradient off here too).
    student, teacher, cts = make_inputs(seed=2)
    check_against_float64(
        student,
        teacher,
        cts,
        beta=0.5,
        temperature=0.05,
        return_entropy=True,
        chunk_size=5,
        rtol=1e-5,
        atol=2e-5,
        **CAPS,
    )


def test_same_head_gives_zero():
    # Student == teacher: every divergence is 0 (to rounding) and so is its gradient.
    (hs, ws, bs), _, (ct, _) = make_inputs(seed=3)
    for beta in (0.0, 0.5, 1.0):
        f = lambda h, w, b, beta=beta: jnp.sum(
            ct
            * jaxloss.fused_linear_jsd(  # noqa: E731
                h, w, h, w, student_bias=b, teacher_bias=b, beta=beta, temperature=0.7, chunk_size=5
            )
        )
        value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(hs, ws, bs)
        assert abs(float(value)) < 1e-5
        for g in grads:
            assert float(jnp.max(jnp.abs(g))) < 1e-5


def test_beta_endpoints_by_hand():
    # One token, V = 3, no matmul to speak of: KL(q || p), KL(p || q) and the JSD with beta 0.3.
    h = jnp.array([[1.0]])
    zs, zt = np.array([2.0, 0.0, -1.0]), np.array([0.5, 1.0, -2.0])
    p, q = np.exp(zs) / np.sum(np.exp(zs)), np.exp(zt) / np.sum(np.exp(zt))
    m = 0.7 * p + 0.3 * q
    want = {
        0.0: np.sum(q * np.log(q / p)),
        1.0: np.sum(p * np.log(p / q)),
        0.3: 0.3 * np.sum(q * np.log(q / m)) + 0.7 * np.sum(p * np.log(p / m)),
    }
    for beta, value in want.items():
        got = jaxloss.fused_linear_jsd(
            h, jnp.asarray(zs[None], jnp.float32), h, jnp.asarray(zt[None], jnp.float32), beta=beta
        )
        np.testing.assert_allclose(got, [value], rtol=1e-6)


def test_higher_rank_hidden():
    student, teacher, cts = make_inputs(n=24, seed=4)
    shape = (3, 8)
    rs = lambda xs: (xs[0].reshape(*shape, -1), *xs[1:])  # noqa: E731
    got, _ = check_against_float64(
        rs(student),
        rs(teacher),
        tuple(c.reshape(shape) for c in cts),
        beta=0.5,
        temperature=0.7,
        return_entropy=True,
        chunk_size=5,
        **CAPS,
    )
    assert got[0][0].shape == shape


# --------------------------------------------------------------------------
# extremes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_minus_inf_bias_is_a_padded_vocabulary(beta):
    # The same classes removed from both heads by a -inf bias: every value and
    # gradient equals the computation over the finite classes alone, the
    # removed classes get zero gradients, nothing is nan.
    student, teacher, cts = make_inputs(seed=5)
    padded = np.array([0, 7, 39])
    finite = np.setdiff1d(np.arange(V), padded)
    (hs, ws, bs), (ht, wt, bt) = student, teacher
    bs, bt = bs.at[padded].set(-jnp.inf), bt.at[padded].set(-jnp.inf)
    opts = dict(beta=beta, temperature=0.7, return_entropy=True, chunk_size=5)
    (d, ent), grads = fused_value_and_vjp((hs, ws, bs), (ht, wt, bt), cts, **opts)
    for leaf in (d, ent, *grads):
        assert np.all(np.isfinite(np.asarray(leaf)))
    want = float64_value_and_vjp((hs, ws[:, finite], bs[finite]), (ht, wt[:, finite], bt[finite]), cts, **opts)
    assert_close((d, ent), want[0], "values over the finite classes")
    dh, dw, db = grads[:3]
    assert_close((dh, dw[:, finite], db[finite]), want[1][:3], "vjp over the finite classes")
    assert not np.any(np.asarray(dw)[:, padded]) and not np.any(np.asarray(db)[padded])


def test_minus_inf_in_one_head_only():
    # A class only the student excludes: the JSD (0 < beta < 1) stays finite,
    # and so does its gradient; the float64 materialised computation agrees.
    # A class only the teacher excludes: likewise, and the forward KL too (the
    # teacher puts no mass there).
    student, teacher, cts = make_inputs(seed=6)
    (hs, ws, bs), (ht, wt, bt) = student, teacher
    for what, s_bias, t_bias, betas in (
        ("student", bs.at[3].set(-jnp.inf), bt, (0.3, 0.5)),
        ("teacher", bs, bt.at[3].set(-jnp.inf), (0.0, 0.5)),
    ):
        for beta in betas:
            got, _ = check_against_float64(
                (hs, ws, s_bias), (ht, wt, t_bias), cts, beta=beta, temperature=0.7, return_entropy=True, chunk_size=5
            )
            for leaf in jax.tree_util.tree_leaves(got):
                assert np.all(np.isfinite(np.asarray(leaf))), (what, beta)
    # Where the student gives a class 0 that the teacher does not, KL(q || p) is inf, as it is mathematically.
    d = jaxloss.fused_linear_jsd(hs, ws, ht, wt, student_bias=bs.at[3].set(-jnp.inf), teacher_bias=bt, beta=0.0)
    assert np.all(np.isposinf(np.asarray(d)))


def test_masked_token_with_nan_hidden_contributes_nothing():
    # The caller's mask (TRL's completion mask) through jaxloss.reduce: a masked
    # token's cotangents are 0, so it reaches no gradient even where both
    # hidden states are nan; the result equals the computation without it.
    student, teacher, _ = make_inputs(seed=7)
    (hs, ws, bs), (ht, wt, bt) = student, teacher
    masked = np.array([2, 11, 20])
    mask = np.ones(N, bool)
    mask[masked] = False
    hs_nan, ht_nan = hs.at[masked].set(jnp.nan), ht.at[masked].set(jnp.nan)

    def loss(hs, ws, bs, ht, mask):
        d, ent = jaxloss.fused_linear_jsd(
            hs,
            ws,
            ht,
            wt,
            student_bias=bs,
            teacher_bias=bt,
            beta=0.5,
            return_entropy=True,
            chunk_size=5,
            temperature=0.7,
        )
        return jaxloss.reduce(d, where=mask, reduction="mean") + 0.1 * jaxloss.reduce(ent, where=mask)

    value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(hs_nan, ws, bs, ht_nan, jnp.asarray(mask))
    d = jaxloss.fused_linear_jsd(hs_nan, ws, ht_nan, wt, beta=0.5)
    assert np.all(np.isnan(np.asarray(d)[masked])) and np.all(np.isfinite(np.delete(np.asarray(d), masked)))
    kept = np.flatnonzero(mask)
    want_value, want_grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(
        hs[kept], ws, bs, ht[kept], jnp.ones(kept.size, bool)
    )
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g)))
    assert not np.any(np.asarray(grads[0])[masked])
    assert_close(value, want_value, "value")
    assert_close((grads[0][kept], *grads[1:]), want_grads, "gradients")


def test_bfloat16_gives_float32_close_to_float32():
    student, teacher, cts = make_inputs(seed=8, dtype=jnp.bfloat16)
    opts = dict(beta=0.5, return_entropy=True, chunk_size=5, temperature=0.7, **CAPS)
    (d, ent), grads = fused_value_and_vjp(student, teacher, cts, **opts)
    assert d.dtype == jnp.float32 and ent.dtype == jnp.float32
    f32 = lambda xs: tuple(x.astype(jnp.float32) for x in xs)  # noqa: E731
    (d32, ent32), grads32 = fused_value_and_vjp(f32(student), f32(teacher), cts, **opts)
    # The same (rounded) inputs, float32 products and sums: nearly the float32 result.
    assert_close((d, ent), (d32, ent32), "bfloat16 values", rtol=1e-4, atol=1e-5)
    for g, x in zip(grads, (*student, *teacher), strict=True):
        assert g.dtype == jnp.bfloat16 and g.shape == x.shape
    # One bfloat16 rounding of d logits and of the result.
    assert_close(tuple(g.astype(jnp.float32) for g in grads[:3]), grads32[:3], "bfloat16 vjp", rtol=2e-2, atol=2e-2)
    assert not any(np.any(np.asarray(g)) for g in grads[3:])


def test_mixed_dtypes_bfloat16_teacher():
    # A float32 student against a bfloat16 teacher: float32 out, the student's gradients float32.
    student, teacher, cts = make_inputs(seed=9)
    teacher16 = tuple(x.astype(jnp.bfloat16) for x in teacher)
    teacher_rounded = tuple(x.astype(jnp.float32) for x in teacher16)
    got = fused_value_and_vjp(student, teacher16, cts, beta=0.3, chunk_size=5)
    want = fused_value_and_vjp(student, teacher_rounded, cts, beta=0.3, chunk_size=5)
    assert got[0].dtype == jnp.float32 and got[1][1].dtype == jnp.float32
    assert_close(got[0], want[0], "values", rtol=1e-6, atol=1e-7)
    assert_close(got[1][:3], want[1][:3], "vjp", rtol=1e-6, atol=1e-7)


def test_float64_stays_float64():
    student, teacher, cts = make_inputs(seed=15)
    opts = dict(beta=0.3, temperature=0.7, return_entropy=True, chunk_size=5, **CAPS)
    want = float64_value_and_vjp(student, teacher, cts, **opts)
    with jax.enable_x64(True):
        f64 = lambda xs: tuple(jnp.asarray(np.asarray(x), jnp.float64) for x in xs)  # noqa: E731
        got = fused_value_and_vjp(f64(student), f64(teacher), f64(cts), **opts)
        assert all(x.dtype == jnp.float64 for x in jax.tree_util.tree_leaves(got))
        assert_close(got[0], want[0], "float64 values", rtol=1e-12, atol=1e-13)
        assert_close(got[1][:3], want[1][:3], "float64 vjp", rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------

_OPTS = dict(beta=0.5, temperature=0.7, chunk_size=3, **CAPS)


def _objective(ht, wt, bt, ct, ce, **options):
    def f(hs, ws, bs):
        d, ent = jaxloss.fused_linear_jsd(
            hs, ws, ht, wt, student_bias=bs, teacher_bias=bt, return_entropy=True, **options
        )
        return jnp.sum(d * ct) + jnp.sum(ent * ce)

    return f


def test_jit_matches_eager():
    (hs, ws, bs), (ht, wt, bt), (ct, ce) = make_inputs(seed=10)
    f = jax.value_and_grad(_objective(ht, wt, bt, ct, ce, **_OPTS), argnums=(0, 1, 2))
    assert_close(jax.jit(f)(hs, ws, bs), f(hs, ws, bs), "jit vs eager", rtol=1e-6, atol=1e-7)


def test_vmap_over_a_batch_axis():
    (hs, ws, bs), (ht, wt, bt), (ct, ce) = make_inputs(n=24, seed=11)
    rows = lambda x: x.reshape(3, 8, *x.shape[1:])  # noqa: E731
    fn = lambda hs, ht: jaxloss.fused_linear_jsd(
        hs,
        ws,
        ht,
        wt,
        student_bias=bs,
        teacher_bias=bt,  # noqa: E731
        return_entropy=True,
        **_OPTS,
    )
    batched = jax.jit(jax.vmap(fn))(rows(hs), rows(ht))
    whole = jax.jit(fn)(rows(hs), rows(ht))  # the [3, 8, D] call itself
    looped = tuple(jnp.stack(x) for x in zip(*[fn(rows(hs)[i], rows(ht)[i]) for i in range(3)], strict=True))
    assert_close(batched, whole, "vmap vs rank 3", rtol=1e-6, atol=1e-7)
    assert_close(batched, looped, "vmap vs loop", rtol=1e-6, atol=1e-7)

    def grads(hs, ht, ct, ce):
        return jax.grad(_objective(ht, wt, bt, ct, ce, **_OPTS), argnums=(0, 1, 2))(hs, ws, bs)

    got = jax.jit(jax.vmap(grads))(rows(hs), rows(ht), rows(ct), rows(ce))
    want = [jax.jit(grads)(rows(hs)[i], rows(ht)[i], rows(ct)[i], rows(ce)[i]) for i in range(3)]
    assert_close(got, tuple(jnp.stack(x) for x in zip(*want, strict=True)), "vmap of grad", rtol=1e-5, atol=1e-6)


def test_forward_mode_is_not_supported():
    (hs, ws, _), (ht, wt, _), _ = make_inputs(seed=12)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda h: jaxloss.fused_linear_jsd(h, ws, ht, wt), (hs,), (hs,))


# --------------------------------------------------------------------------
# memory: never the [tokens, V] logits
# --------------------------------------------------------------------------


def test_temporary_memory_is_a_tenth_of_the_materialised(optimized):
    n, d, v = 2048, 256, 32768
    spec = jax.ShapeDtypeStruct
    args = (
        spec((n, d), jnp.float32),
        spec((d, v), jnp.float32),
        spec((v,), jnp.float32),
        spec((n, d), jnp.float32),
        spec((d, v), jnp.float32),
        spec((v,), jnp.float32),
    )

    def objective(fn):
        def f(hs, ws, bs, ht, wt, bt):
            dd, ent = fn(
                hs, ws, ht, wt, student_bias=bs, teacher_bias=bt, beta=0.5, return_entropy=True, temperature=0.7, **CAPS
            )
            return jnp.sum(dd) + jnp.sum(ent)

        return f

    def temp_bytes(fn):
        compiled = jax.jit(jax.value_and_grad(objective(fn), argnums=(0, 1, 2))).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    fused, unfused = temp_bytes(jaxloss.fused_linear_jsd), temp_bytes(materialised)
    assert unfused >= 2 * n * v * 4, unfused  # the materialised program really holds both heads' logits
    assert fused <= 0.10 * unfused, (fused, unfused)


# --------------------------------------------------------------------------
# argument errors
# --------------------------------------------------------------------------


def _call(student=None, teacher=None, **options):
    s, t, _ = make_inputs(seed=13)
    hs, ws, bs = student or s
    ht, wt, bt = teacher or t
    return jaxloss.fused_linear_jsd(hs, ws, ht, wt, student_bias=bs, teacher_bias=bt, **options)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"beta": -0.1}, ValueError, "`beta`"),
        ({"beta": 1.5}, ValueError, "`beta`"),
        ({"beta": np.array([0.5, 0.5])}, ValueError, "`beta`"),
        ({"temperature": 0.0}, ValueError, "`temperature`"),
        ({"temperature": -1.0}, ValueError, "`temperature`"),
        ({"student_logit_soft_cap": 0.0}, ValueError, "`student_logit_soft_cap`"),
        ({"teacher_logit_soft_cap": -1.0}, ValueError, "`teacher_logit_soft_cap`"),
        ({"return_entropy": 1}, TypeError, "`return_entropy`"),
        ({"chunk_size": 0}, ValueError, "`chunk_size`"),
        ({"chunk_size": 2.5}, TypeError, "`chunk_size`"),
        ({"weight_layout": "XY"}, ValueError, "`weight_layout`"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_option_errors(options, error, match):
    with pytest.raises(error, match=match):
        _call(**options)


def test_array_errors_name_the_argument():
    (hs, ws, bs), (ht, wt, bt), _ = make_inputs(seed=14)
    cases = [
        (dict(student=(hs.astype(jnp.int32), ws, bs)), TypeError, "`student_hidden`"),
        (dict(teacher=(ht, wt.astype(jnp.int32), bt)), TypeError, "`teacher_weight`"),
        (dict(student=(hs, ws[:-1], bs)), ValueError, "`student_weight`"),
        (dict(teacher=(ht, wt[:-1], bt)), ValueError, "`teacher_weight`"),
        (dict(student=(hs, ws, bs[:-1])), ValueError, "`student_bias`"),
        (dict(teacher=(ht, wt, bt[:-1])), ValueError, "`teacher_bias`"),
        (dict(teacher=(ht[:-1], wt, bt)), ValueError, "`teacher_hidden`"),
        (dict(teacher=(ht, wt[:, :-1], bt[:-1])), ValueError, "`teacher_weight` must have the vocabulary"),
    ]
    for kw, error, match in cases:
        with pytest.raises(error, match=match):
            _call(**kw)


def test_traced_options_raise_type_error():
    for name in ("beta", "temperature", "student_logit_soft_cap"):
        with pytest.raises(TypeError, match=f"`{name}` is a static option"):
            jax.jit(lambda x, name=name: _call(**{name: x}))(0.5)


# --------------------------------------------------------------------------
# every parallel layout: subprocesses on 8 host CPU devices
# --------------------------------------------------------------------------

PARALLEL_CASES = ["named_sharding", "shard_map_checkpoint_scan"]


@pytest.mark.parametrize("case", PARALLEL_CASES)
def test_parallel_layouts(case):
    from tests.test_sharding import run_case

    out = run_case("tests.test_fused_jsd", case)
    assert f"checked {case}" in out, out


# 48 tokens (6 per device), 64 classes (8 per device).
_PN, _PV = 48, 64
_POPTS = dict(beta=0.3, temperature=0.7, chunk_size=5, return_entropy=True, **CAPS)


def _p_data():
    student, teacher, cts = make_inputs(n=_PN, v=_PV, seed=20)
    k = jax.random.key(21)
    mask = jax.random.uniform(k, (_PN,)) > 0.25
    return student, teacher, cts, mask


def _p_loss(api=jaxloss.fused_linear_jsd, layout="DV"):
    """TRL's objective, ``mean over the mask of D`` plus an entropy term, and its numerator (a sum)."""

    def numerator(hs, ws, bs, ht, wt, bt, mask, ce):
        d, ent = api(hs, ws, ht, wt, student_bias=bs, teacher_bias=bt, weight_layout=layout, **_POPTS)
        return jnp.sum(jnp.where(mask, d, 0.0)) + jnp.sum(jnp.where(mask, ent * ce, 0.0))

    def loss(hs, ws, bs, ht, wt, bt, mask, ce):
        return numerator(hs, ws, bs, ht, wt, bt, mask, ce) / jnp.sum(mask.astype(jnp.float32))

    return loss, numerator


def _p_want(layout="DV"):
    (hs, ws, bs), (ht, wt, bt), (_, ce), mask = _p_data()
    if layout == "VD":
        ws, wt = ws.T, wt.T
    loss, _ = _p_loss(materialised, layout)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(hs, ws, bs, ht, wt, bt, mask, ce)


def _p_named_sharding(devices):
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from tests.test_sharding import _assert_close

    meshes = [
        ("data parallel", Mesh(devices, ("data",)), "data", None),
        ("vocabulary parallel", Mesh(devices, ("model",)), None, "model"),
        ("2-D", Mesh(devices.reshape(2, 4), ("data", "model")), "data", "model"),
    ]
    for what, mesh, tok, voc in meshes:
        for layout in ("DV", "VD"):
            (hs, ws, bs), (ht, wt, bt), (_, ce), mask = _p_data()
            if layout == "VD":
                ws, wt = ws.T, wt.T
            put = lambda x, *spec, mesh=mesh: jax.device_put(x, NamedSharding(mesh, P(*spec)))  # noqa: E731
            w_spec = (None, voc) if layout == "DV" else (voc, None)
            args = (
                put(hs, tok, None),
                put(ws, *w_spec),
                put(bs, voc),
                put(ht, tok, None),
                put(wt, *w_spec),
                put(bt, voc),
                put(mask, tok),
                put(ce, tok),
            )
            loss, _ = _p_loss(layout=layout)
            got = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(*args)
            _assert_close(got, _p_want(layout), f"named sharding {what} {layout}")
    print("checked named_sharding", flush=True)


def _p_shard_map_checkpoint_scan(devices):
    from jax import lax
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    from tests.test_sharding import _assert_close

    (hs, ws, bs), (ht, wt, bt), (_, ce), mask = _p_data()
    args = (hs, ws, bs, ht, wt, bt, mask, ce)
    want = _p_want()
    _, numerator = _p_loss()
    count = jnp.sum(mask.astype(jnp.float32))

    # A user's shard_map (check_vma=True), data parallel: each shard's numerator
    # over the whole batch's count, psum-ed by the user; gradient outside and inside.
    mesh = Mesh(devices, ("data",))
    specs = (P("data"), P(), P(), P("data"), P(), P(), P("data"), P("data"))

    def local(hs, ws, bs, ht, wt, bt, mask, ce):
        total = lax.psum(jnp.sum(mask.astype(jnp.float32)), "data")
        return lax.psum(numerator(hs, ws, bs, ht, wt, bt, mask, ce) / total, "data")

    outer = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())
    _assert_close(jax.jit(jax.value_and_grad(outer, argnums=(0, 1, 2)))(*args), want, "shard_map, grad outside")
    inner = jax.shard_map(
        lambda *a: jax.value_and_grad(local, argnums=(0, 1, 2))(*a),
        mesh=mesh,
        in_specs=specs,
        out_specs=(P(), (P("data"), P(), P())),
    )
    _assert_close(jax.jit(inner)(*args), want, "shard_map, grad inside")

    # jax.checkpoint around the loss, two policies.
    loss, _ = _p_loss()
    for policy in (None, jax.checkpoint_policies.nothing_saveable):
        got = jax.jit(jax.value_and_grad(jax.checkpoint(loss, policy=policy), argnums=(0, 1, 2)))(*args)
        _assert_close(got, want, f"checkpoint {policy}")

    # Gradient accumulation over 4 micro-batches in a lax.scan.
    def accumulate(hs, ws, bs, ht, wt, bt, mask, ce):
        split = lambda x: x.reshape(4, -1, *x.shape[1:])  # noqa: E731

        def step(carry, batch):
            value, dw, db = carry
            h, th, m, c = batch
            v, (dh, dwm, dbm) = jax.value_and_grad(
                lambda h, w, b: numerator(h, w, b, th, wt, bt, m, c) / count, argnums=(0, 1, 2)
            )(h, ws, bs)
            return (value + v, dw + dwm, db + dbm), dh

        zero = (jnp.float32(0.0), jnp.zeros_like(ws), jnp.zeros_like(bs))
        (value, dw, db), dh = lax.scan(step, zero, (split(hs), split(ht), split(mask), split(ce)))
        return value, (dh.reshape(hs.shape), dw, db)

    _assert_close(jax.jit(accumulate)(*args), want, "lax.scan accumulation")
    print("checked shard_map_checkpoint_scan", flush=True)


def _main(case: str) -> None:
    # The suite's strict NumPy semantics (the root conftest's), here too.
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    devices = np.array(jax.devices())
    assert len(devices) == 8, f"expected 8 host devices, got {len(devices)} (XLA_FLAGS not set before import?)"
    cases = {"named_sharding": _p_named_sharding, "shard_map_checkpoint_scan": _p_shard_map_checkpoint_scan}
    if case not in cases:
        raise SystemExit(f"unknown case {case!r}; one of {PARALLEL_CASES}")
    cases[case](devices)
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
