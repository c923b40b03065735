"""Core tests of generalized_jsd, forward_kl and reverse_kl (jax + numpy only)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import assert_all_finite, assert_transform_invariant, check_grads_x64

INF = np.inf
BETAS = (0.0, 1e-6, 0.1, 0.5, 0.9, 1 - 1e-6, 1.0)


# --------------------------------------------------------------------------
# a float64 NumPy statement of the formulas
# --------------------------------------------------------------------------


def _np_log_softmax(z, temperature):
    x = np.float64(z) / temperature
    finite = np.where(np.isfinite(x), x, -INF)
    m = np.max(finite, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (x - m) - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
    return np.where(x == -INF, -INF, out)


def _np_kl_terms(lp, lq):
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.exp(lp) * (lp - lq)
    return np.where(lp == -INF, 0.0, np.where(lq == -INF, INF, terms))


def _np_div(s, t, beta, temperature=1.0):
    """generalized JSD (TRL's endpoints kept) per row of the last axis, float64."""
    ls, lt = _np_log_softmax(s, temperature), _np_log_softmax(t, temperature)
    if beta == 0:
        return _np_kl_terms(lt, ls).sum(-1)
    if beta == 1:
        return _np_kl_terms(ls, lt).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.logaddexp(ls + math.log1p(-beta), lt + math.log(beta))
    return (beta * _np_kl_terms(lt, lm) + (1 - beta) * _np_kl_terms(ls, lm)).sum(-1)


def _logits(seed, shape=(2, 3, 6), scale=2.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(np.float32), (scale * rng.standard_normal(shape)).astype(
        np.float32
    )


def _jsd(beta):
    return lambda s, t, **kw: jaxloss.generalized_jsd(s, t, beta=beta, **kw)


# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("beta", BETAS)
def test_values_match_numpy(beta, temperature):
    s, t = _logits(0)
    out = jaxloss.generalized_jsd(s, t, beta=beta, temperature=temperature)
    assert out.shape == (2, 3) and out.dtype == jnp.float32
    expected = _np_div(s, t, beta, temperature)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)
    assert np.all(np.asarray(out) >= -1e-6)
    with jax.enable_x64(True):
        out64 = jaxloss.generalized_jsd(np.float64(s), np.float64(t), beta=beta, temperature=temperature)
        assert out64.dtype == jnp.float64
        np.testing.assert_allclose(out64, expected, rtol=1e-10, atol=1e-15)


def test_endpoints_are_the_kl_divergences_and_discontinuous():
    s, t = _logits(1)
    fwd, rev = jaxloss.forward_kl(s, t, temperature=0.7), jaxloss.reverse_kl(s, t, temperature=0.7)
    np.testing.assert_array_equal(fwd, jaxloss.generalized_jsd(s, t, beta=0.0, temperature=0.7))
    np.testing.assert_array_equal(rev, jaxloss.generalized_jsd(s, t, beta=1.0, temperature=0.7))
    np.testing.assert_allclose(fwd, _np_div(s, t, 0.0, 0.7), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rev, _np_div(s, t, 1.0, 0.7), rtol=1e-5, atol=1e-6)
    # forward KL(p_t || p_s) and reverse KL(p_s || p_t) swap with the arguments.
    np.testing.assert_allclose(jaxloss.forward_kl(t, s, temperature=0.7), rev, rtol=1e-6, atol=1e-7)
    # J_beta -> 0 at both ends while the endpoints themselves are the KLs (TRL's branches).
    for beta in (1e-6, 1 - 1e-6):
        near = np.asarray(jaxloss.generalized_jsd(s, t, beta=beta))
        assert np.all(near < 1e-4) and np.all(np.asarray(fwd) > 1e-2) and np.all(np.asarray(rev) > 1e-2)
    # Symmetric at beta = 1/2: the Jensen-Shannon divergence, at most log 2.
    half = jaxloss.generalized_jsd(s, t)
    np.testing.assert_allclose(half, jaxloss.generalized_jsd(t, s), rtol=1e-5, atol=1e-7)
    assert np.all(np.asarray(half) <= math.log(2) + 1e-6)
    # Identical distributions (also shifted logits) give 0.
    np.testing.assert_allclose(jaxloss.generalized_jsd(s, s + 3.0, beta=0.3), 0.0, atol=1e-6)


def test_disjoint_supports():
    # p_s and p_t on disjoint classes: J = -b log b - (1-b) log(1-b); the KLs are inf.
    s = np.array([0.0, -INF, 1.0, -INF], np.float32)
    t = np.array([-INF, 2.0, -INF, 0.0], np.float32)
    for beta in (1e-6, 0.3, 0.5, 1 - 1e-6):
        expected = -beta * math.log(beta) - (1 - beta) * math.log1p(-beta)
        np.testing.assert_allclose(jaxloss.generalized_jsd(s, t, beta=beta), expected, rtol=1e-5)
    assert float(jaxloss.forward_kl(s, t)) == INF and float(jaxloss.reverse_kl(s, t)) == INF


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------


def test_kl_gradients_match_closed_form():
    # d KL(p_t||p_s)/dz_s = (p_s - p_t)/T and d/dz_t = p_t (log p_t - log p_s - KL)/T, float64.
    s, t = _logits(2, (2, 5))
    temp = 0.6
    with jax.enable_x64(True):
        s64, t64 = np.float64(s), np.float64(t)
        ls, lt = _np_log_softmax(s64, temp), _np_log_softmax(t64, temp)
        ps, pt = np.exp(ls), np.exp(lt)
        kl = np.sum(pt * (lt - ls), -1, keepdims=True)
        fn = lambda a, b: jnp.sum(jaxloss.forward_kl(a, b, temperature=temp))  # noqa: E731
        gs, gt = jax.grad(fn, argnums=(0, 1))(s64, t64)
        np.testing.assert_allclose(gs, (ps - pt) / temp, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(gt, pt * (lt - ls - kl) / temp, rtol=1e-10, atol=1e-14)
        rfn = lambda a, b: jnp.sum(jaxloss.reverse_kl(a, b, temperature=temp))  # noqa: E731
        gs, gt = jax.grad(rfn, argnums=(0, 1))(s64, t64)
        np.testing.assert_allclose(gt, (pt - ps) / temp, rtol=1e-10, atol=1e-14)


def test_grads_x64():
    # Order 2, forward and reverse mode, at the two endpoints and inside, with
    # -inf logits where each form stays finite: a class ruled out by both sides
    # (endpoints) or by one side (0 < beta < 1).
    s, t = _logits(3, (3, 2, 4), scale=1.0)
    s[0, 0, 1] = t[0, 0, 1] = -INF  # beta = 0
    s[1, 0, 1] = t[1, 1, 2] = -INF  # beta = 0.3
    s[2, 1, 2] = t[2, 1, 2] = -INF  # beta = 1
    fin_s, fin_t = np.isfinite(s), np.isfinite(t)

    @jax.jit
    def all_betas(a, b):
        # Finite differences cannot step a -inf logit (its derivative is 0, checked
        # elsewhere): only the finite entries are perturbed.
        a, b = jnp.where(fin_s, a, -jnp.inf), jnp.where(fin_t, b, -jnp.inf)
        return jnp.stack(
            [jaxloss.generalized_jsd(a[i], b[i], beta=beta, temperature=0.7) for i, beta in enumerate((0.0, 0.3, 1.0))]
        )

    check_grads_x64(all_betas, (np.where(fin_s, s, 0.0), np.where(fin_t, t, 0.0)))


def test_gradients_flow_to_the_teacher_unless_stopped():
    s, t = _logits(4, (3, 5))
    fn = lambda a, b: jnp.sum(jaxloss.generalized_jsd(a, b, beta=0.5))  # noqa: E731
    g_t = jax.grad(fn, argnums=1)(s, t)
    assert np.abs(np.asarray(g_t)).max() > 1e-3
    stopped = jax.grad(lambda a, b: fn(a, jax.lax.stop_gradient(b)), argnums=(0, 1))(s, t)
    np.testing.assert_array_equal(stopped[1], 0.0)
    np.testing.assert_allclose(stopped[0], jax.grad(fn)(s, t), rtol=1e-6)


# --------------------------------------------------------------------------
# extremes: -inf logits, huge logits, low temperature
# --------------------------------------------------------------------------


S_INF = np.array(
    [
        [-INF, 0.0, 1.0, 2.0],  # student rules out a class the teacher also rules out
        [0.0, -INF, 1.0, 2.0],  # student rules out a class the teacher gives mass
        [0.5, 0.0, 1.0, 2.0],  # teacher rules out a class the student gives mass
        [-INF, -INF, -INF, 0.0],  # one class left in the student
        [-INF, -INF, -INF, -INF],  # an empty student row
    ],
    np.float32,
)
T_INF = np.array(
    [
        [-INF, 1.0, 0.0, 2.0],
        [0.0, 1.0, 1.0, 2.0],
        [-INF, 0.0, 1.0, 2.0],
        [1.0, -INF, 0.0, 3.0],
        [-INF, -INF, -INF, -INF],
    ],
    np.float32,
)


def _value_grad_hessian(fn, s, t):
    """Values, gradients and a Hessian-vector product along a dense direction (a nan anywhere
    in the Hessian's rows reaches it), under one jit."""
    total = lambda a, b: jnp.sum(fn(a, b))  # noqa: E731
    grad = jax.grad(total, argnums=(0, 1))
    rng = np.random.default_rng(99)
    ds, dt = (rng.uniform(0.5, 1.5, s.shape).astype(np.float32), rng.uniform(0.5, 1.5, t.shape).astype(np.float32))
    return jax.jit(lambda a, b: (fn(a, b), grad(a, b), jax.jvp(grad, (a, b), (ds, dt))[1]))(s, t)


@pytest.mark.parametrize("temperature", [1.0, 0.05])
@pytest.mark.parametrize("beta", [0.0, 1e-6, 0.5, 1 - 1e-6, 1.0])
def test_minus_inf_logits(beta, temperature):
    v, g, h = _value_grad_hessian(
        lambda a, b: jaxloss.generalized_jsd(a, b, beta=beta, temperature=temperature), S_INF, T_INF
    )
    expected = _np_div(S_INF, T_INF, beta, temperature)
    np.testing.assert_allclose(v, expected, rtol=2e-5, atol=1e-6)
    assert not np.any(np.isnan(np.asarray(v)))
    if 0 < beta < 1:
        assert_all_finite(v)  # the mixture covers both supports
    else:
        # An endpoint KL is inf exactly where one side rules out a class the other supports.
        first = S_INF if beta == 1 else T_INF
        second = T_INF if beta == 1 else S_INF
        ruled_out = np.any((first > -INF) & (second == -INF), axis=-1)
        np.testing.assert_array_equal(np.isinf(np.asarray(v)), ruled_out)
    assert_all_finite((g, h), "gradient or hessian")
    # A -inf logit gets a zero gradient; an empty row gives 0 and no gradient.
    np.testing.assert_array_equal(np.asarray(g[0])[S_INF == -INF], 0.0)
    np.testing.assert_array_equal(np.asarray(g[1])[T_INF == -INF], 0.0)
    assert float(v[-1]) == 0.0


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_shared_minus_inf_class_is_a_smaller_vocabulary(beta):
    # A class ruled out by both sides is the same as a vocabulary without it.
    s, t = _logits(5, (3, 5))
    s[:, 2] = t[:, 2] = -INF
    keep = np.array([0, 1, 3, 4])
    fn = lambda a, b: jnp.sum(jaxloss.generalized_jsd(a, b, beta=beta, temperature=0.5))  # noqa: E731
    np.testing.assert_allclose(fn(s, t), fn(s[:, keep], t[:, keep]), rtol=1e-6)
    g_full, g_small = jax.grad(fn, argnums=(0, 1))(s, t), jax.grad(fn, argnums=(0, 1))(s[:, keep], t[:, keep])
    for full, small in zip(g_full, g_small, strict=True):
        np.testing.assert_allclose(np.asarray(full)[:, keep], small, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(np.asarray(full)[:, 2], 0.0)


@pytest.mark.parametrize("beta", [0.0, 1e-6, 0.5, 1 - 1e-6, 1.0])
def test_huge_logits_and_low_temperature(beta):
    # +-1e30 mixed with finite logits, and logits ~30 at temperature 0.05 (z / T ~ 600).
    rng = np.random.default_rng(6)
    s = np.array([[1e30, 0.0, -1e30, 3.0], [-1e30, -1e30, 2.0, 1.0], [1e30, 1e30, 0.0, -5.0]], np.float32)
    t = np.array([[0.0, 1e30, 5.0, -1e30], [-1e30, 1.0, 2.0, 1e30], [1e30, 0.0, 1e30, -5.0]], np.float32)
    s30, t30 = (
        (30 + rng.standard_normal((3, 4))).astype(np.float32),
        (30 + rng.standard_normal((3, 4))).astype(np.float32),
    )
    cases = ((0, 1.0), (0, 0.05), (1, 0.05))  # (which inputs, temperature)

    def all_cases(a, b):
        return jnp.stack([jaxloss.generalized_jsd(a[i], b[i], beta=beta, temperature=temp) for i, temp in cases])

    v, g, h = _value_grad_hessian(all_cases, np.stack([s, s30]), np.stack([t, t30]))
    assert_all_finite((v, g, h), "value, gradient or hessian")
    for (i, temp), out in zip(cases, v, strict=True):
        np.testing.assert_allclose(out, _np_div((s, s30)[i], (t, t30)[i], beta, temp), rtol=2e-5, atol=1e-5)


# --------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_where_masks_classes_and_tokens_with_nan_behind(beta):
    s, t = _logits(7, (2, 3, 5))
    where = np.ones((2, 3, 5), bool)
    where[0, 1, [1, 3]] = False  # masked vocabulary entries of one token
    where[1, 2, :] = False  # a masked token
    s_bad = np.where(where, s, np.nan).astype(np.float32)
    t_bad = np.where(where, t, np.inf).astype(np.float32)
    fn = lambda a, b: jaxloss.generalized_jsd(a, b, beta=beta, temperature=0.8, where=where)  # noqa: E731
    out = fn(s_bad, t_bad)
    # A masked class is a -inf logit (left out of both softmaxes); a masked token gives 0.
    as_inf = jaxloss.generalized_jsd(
        np.where(where, s, -INF).astype(np.float32),
        np.where(where, t, -INF).astype(np.float32),
        beta=beta,
        temperature=0.8,
    )
    np.testing.assert_allclose(out, as_inf, rtol=1e-6)
    np.testing.assert_allclose(out, _np_div(np.where(where, s, -INF), np.where(where, t, -INF), beta, 0.8), rtol=2e-5)
    assert float(out[1, 2]) == 0.0
    # Token-level: reduce with the token mask gives TRL's batchmean, with finite gradients.
    token = where.any(-1)
    loss = lambda a, b: jaxloss.reduce(fn(a, b), where=token, reduction="mean")  # noqa: E731
    np.testing.assert_allclose(loss(s_bad, t_bad), np.asarray(out)[token].mean(), rtol=1e-6)
    g_s, g_t = jax.grad(loss, argnums=(0, 1))(s_bad, t_bad)
    assert_all_finite((g_s, g_t), "gradient")
    np.testing.assert_array_equal(np.asarray(g_s)[~where], 0.0)
    np.testing.assert_array_equal(np.asarray(g_t)[~where], 0.0)
    g_ref = jax.grad(lambda a: jnp.sum(fn(a, t)) / float(token.sum()))(s)
    np.testing.assert_allclose(g_s, g_ref, rtol=1e-6, atol=1e-9)


def test_token_mask_broadcasts_over_the_vocabulary():
    s, t = _logits(8, (2, 3, 5))
    s[0, 0] = np.nan
    token = np.array([[False, True, True], [True, True, False]])
    for fn in (jaxloss.forward_kl, jaxloss.reverse_kl, _jsd(0.5)):
        total = lambda a, b: jnp.sum(fn(a, b, where=token[..., None]))  # noqa: E731,B023
        out = fn(s, t, where=token[..., None])
        np.testing.assert_array_equal(np.asarray(out)[~token], 0.0)
        assert_all_finite(out)
        g = jax.grad(total, argnums=(0, 1))(s, t)
        assert_all_finite(g, "gradient")
        np.testing.assert_array_equal(np.asarray(g[0])[~token], 0.0)


# --------------------------------------------------------------------------
# dtypes, transformations, axis, broadcasting
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16bit_inputs_compute_in_float32(dtype):
    s, t = _logits(9, (3, 6))
    s16, t16 = jnp.asarray(s, dtype), jnp.asarray(t, dtype)
    s32, t32 = s16.astype(jnp.float32), t16.astype(jnp.float32)
    for fn in (jaxloss.forward_kl, jaxloss.reverse_kl, _jsd(0.5), _jsd(0.1)):
        out = fn(s16, t16, temperature=0.5)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(out, fn(s32, t32, temperature=0.5), rtol=1e-6, atol=1e-7)
        mixed = fn(s16, t32, temperature=0.5)
        assert mixed.dtype == jnp.float32
        g = jax.grad(lambda a: jnp.sum(fn(a, t16)))(s16)  # noqa: B023
        assert g.dtype == dtype
        assert_all_finite(g.astype(jnp.float32), "gradient")


def test_jit_vmap_and_axis():
    s, t = _logits(10, (4, 6))
    for fn in (jaxloss.forward_kl, jaxloss.reverse_kl, _jsd(0.0), _jsd(0.5), _jsd(1.0)):
        assert_transform_invariant(lambda a, b: fn(a, b, temperature=0.5), s, t)  # noqa: B023
        np.testing.assert_allclose(fn(s.T, t.T, axis=0), fn(s, t), rtol=1e-6)
        np.testing.assert_allclose(fn(s.T, t.T, axis=-2), fn(s, t), rtol=1e-6)
        where = np.array([True, False, True, True, True, True])
        np.testing.assert_allclose(fn(s.T, t.T, axis=0, where=where[:, None]), fn(s, t, where=where), rtol=1e-6)


def test_teacher_broadcasts_to_the_student():
    s, t = _logits(11, (3, 5))
    out = jaxloss.generalized_jsd(s, t[0])
    np.testing.assert_allclose(out, jaxloss.generalized_jsd(s, np.broadcast_to(t[0], s.shape)), rtol=1e-6)
    g = jax.grad(lambda b: jnp.sum(jaxloss.forward_kl(s, b)), argnums=0)(t[0])
    assert g.shape == (5,)
    with pytest.raises(ValueError, match="`teacher_logits`"):
        jaxloss.generalized_jsd(s[:1], t)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_errors_name_the_argument():
    s, t = _logits(12, (2, 4))
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"`beta` must lie in \[0, 1\]"):
            jaxloss.generalized_jsd(s, t, beta=bad)
    with pytest.raises(ValueError, match="`beta` must be a scalar"):
        jaxloss.generalized_jsd(s, t, beta=np.array([0.5]))
    with pytest.raises(TypeError, match="`beta` is a static option"):
        jax.jit(lambda b: jaxloss.generalized_jsd(s, t, beta=b))(0.5)
    for fn in (jaxloss.forward_kl, jaxloss.reverse_kl, jaxloss.generalized_jsd):
        for bad in (0.0, -1.0, math.inf):
            with pytest.raises(ValueError, match=r"`temperature` must lie in \(0, inf\)"):
                fn(s, t, temperature=bad)
        with pytest.raises(ValueError, match="`temperature` must be a scalar"):
            fn(s, t, temperature=jnp.array([1.0, 2.0]))
        with pytest.raises(TypeError, match="`temperature` is a static option"):
            jax.jit(lambda x: fn(s, t, temperature=x))(1.0)  # noqa: B023
        with pytest.raises(TypeError, match="`student_logits`"):
            fn(np.zeros((2, 4), np.int32), t)
        with pytest.raises(TypeError, match="`teacher_logits`"):
            fn(s, np.zeros((2, 4), np.int32))
        with pytest.raises(ValueError, match="`axis`"):
            fn(s, t, axis=2)
        with pytest.raises(TypeError, match="`where`"):
            fn(s, t, where=np.ones((2, 4), np.float32))
        with pytest.raises(ValueError, match="`where`"):
            fn(s, t, where=np.ones((3, 4), bool))
    # A 0-d NumPy option is a scalar.
    np.testing.assert_allclose(
        jaxloss.generalized_jsd(s, t, beta=np.float32(0.25), temperature=np.array(2.0)),
        jaxloss.generalized_jsd(s, t, beta=0.25, temperature=2.0),
        rtol=1e-6,
    )


@pytest.mark.parametrize("scale", [1e3, 1e6, 1e30])
def test_jit_gradient_at_large_scaled_logits(scale):
    # Under jit, z / T may be recomputed (and contracted into a multiply-add)
    # in each fusion: the softmax of the gradient must still be the row's.
    s = np.array([[1.0, 0.0, -1.0, 0.999], [0.5, 1.0, -0.25, 0.0]], np.float32) * np.float32(scale)
    t = np.array([[0.0, 1.0, 0.5, -1.0], [1.0, 0.0, 0.25, 0.5]], np.float32) * np.float32(scale)
    temp = 0.7
    ls, lt = _np_log_softmax(s, temp), _np_log_softmax(t, temp)
    fn = lambda a, b: jnp.sum(jaxloss.forward_kl(a, b, temperature=temp))  # noqa: E731
    g_s = jax.jit(jax.grad(fn))(s, t)
    np.testing.assert_allclose(g_s, (np.exp(ls) - np.exp(lt)) / temp, rtol=1e-5, atol=1e-6)
    rfn = lambda a, b: jnp.sum(jaxloss.reverse_kl(a, b, temperature=temp))  # noqa: E731
    g_t = jax.jit(jax.grad(rfn, argnums=1))(s, t)
    np.testing.assert_allclose(g_t, (np.exp(lt) - np.exp(ls)) / temp, rtol=1e-5, atol=1e-6)
