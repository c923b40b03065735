"""Core tests of the preference losses: dpo, cpo, simpo, orpo, kto, kto_kl and the sequence helpers (jax + numpy)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import assert_all_finite, assert_transform_invariant, check_grads_x64

RNG = np.random.default_rng(1414)
B = 6
C = (-RNG.uniform(2.0, 30.0, B)).astype(np.float32)
R = (-RNG.uniform(2.0, 30.0, B)).astype(np.float32)
C0 = (C + RNG.normal(0.0, 2.0, B)).astype(np.float32)
R0 = (R + RNG.normal(0.0, 2.0, B)).astype(np.float32)
NC = RNG.integers(0, 12, B).astype(np.float32)  # one may be 0 (clamped to 1)
NC[0] = 0.0
NR = RNG.integers(1, 12, B).astype(np.float32)
AVG_C = (-RNG.uniform(0.01, 3.0, B)).astype(np.float32)
AVG_R = (-RNG.uniform(0.01, 3.0, B)).astype(np.float32)

DPO_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
)
F_TYPES = ("sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop")
F_DIVS = (("forward_kl", 0.5), ("js_divergence", 0.5), ("alpha_divergence", 0.5), ("alpha_divergence", 2.0))
SMOOTHING = {"exo_pair": 0.05, "robust": 0.2, "aot": 0.1, "aot_unpaired": 0.1}


# --------------------------------------------------------------------------
# a float64 NumPy statement of the formulas
# --------------------------------------------------------------------------


def _ls(x):
    return -np.logaddexp(0.0, -x)


def _sig(x):
    return np.exp(_ls(x))


def _np_score(rho, f_div, f_alpha):
    if f_div == "forward_kl":
        return 1.0 - np.exp(-rho)
    if f_div == "js_divergence":
        return np.log(2.0) + _ls(rho)
    if f_div == "alpha_divergence" and abs(f_alpha - 1.0) >= 1e-6:
        return (np.exp((f_alpha - 1.0) * rho) - 1.0) / (f_alpha - 1.0)
    return rho


def np_dpo(c, r, c0, r0, t, beta=0.1, eps=0.0, tau=0.05, nc=None, nr=None, f_div="reverse_kl", f_alpha=0.5):
    c, r, c0, r0 = (np.float64(a) for a in (c, r, c0, r0))
    rc, rr = c - c0, r - r0
    sc, sr = _np_score(rc, f_div, f_alpha), _np_score(rr, f_div, f_alpha)
    x = beta * (sc - sr)
    if nc is not None:
        nc, nr = np.maximum(np.float64(nc), 1.0), np.maximum(np.float64(nr), 1.0)
    smooth = lambda z: -(1 - eps) * _ls(z) - eps * _ls(-z)  # noqa: E731
    if t == "sigmoid":
        return -_ls(x)
    if t == "hinge":
        return np.maximum(1.0 - x, 0.0)
    if t == "ipo":
        return (sc / nc - sr / nr - 1 / (2 * beta)) ** 2
    if t == "exo_pair":
        return _sig(x) * (_ls(x) - np.log(1 - eps)) + _sig(-x) * (_ls(-x) - np.log(eps))
    if t == "nca_pair":
        return -_ls(beta * rc) - 0.5 * _ls(-beta * rc) - 0.5 * _ls(-beta * rr)
    if t == "robust":
        return (-(1 - eps) * _ls(x) + eps * _ls(-x)) / (1 - 2 * eps)
    if t == "bco_pair":
        return -_ls(beta * rc) - _ls(-beta * rr)
    if t == "sppo_hard":
        return (rc - 0.5 / beta) ** 2 + (rr + 0.5 / beta) ** 2
    if t == "aot":
        return smooth(beta * (np.sort(c - r) - np.sort(c0 - r0)))
    if t == "aot_unpaired":
        return smooth(beta * (np.sort(rc) - np.sort(rr)))
    if t == "apo_zero":
        return 1 - _sig(beta * rc) + _sig(beta * rr)
    if t == "apo_down":
        return _sig(beta * rc) + 1 - _sig(beta * (rc - rr))
    if t == "discopop":
        mu = _sig(x / tau)
        return -_ls(x) * (1 - mu) + np.exp(-x) * mu
    assert t == "sigmoid_norm"
    return -_ls(beta * (sc / nc - sr / nr))


def np_cpo(c, r, t="sigmoid", beta=0.1, eps=0.0, gamma=0.5, alpha=0.0):
    c, r = np.float64(c), np.float64(r)
    if alpha:
        c, r = (1 - np.exp(c) ** -alpha) / alpha, (1 - np.exp(r) ** -alpha) / alpha
    d = c - r - (gamma / beta if t == "simpo" else 0.0)
    if t in ("sigmoid", "simpo"):
        out = -(1 - eps) * _ls(beta * d) - eps * _ls(-beta * d)
    elif t == "hinge":
        out = np.maximum(1 - beta * d, 0.0)
    else:
        out = (d - 1 / (2 * beta)) ** 2
    return out, beta * c, beta * r


def np_orpo(c, r, beta=0.1):
    c, r = np.float64(c), np.float64(r)
    lo = (c - r) - (np.log1p(-np.exp(c)) - np.log1p(-np.exp(r)))
    return -beta * _ls(lo), lo


def _dpo_kwargs(t, **extra):
    kw = {"loss_type": t, "label_smoothing": SMOOTHING.get(t, 0.0), **extra}
    if t in ("ipo", "sigmoid_norm"):
        kw.update(chosen_lengths=NC, rejected_lengths=NR)
    return kw


def _np_kwargs(t, **extra):
    kw = {"eps": SMOOTHING.get(t, 0.0), "nc": NC, "nr": NR, **extra}
    return kw


# --------------------------------------------------------------------------
# values against NumPy (float64)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.1, 0.7])
@pytest.mark.parametrize("t", DPO_TYPES)
def test_dpo_values(t, beta):
    with jax.enable_x64(True):
        out = jaxloss.dpo(*(jnp.float64(a) for a in (C, R, C0, R0)), beta=beta, **_dpo_kwargs(t))
        assert out.losses.dtype == jnp.float64
        np.testing.assert_allclose(out.losses, np_dpo(C, R, C0, R0, t, beta=beta, **_np_kwargs(t)), rtol=1e-12)
        np.testing.assert_allclose(out.chosen_rewards, beta * (np.float64(C) - C0), rtol=1e-12)
        np.testing.assert_allclose(out.rejected_rewards, beta * (np.float64(R) - R0), rtol=1e-12)


@pytest.mark.parametrize(("f_div", "f_alpha"), F_DIVS)
@pytest.mark.parametrize("t", F_TYPES)
def test_dpo_f_divergence_values(t, f_div, f_alpha):
    # log-ratios of order 1, so that e^(-rho) is not clamped
    c0, r0 = C + np.float32(0.3), R - np.float32(0.4)
    with jax.enable_x64(True):
        out = jaxloss.dpo(C, R, c0, r0, beta=0.3, f_divergence=f_div, f_alpha=f_alpha, **_dpo_kwargs(t))
        want = np_dpo(C, R, c0, r0, t, beta=0.3, f_div=f_div, f_alpha=f_alpha, **_np_kwargs(t))
        np.testing.assert_allclose(out.losses, want, rtol=1e-5)


def test_dpo_discopop_tau_and_alpha_one():
    got = jaxloss.dpo(C, R, C0, R0, loss_type="discopop", discopop_tau=0.4, beta=0.5).losses
    np.testing.assert_allclose(got, np_dpo(C, R, C0, R0, "discopop", beta=0.5, tau=0.4), rtol=1e-5)
    plain = jaxloss.dpo(C, R, C0, R0).losses
    near_one = jaxloss.dpo(C, R, C0, R0, f_divergence="alpha_divergence", f_alpha=1.0 + 1e-7).losses
    np.testing.assert_array_equal(near_one, plain)


def test_dpo_weighted_list_is_weighted_sum():
    kw = dict(chosen_lengths=NC, rejected_lengths=NR, beta=0.3)
    got = jaxloss.dpo(C, R, C0, R0, loss_type=("sigmoid", "ipo", "bco_pair"), loss_weights=(0.8, 0.1, 1.5), **kw)
    parts = [jaxloss.dpo(C, R, C0, R0, loss_type=t, **kw).losses for t in ("sigmoid", "ipo", "bco_pair")]
    np.testing.assert_allclose(got.losses, 0.8 * parts[0] + 0.1 * parts[1] + 1.5 * parts[2], rtol=1e-6)
    default = jaxloss.dpo(C, R, C0, R0, loss_type=["sigmoid", "hinge"], **kw).losses
    np.testing.assert_allclose(
        default, sum(jaxloss.dpo(C, R, C0, R0, loss_type=t, **kw).losses for t in ("sigmoid", "hinge")), rtol=1e-6
    )
    # a zero weight drops its term, even an infinite one (no 0 * inf)
    big = np.float32([1e30, -1e30, 3.0])
    zero = jaxloss.dpo(big, -big, 0 * big, 0 * big, loss_type=["sigmoid", "sppo_hard"], loss_weights=[1.0, 0.0])
    np.testing.assert_array_equal(zero.losses, jaxloss.dpo(big, -big, 0 * big, 0 * big).losses)


@pytest.mark.parametrize(
    ("t", "eps", "gamma", "alpha"),
    [
        ("sigmoid", 0.0, 0.5, 0.0),
        ("sigmoid", 0.1, 0.5, 0.0),
        ("hinge", 0.1, 0.5, 0.0),
        ("ipo", 0.0, 0.5, 0.0),
        ("simpo", 0.0, 0.8, 0.0),
        ("simpo", 0.1, 0.5, 0.25),
        ("sigmoid", 0.0, 0.5, -0.5),
        ("ipo", 0.0, 0.5, 1.5),
    ],
)
def test_cpo_values(t, eps, gamma, alpha):
    with jax.enable_x64(True):
        out = jaxloss.cpo(
            jnp.float64(AVG_C),
            jnp.float64(AVG_R),
            loss_type=t,
            beta=2.0,
            label_smoothing=eps,
            simpo_gamma=gamma,
            alpha=alpha,
        )
        want = np_cpo(AVG_C, AVG_R, t, beta=2.0, eps=eps, gamma=gamma, alpha=alpha)
        for got, ref in zip(out, want, strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_simpo_is_cpo_simpo():
    a = jaxloss.simpo(AVG_C, AVG_R, beta=2.5, gamma=1.2, label_smoothing=0.05)
    b = jaxloss.cpo(AVG_C, AVG_R, beta=2.5, loss_type="simpo", simpo_gamma=1.2, label_smoothing=0.05)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert isinstance(a, jaxloss.PreferenceOutput)


def test_orpo_values():
    with jax.enable_x64(True):
        out = jaxloss.orpo(jnp.float64(AVG_C), jnp.float64(AVG_R), beta=0.3)
        losses, lo = np_orpo(AVG_C, AVG_R, beta=0.3)
        np.testing.assert_allclose(out.losses, losses, rtol=1e-12)
        np.testing.assert_allclose(out.log_odds, lo, rtol=1e-12)
        np.testing.assert_allclose(out.chosen_rewards, 0.3 * np.float64(AVG_C), rtol=1e-12)
        assert isinstance(out, jaxloss.ORPOOutput) and out._fields[:3] == jaxloss.PreferenceOutput._fields


def test_orpo_at_probability_one():
    """A log-prob of exactly 0: finite value and gradient (TRL's is nan there)."""
    c = jnp.array([0.0, 0.0, -1e-30, -1.0, -1e30], jnp.float32)
    r = jnp.array([-1.0, 0.0, -2.0, 0.0, -1.0], jnp.float32)
    out = jaxloss.orpo(c, r, beta=0.2)
    assert_all_finite(out)
    np.testing.assert_allclose(out.losses[0], 0.0, atol=1e-30)  # the chosen is certain
    np.testing.assert_allclose(out.losses[1], 0.2 * math.log(2.0), rtol=1e-6)  # both certain: no preference
    assert out.losses[3] > 1.0  # the rejected is certain
    gc, gr = jax.grad(lambda a, b: jnp.sum(jaxloss.orpo(a, b).losses), argnums=(0, 1))(c, r)
    assert_all_finite((gc, gr), "gradient")
    # pushes the chosen up and the rejected down; at p == 1 only the c - r term has a slope (log(1 - p) none)
    assert gc[3] < 0
    np.testing.assert_allclose(gr[3], 0.1, rtol=1e-6)


def test_kto_values():
    lp = C
    ref = C0
    des = np.array([True, False, True, True, False, False])
    kl = np.float32(0.7)
    with jax.enable_x64(True):
        for loss_type in ("kto", "apo_zero_unpaired"):
            out = jaxloss.kto(
                jnp.float64(lp),
                jnp.float64(ref),
                des,
                kl=kl,
                beta=0.2,
                desirable_weight=1.3,
                undesirable_weight=0.6,
                loss_type=loss_type,
            )
            rho = np.float64(lp) - ref
            z = kl if loss_type == "kto" else 0.0
            want = np.where(des, 1.3 * (1 - _sig(0.2 * (rho - z))), 0.6 * (1 - _sig(0.2 * (z - rho))))
            np.testing.assert_allclose(out.losses, want, rtol=1e-12)
            np.testing.assert_allclose(out.rewards, 0.2 * rho, rtol=1e-12)
    # apo_zero_unpaired takes no kl; a per-example kl broadcasts
    none = jaxloss.kto(lp, ref, des, kl=None, loss_type="apo_zero_unpaired").losses
    np.testing.assert_array_equal(none, jaxloss.kto(lp, ref, des, kl=5.0, loss_type="apo_zero_unpaired").losses)
    per = jaxloss.kto(lp, ref, des, kl=jnp.full((B,), 0.7)).losses
    np.testing.assert_allclose(per, jaxloss.kto(lp, ref, des, kl=0.7).losses, rtol=1e-7)


def test_kto_kl():
    p = np.float32([-3.0, -5.0, -2.0, np.nan])
    q = np.float32([-4.0, -4.0, -4.0, -1.0])
    where = np.array([True, True, True, False])
    np.testing.assert_allclose(jaxloss.kto_kl(p, q, where=where), 2.0 / 3.0, rtol=1e-6)
    np.testing.assert_allclose(jaxloss.kto_kl(p[:3], q[:3]), 2.0 / 3.0, rtol=1e-6)
    assert float(jaxloss.kto_kl(q[:3], p[:3])) == 0.0  # clamped at 0
    assert float(jaxloss.kto_kl(p, q, where=np.zeros(4, bool))) == 0.0  # empty mask
    g = jax.grad(lambda a: jaxloss.kto_kl(a, q, where=where))(jnp.asarray(p))
    np.testing.assert_array_equal(g, np.zeros(4))  # held constant


def test_sequence_log_probs():
    lp = np.float32([[-1.0, -2.0, np.nan, -np.inf], [-0.5, -0.25, -1.0, -2.0], [np.nan, -1.0, -1.0, -1.0]])
    m = np.array([[True, True, False, False], [True, True, True, True], [False, False, False, False]])
    w = np.float32([[1.0, 0.5, 2.0, 3.0]])
    np.testing.assert_array_equal(jaxloss.sequence_log_probs(lp, where=m), [-3.0, -3.75, 0.0])
    np.testing.assert_array_equal(jaxloss.sequence_log_probs(lp, where=m, average=True), [-1.5, -0.9375, 0.0])
    np.testing.assert_allclose(jaxloss.sequence_log_probs(lp, where=m, weights=w), [-2.0, -8.625, 0.0])
    np.testing.assert_allclose(
        jaxloss.sequence_log_probs(lp, where=m, weights=w, average=True), [-2.0 / 1.5, -8.625 / 6.5, 0.0]
    )
    # a weight of 0 drops a -inf token like the mask does
    zero_w = np.float32([[1.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(jaxloss.sequence_log_probs(lp[:1, [0, 1, 3, 3]], weights=zero_w), [-3.0])
    for average in (False, True):
        g = jax.grad(lambda x, a=average: jnp.sum(jaxloss.sequence_log_probs(x, where=m, weights=w, average=a)))(
            jnp.asarray(lp)
        )
        assert_all_finite(g, "gradient")
        np.testing.assert_array_equal(np.asarray(g)[~m], 0.0)
    assert jaxloss.sequence_log_probs(lp[0]).shape == ()


def _np_ld_weights(cm, rm, alpha):
    """TRL 1.16's positions: cumsum of the completion mask, shared = min of the lengths."""
    out = []
    shared = np.minimum(cm.sum(-1), rm.sum(-1))[..., None]
    for m in (cm, rm):
        pos = np.cumsum(m, -1)
        out.append(np.where(m, np.where(pos <= shared, 1.0, alpha), 0.0))
    return out


def test_ld_dpo_weights():
    cm = np.array(
        [
            [False, True, True, True, True, False],
            [True, False, True, True, False, False],
            [False, False, False, False, False, False],
        ]
    )
    rm = np.array(
        [
            [True, True, False, False, False, False],
            [True, True, True, True, True, True],
            [True, True, False, False, False, False],
        ]
    )
    w_c, w_r = jaxloss.ld_dpo_weights(cm, rm, alpha=0.25)
    np.testing.assert_array_equal(w_c, [[0, 1, 1, 0.25, 0.25, 0], [1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(w_r, [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0.25, 0.25, 0.25], [0.25, 0.25, 0, 0, 0, 0]])
    assert w_c.dtype == jnp.float32
    big_c, big_r = RNG.random((5, 9)) < 0.6, RNG.random((5, 7)) < 0.6  # token axes of different lengths
    for got, want in zip(
        jaxloss.ld_dpo_weights(big_c, big_r, alpha=0.4), _np_ld_weights(big_c, big_r, 0.4), strict=True
    ):
        np.testing.assert_array_equal(got, want.astype(np.float32))
    ones = jaxloss.ld_dpo_weights(big_c, big_r, alpha=1.0)
    np.testing.assert_array_equal(ones[0], big_c.astype(np.float32))


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "f_div"),
    [
        ("sigmoid", "reverse_kl"),
        ("exo_pair", "reverse_kl"),
        ("discopop", "reverse_kl"),
        ("ipo", "forward_kl"),
        ("robust", "js_divergence"),
        ("sigmoid_norm", "alpha_divergence"),
        ("aot", "reverse_kl"),
        ("nca_pair", "reverse_kl"),
        ("apo_down", "reverse_kl"),
    ],
)
def test_dpo_gradients(t, f_div):
    c0, r0 = C[:3] + np.float32(0.3), R[:3] - np.float32(0.4)
    kw = _dpo_kwargs(t, beta=0.3, f_divergence=f_div)
    if "chosen_lengths" in kw:
        kw.update(chosen_lengths=NC[:3], rejected_lengths=NR[:3])
    check_grads_x64(lambda c, r: jaxloss.dpo(c, r, c0, r0, **kw).losses, (C[:3], R[:3]))


def test_cpo_orpo_gradients():
    # AlphaPO's clamped exponent and ORPO's log(1 - e^x) to second order
    check_grads_x64(lambda c, r: jaxloss.cpo(c, r, loss_type="simpo", alpha=0.3, beta=2.0).losses, (AVG_C, AVG_R))
    check_grads_x64(lambda c, r: jaxloss.cpo(c, r, label_smoothing=0.2).losses, (AVG_C, AVG_R))
    check_grads_x64(lambda c, r: jaxloss.orpo(c, r).losses, (AVG_C, AVG_R))


def test_kto_and_sequence_gradients():
    des = np.array([True, False, True, False, True, False])
    check_grads_x64(lambda p: jaxloss.kto(p, C0, des, kl=0.5).losses, (C,), order=1)
    lp, m = RNG.normal(size=(3, 5)), RNG.random((3, 5)) < 0.7
    seq = lambda x: jaxloss.sequence_log_probs(x, where=m, weights=np.abs(lp), average=True)  # noqa: E731
    check_grads_x64(seq, (lp,), order=1)


def test_rewards_are_stop_gradient():
    def total(c, r):
        out = jaxloss.dpo(c, r, C0, R0)
        return jnp.sum(out.chosen_rewards) + jnp.sum(out.rejected_rewards)

    np.testing.assert_array_equal(jax.grad(total, argnums=(0, 1))(C, R), (np.zeros(B), np.zeros(B)))
    for fn in (jaxloss.cpo, jaxloss.simpo, jaxloss.orpo):
        g = jax.grad(lambda c, f=fn: jnp.sum(f(c, AVG_R).chosen_rewards))(AVG_C)
        np.testing.assert_array_equal(g, np.zeros(B))
    g = jax.grad(lambda p: jnp.sum(jaxloss.kto(p, C0, np.ones(B, bool), kl=0.0).rewards))(C)
    np.testing.assert_array_equal(g, np.zeros(B))


def test_kto_kl_argument_is_held_constant():
    des = np.array([True, False, True, False, True, False])
    g = jax.grad(lambda k: jnp.sum(jaxloss.kto(C, C0, des, kl=k).losses))(jnp.float32(0.5))
    assert float(g) == 0.0


# --------------------------------------------------------------------------
# extremes: finite gradients for log-probs of any magnitude
# --------------------------------------------------------------------------

EXTREME = np.float32([-1e30, -1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4, 1e30])
XC, XR = (a.ravel() for a in np.meshgrid(EXTREME, EXTREME))
ZERO = np.zeros_like(XC)
XN = np.full_like(XC, 3.0)


@pytest.mark.parametrize(("f_div", "f_alpha"), [("reverse_kl", 0.5), *F_DIVS, ("alpha_divergence", -1.0)])
@pytest.mark.parametrize("t", DPO_TYPES)
def test_dpo_extremes(t, f_div, f_alpha):
    if f_div != "reverse_kl" and t not in F_TYPES:
        with pytest.raises(ValueError, match="f_divergence"):
            jaxloss.dpo(XC, XR, ZERO, ZERO, loss_type=t, f_divergence=f_div, label_smoothing=SMOOTHING.get(t, 0.0))
        return
    kw = _dpo_kwargs(t, f_divergence=f_div, f_alpha=f_alpha)
    if "chosen_lengths" in kw:
        kw.update(chosen_lengths=XN, rejected_lengths=XN)

    def total(c, r):
        return jnp.sum(jaxloss.dpo(c, r, ZERO, ZERO, **kw).losses)

    losses = jaxloss.dpo(XC, XR, ZERO, ZERO, **kw).losses
    grads = jax.grad(total, argnums=(0, 1))(XC, XR)
    assert not np.any(np.isnan(losses)), losses
    assert not np.any(np.isnan(np.asarray(grads))), grads
    if t not in ("ipo", "sppo_hard"):  # a square of 1e30 overflows float32; the others stay finite
        assert_all_finite(losses)
    if t != "ipo" or f_div in ("reverse_kl", "js_divergence"):
        # ipo squares the score: of an exponential score (~e^80 at the clamp) its slope overflows, as the true one does
        assert_all_finite(grads, "gradient")


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.5])
@pytest.mark.parametrize("t", ["sigmoid", "hinge", "ipo", "simpo"])
def test_cpo_extremes(t, alpha):
    c, r = -np.abs(XC), -np.abs(XR)  # log-probs are <= 0
    out = jaxloss.cpo(c, r, loss_type=t, alpha=alpha, label_smoothing=0.1)
    assert not np.any(np.isnan(out.losses))
    g = jax.grad(lambda a, b: jnp.sum(jaxloss.cpo(a, b, loss_type=t, alpha=alpha).losses), argnums=(0, 1))(c, r)
    assert not np.any(np.isnan(np.asarray(g)))
    if t != "ipo" or alpha <= 0.0:  # ipo squares AlphaPO's reward, ~e^80 at the clamp: its slope overflows
        assert_all_finite(g, "gradient")


def test_orpo_and_kto_extremes():
    c, r = -np.abs(XC), -np.abs(XR)
    out = jaxloss.orpo(c, r)
    assert_all_finite(out.losses)
    assert_all_finite(jax.grad(lambda a, b: jnp.sum(jaxloss.orpo(a, b).losses), argnums=(0, 1))(c, r), "gradient")
    des = np.arange(XC.size) % 2 == 0
    for loss_type in ("kto", "apo_zero_unpaired"):
        g = jax.grad(lambda p, lt=loss_type: jnp.sum(jaxloss.kto(p, XR, des, kl=0.3, loss_type=lt).losses))(XC)
        assert_all_finite(g, "gradient")


def test_clamped_exponent_keeps_its_slope():
    """Past the clamp (exponent 80) the gradient is the formula's at the clamp: finite, nonzero, the right sign."""
    c = jnp.float32([-200.0])  # rho_c = -200: e^(-rho) would be e^200
    g = jax.grad(
        lambda x: jnp.sum(
            jaxloss.dpo(x, jnp.float32([0.0]), jnp.float32([0.0]), jnp.float32([0.0]), f_divergence="forward_kl").losses
        )
    )(c)
    assert np.isfinite(g).all() and g[0] < 0
    g = jax.grad(lambda x: jnp.sum(jaxloss.cpo(x, jnp.float32([-1.0]), alpha=1.0).losses))(c)
    assert np.isfinite(g).all() and g[0] < 0


# --------------------------------------------------------------------------
# dtypes and transformations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16_bit_inputs_compute_in_float32(dtype):
    lo = [jnp.asarray(a, dtype) for a in (C, R, C0, R0)]
    out = jaxloss.dpo(*lo, loss_type="ipo", chosen_lengths=NC, rejected_lengths=NR)
    assert all(o.dtype == jnp.float32 for o in out)
    want = jaxloss.dpo(
        *(jnp.asarray(a, jnp.float32) for a in lo), loss_type="ipo", chosen_lengths=NC, rejected_lengths=NR
    )
    np.testing.assert_allclose(out.losses, want.losses, rtol=1e-6)
    a, b = jnp.asarray(AVG_C, dtype), jnp.asarray(AVG_R, dtype)
    for out in (jaxloss.cpo(a, b), jaxloss.simpo(a, b), jaxloss.orpo(a, b), jaxloss.kto(a, b, AVG_C < -1, kl=0.1)):
        assert all(o.dtype == jnp.float32 for o in out)
    assert jaxloss.sequence_log_probs(jnp.ones((2, 3), dtype)).dtype == jnp.float32
    assert jaxloss.kto_kl(a, b).dtype == jnp.float32


def test_float64_stays_float64():
    with jax.enable_x64(True):
        a, b = jnp.float64(AVG_C), jnp.float64(AVG_R)
        for out in (jaxloss.dpo(a, b, b, a), jaxloss.cpo(a, b), jaxloss.orpo(a, b), jaxloss.kto(a, b, a < -1, kl=0.1)):
            assert all(o.dtype == jnp.float64 for o in out)
        assert jaxloss.ld_dpo_weights(np.ones((1, 2), bool), np.ones((1, 2), bool), alpha=0.5)[0].dtype == jnp.float64


def test_jit_and_vmap():
    kw = dict(loss_type=("sigmoid", "ipo", "discopop"), beta=0.3)
    assert_transform_invariant(
        lambda c, r, c0, r0, nc, nr: jaxloss.dpo(c, r, c0, r0, chosen_lengths=nc, rejected_lengths=nr, **kw).losses,
        C,
        R,
        C0,
        R0,
        NC,
        NR,
    )
    assert_transform_invariant(lambda c, r: jaxloss.cpo(c, r, loss_type="simpo", alpha=0.2).losses, AVG_C, AVG_R)
    assert_transform_invariant(lambda c, r: jaxloss.orpo(c, r).losses, AVG_C, AVG_R)
    des = AVG_C < AVG_R
    assert_transform_invariant(lambda p, q, d: jaxloss.kto(p, q, d, kl=0.2).losses, AVG_C, AVG_R, des)
    aot = lambda c, r, c0, r0: jaxloss.dpo(c, r, c0, r0, loss_type="aot").losses  # noqa: E731
    np.testing.assert_allclose(jax.jit(aot)(C, R, C0, R0), aot(C, R, C0, R0), rtol=1e-6)
    lp, m = RNG.normal(size=(4, 5)).astype(np.float32), RNG.random((4, 5)) < 0.5
    seq = lambda x, w: jaxloss.sequence_log_probs(x, where=w, average=True)  # noqa: E731
    np.testing.assert_allclose(jax.vmap(seq)(lp, m), seq(lp, m), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(seq)(lp, m), seq(lp, m), rtol=1e-6)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_dpo_errors():
    with pytest.raises(ValueError, match=r"`loss_type`.*'sft'"):
        jaxloss.dpo(C, R, C0, R0, loss_type="sft")
    with pytest.raises(ValueError, match="`loss_type`"):
        jaxloss.dpo(C, R, C0, R0, loss_type=[])
    with pytest.raises(ValueError, match=r"`f_divergence`.*'bco_pair'"):
        jaxloss.dpo(C, R, C0, R0, loss_type=["sigmoid", "bco_pair"], f_divergence="forward_kl")
    with pytest.raises(ValueError, match=r"`f_divergence` must be one of"):
        jaxloss.dpo(C, R, C0, R0, f_divergence="kl")
    with pytest.raises(ValueError, match=r"`label_smoothing`.*exo_pair"):
        jaxloss.dpo(C, R, C0, R0, loss_type="exo_pair")
    with pytest.raises(ValueError, match=r"`label_smoothing`.*robust"):
        jaxloss.dpo(C, R, C0, R0, loss_type="robust", label_smoothing=0.5)
    for t in ("ipo", "sigmoid_norm"):
        with pytest.raises(ValueError, match=r"`chosen_lengths` and `rejected_lengths`"):
            jaxloss.dpo(C, R, C0, R0, loss_type=["sigmoid", t], chosen_lengths=NC)
    with pytest.raises(ValueError, match=r"`loss_weights`.*same length"):
        jaxloss.dpo(C, R, C0, R0, loss_type=["sigmoid", "hinge"], loss_weights=[1.0])
    with pytest.raises(ValueError, match="`beta`"):
        jaxloss.dpo(C, R, C0, R0, beta=0.0)
    with pytest.raises(ValueError, match="`discopop_tau`"):
        jaxloss.dpo(C, R, C0, R0, loss_type="discopop", discopop_tau=0.0)
    with pytest.raises(ValueError, match="`label_smoothing`"):
        jaxloss.dpo(C, R, C0, R0, label_smoothing=1.5)
    with pytest.raises(ValueError, match="`ref_rejected_logps`"):
        jaxloss.dpo(C, R, C0, R0[:, None])
    with pytest.raises(TypeError, match="`chosen_logps`"):
        jaxloss.dpo(np.arange(3), R[:3], C0[:3], R0[:3])
    with pytest.raises(ValueError, match="`beta`"):
        jaxloss.dpo(C, R, C0, R0, beta=np.ones(2))
    with pytest.raises(TypeError, match="`beta`.*static"):
        jax.jit(lambda b: jaxloss.dpo(C, R, C0, R0, beta=b).losses)(0.1)


def test_other_errors():
    with pytest.raises(ValueError, match=r"`loss_type` must be one of \('sigmoid', 'hinge', 'ipo', 'simpo'\)"):
        jaxloss.cpo(AVG_C, AVG_R, loss_type="alphapo")
    with pytest.raises(ValueError, match="`gamma`"):
        jaxloss.simpo(AVG_C, AVG_R, gamma=np.ones(2))
    with pytest.raises(ValueError, match="`rejected_avg_logps`"):
        jaxloss.orpo(AVG_C, AVG_R[:, None])
    with pytest.raises(ValueError, match="`beta`"):
        jaxloss.orpo(AVG_C, AVG_R, beta=-1.0)
    with pytest.raises(ValueError, match="`kl` is required"):
        jaxloss.kto(C, C0, C > C0, kl=None)
    with pytest.raises(TypeError, match="`desirable` must be a boolean"):
        jaxloss.kto(C, C0, (C > C0).astype(np.int32), kl=0.0)
    with pytest.raises(ValueError, match="`loss_type` must be one of"):
        jaxloss.kto(C, C0, C > C0, kl=0.0, loss_type="bco")
    with pytest.raises(ValueError, match="`undesirable_weight`"):
        jaxloss.kto(C, C0, C > C0, kl=0.0, undesirable_weight=-1.0)
    with pytest.raises(ValueError, match="`kl`"):
        jaxloss.kto(C, C0, C > C0, kl=np.zeros((2, B)))
    with pytest.raises(ValueError, match="`alpha`"):
        jaxloss.ld_dpo_weights(np.ones((1, 3), bool), np.ones((1, 3), bool), alpha=1.5)
    with pytest.raises(TypeError, match="`rejected_mask` must be a boolean"):
        jaxloss.ld_dpo_weights(np.ones((1, 3), bool), np.ones((1, 3)), alpha=0.5)
    with pytest.raises(ValueError, match="same leading shape"):
        jaxloss.ld_dpo_weights(np.ones((2, 3), bool), np.ones((1, 3), bool), alpha=0.5)
    with pytest.raises(TypeError, match="`where` must be a boolean"):
        jaxloss.sequence_log_probs(np.ones((2, 3), np.float32), where=np.ones((2, 3)))
    with pytest.raises(ValueError, match="`weights`"):
        jaxloss.sequence_log_probs(np.ones((2, 3), np.float32), weights=np.ones((2, 4)))
    with pytest.raises(ValueError, match="`token_log_probs`"):
        jaxloss.sequence_log_probs(np.float32(1.0))
    with pytest.raises(TypeError, match="`average`"):
        jaxloss.sequence_log_probs(np.ones((2, 3), np.float32), average=1)
    with pytest.raises(ValueError, match="`where`"):
        jaxloss.kto_kl(C, C0, where=np.ones(B + 1, bool))
