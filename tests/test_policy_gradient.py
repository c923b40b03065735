"""Policy-gradient losses (GRPO family, PPO-clip, k3 KL, group advantages): the core tier.

Values against a plain NumPy float64 transcription of the formulas, gradients
(finite differences in float64 for the custom derivatives), masks with nan
behind them, extreme log-probs, 16-bit inputs, jit/vmap, and the errors.
TRL 1.16 itself is called in tests/reference/test_trl_grpo.py.
"""

from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.helpers import check_grads_x64

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo", "cispo", "sapo")
CLIPPED = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")
B, T = 4, 5


def _data(seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    mask[3, :] = False
    lp = -rng.uniform(0.05, 3.0, (B, T))
    old = lp + rng.normal(0.0, 0.35, (B, T))
    ref = lp + rng.normal(0.0, 0.6, (B, T))
    adv1 = rng.normal(0.0, 1.0, B)
    adv1[:2] = [1.1, -0.9]
    adv2 = rng.normal(0.0, 1.0, (B, T))
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return mask, f32(lp), f32(old), f32(ref), f32(adv1), f32(adv2)


MASK, LP, OLD, REF, ADV1, ADV2 = _data()


# --------------------------------------------------------------------------
# NumPy float64 transcription of the formulas
# --------------------------------------------------------------------------


def np_token_loss(
    lp,
    old,
    adv,
    mask,
    *,
    loss_type="dapo",
    epsilon=0.2,
    epsilon_high=None,
    delta=None,
    level="token",
    tau_pos=1.0,
    tau_neg=1.05,
    ref=None,
    beta=0.0,
    bias=True,
):
    lp, adv = np.asarray(lp, np.float64), np.asarray(adv, np.float64)
    m = np.broadcast_to(mask, lp.shape)
    lp = np.where(m, lp, 0.0)
    old = lp if old is None else np.where(m, np.asarray(old, np.float64), 0.0)
    eps_hi = epsilon if epsilon_high is None else epsilon_high
    a = adv[..., None] if adv.ndim == lp.ndim - 1 else adv
    w = lp - old
    if level == "sequence":
        w = (w * m).sum(-1, keepdims=True) / np.maximum(m.sum(-1, keepdims=True), 1)
    r = np.exp(w)
    low = high = np.zeros(lp.shape)
    if loss_type in CLIPPED:
        r2 = np.clip(r, 1 - epsilon, 1 + eps_hi)
        r1 = r if delta is None else np.minimum(r, delta)
        loss = -np.minimum(r1 * a, r2 * a)
        low, high = (r1 < 1 - epsilon) & (a < 0), (r1 > 1 + eps_hi) & (a > 0)
    elif loss_type == "cispo":
        loss = -np.minimum(r, eps_hi) * a * lp
        high = (r > eps_hi) & (a > 0)
    else:
        tau = np.where(a > 0, tau_pos, tau_neg)
        loss = -4.0 / tau / (1.0 + np.exp(-tau * (r - 1.0))) * a
    kl = np.zeros(lp.shape)
    if ref is not None:
        d = np.where(m, np.asarray(ref, np.float64), 0.0) - lp
        kl = np.exp(d) - d - 1.0
        if bias:
            kl = kl * r
        loss = loss + beta * kl
    z = lambda x: np.where(m, np.broadcast_to(x, lp.shape), 0.0)  # noqa: E731
    return z(loss), z(r), z(low), z(high), z(kl)


def np_aggregate(x, mask, loss_type, max_completion_length=512, num_items=None):
    x = np.where(mask, np.asarray(x, np.float64), 0.0)
    n = mask.sum(-1)
    if loss_type in ("grpo", "sapo"):
        return np.mean(x.sum(-1) / np.maximum(n, 1))
    if loss_type == "bnpo":
        return x.sum() / max(n.sum(), 1)
    if loss_type == "dr_grpo":
        return x.sum() / (x.shape[0] * max_completion_length)
    if loss_type == "luspo":
        return np.mean(x.sum(-1))
    return x.sum() / (max(n.sum(), 1) if num_items is None else num_items)


def np_nanstd(x, axis=None):
    x = np.asarray(x, np.float64)
    count = np.sum(~np.isnan(x), axis=axis)
    with np.errstate(all="ignore"):
        var = np.nanmean((x - np.nanmean(x, axis=axis, keepdims=True)) ** 2, axis=axis)
        return np.sqrt(np.where(count > 1, var * count / np.maximum(count - 1, 1), np.nan))


def np_group_advantages(rewards, g, scale="group", eps=1e-4, weights=None, aggregation="sum_then_normalize"):
    r = np.asarray(rewards, np.float64)
    r = r[:, None] if r.ndim == 1 else r
    b, k = r.shape
    w = np.ones(k) if weights is None else np.asarray(weights, np.float64)
    dead = np.isnan(r).all(1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if aggregation == "sum_then_normalize":
            tot = np.where(dead, np.nan, np.nansum(r * w, 1))
            mean = np.repeat(np.nanmean(tot.reshape(-1, g), 1), g)
            if scale == "batch":
                std = np_nanstd(tot) if b > 1 else 0.0
            else:
                std = np.repeat(np_nanstd(tot.reshape(-1, g), 1), g) if g > 1 else np.zeros(b)
            adv = tot - mean
            if scale != "none":
                adv = adv / (std + eps)
        else:
            gr = r.reshape(-1, g, k)
            mk = np.nanmean(gr, 1, keepdims=True)
            sk = np_nanstd(gr, 1)[:, None] if g > 1 else np.zeros_like(mk)
            tot = np.nansum(((gr - mk) / (sk + eps)).reshape(b, k) * w, 1)
            tot = np.where(dead, np.nan, tot)
            std = np_nanstd(tot) if b > 1 else 0.0
            adv = (tot - np.nanmean(tot)) / (std + eps)
    return np.nan_to_num(adv, nan=0.0)


# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------

KLS = [(None, 0.0, True), (REF, 0.04, True), (REF, 0.3, False), (REF, 0.0, True)]


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_token_loss_and_grpo_values(loss_type, level):
    eps_hi = 1.1 if loss_type == "cispo" else 0.28
    for (ref, beta, bias), delta, old, adv in itertools.product(KLS, (None, 1.3), (OLD, None), (ADV1, ADV2)):
        opts = dict(
            loss_type=loss_type,
            epsilon=0.2,
            epsilon_high=eps_hi,
            delta=delta,
            importance_sampling_level=level,
            ref_log_probs=ref,
            beta=beta,
            use_bias_correction_kl=bias,
            sapo_temperature_pos=0.8,
            sapo_temperature_neg=1.2,
        )
        out = jaxloss.policy_gradient_token_loss(LP, old, adv, where=MASK, **opts)
        want = np_token_loss(
            LP,
            old,
            adv,
            MASK,
            loss_type=loss_type,
            epsilon=0.2,
            epsilon_high=eps_hi,
            delta=delta,
            level=level,
            tau_pos=0.8,
            tau_neg=1.2,
            ref=ref,
            beta=beta,
            bias=bias,
        )
        assert isinstance(out, jaxloss.PolicyGradientOutput)
        for got, exp, name in zip(out, want, out._fields, strict=True):
            assert got.shape == (B, T) and got.dtype == jnp.float32, name
            np.testing.assert_allclose(np.asarray(got), exp, rtol=2e-6, atol=1e-6, err_msg=name)
        scalar = jaxloss.grpo(LP, old, adv, where=MASK, max_completion_length=7, **opts)
        np.testing.assert_allclose(float(scalar), np_aggregate(want[0], MASK, loss_type, 7), rtol=2e-6, atol=1e-7)


def test_sequence_ratio_is_one_value_per_sequence():
    out = jaxloss.policy_gradient_token_loss(LP, OLD, ADV1, where=MASK, importance_sampling_level="sequence")
    r = np.asarray(out.ratio)
    for b in range(B):
        active = r[b][MASK[b]]
        if active.size:
            np.testing.assert_allclose(active, active[0], rtol=0)
            want = np.exp(np.mean((LP[b] - OLD[b])[MASK[b]].astype(np.float64)))
            np.testing.assert_allclose(active[0], want, rtol=1e-6)
    assert np.all(r[~MASK] == 0.0)


def test_delta_caps_the_unclipped_term_and_the_logged_ratio():
    lp = np.log(np.array([[2.0, 3.0, 0.5]], np.float32))
    old = np.zeros((1, 3), np.float32)
    for a, want in [(1.0, [-1.2, -1.2, -0.5]), (-1.0, [1.5, 1.5, 0.8])]:
        adv = np.array([a], np.float32)
        out = jaxloss.policy_gradient_token_loss(lp, old, adv, delta=1.5, loss_type="grpo")
        np.testing.assert_allclose(np.asarray(out.per_token_loss), [want], rtol=1e-6)
        np.testing.assert_allclose(np.asarray(out.ratio), [[2.0, 3.0, 0.5]], rtol=1e-6)
    # TRL counts "high clipped" with the capped ratio: capped at 1.1 < 1.2 nothing counts.
    out = jaxloss.policy_gradient_token_loss(lp, old, np.array([1.0], np.float32), delta=1.1)
    assert np.all(np.asarray(out.high_clipped) == 0.0)
    out = jaxloss.policy_gradient_token_loss(lp, old, np.array([1.0], np.float32))
    np.testing.assert_array_equal(np.asarray(out.high_clipped), [[1.0, 1.0, 0.0]])


def test_cispo_and_sapo_formulas():
    lp = np.array([[-1.0, -2.0]], np.float32)
    old = np.array([[-1.5, -1.0]], np.float32)  # r = e^0.5, e^-1
    out = jaxloss.policy_gradient_token_loss(lp, old, np.array([2.0], np.float32), loss_type="cispo", epsilon_high=1.5)
    np.testing.assert_allclose(np.asarray(out.per_token_loss), [[-1.5 * 2 * -1.0, -np.exp(-1.0) * 2 * -2.0]], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out.high_clipped), [[1.0, 0.0]])
    # CISPO's gradient is the capped ratio times -A (the ratio is a constant).
    g = jax.grad(
        lambda x: jnp.sum(
            jaxloss.policy_gradient_token_loss(
                x, old, jnp.array([2.0]), loss_type="cispo", epsilon_high=1.5
            ).per_token_loss
        )
    )(jnp.asarray(lp))
    np.testing.assert_allclose(np.asarray(g), [[-3.0, -2.0 * np.exp(-1.0)]], rtol=1e-6)
    # SAPO at r == 1: -(4 / tau) A / 2, and its slope in l is -A whatever the temperature.
    out = jaxloss.policy_gradient_token_loss(
        lp, None, np.array([-1.0], np.float32), loss_type="sapo", sapo_temperature_neg=2.0
    )
    np.testing.assert_allclose(np.asarray(out.per_token_loss), [[1.0, 1.0]], rtol=1e-6)
    g = jax.grad(
        lambda x: jnp.sum(
            jaxloss.policy_gradient_token_loss(
                x, None, jnp.array([-1.0]), loss_type="sapo", sapo_temperature_neg=2.0
            ).per_token_loss
        )
    )(jnp.asarray(lp))
    np.testing.assert_allclose(np.asarray(g), [[1.0, 1.0]], rtol=1e-6)


def test_on_policy_gradient_is_the_policy_gradient():
    # old_log_probs=None: r == 1 and d r / d l = 1, so grpo's gradient is -A m / (n B).
    for loss_type in CLIPPED:
        g = jax.grad(lambda x, lt=loss_type: jaxloss.grpo(x, None, ADV1, where=MASK, loss_type=lt))(jnp.asarray(LP))
        n = MASK.sum(-1, keepdims=True)
        scale = {
            "grpo": 1.0 / (np.maximum(n, 1) * B),
            "bnpo": 1.0 / MASK.sum(),
            "dapo": 1.0 / MASK.sum(),
            "dr_grpo": 1.0 / (B * 512),
            "luspo": 1.0 / B,
        }[loss_type]
        np.testing.assert_allclose(
            np.asarray(g), np.where(MASK, -ADV1[:, None] * scale, 0.0), rtol=1e-6, err_msg=loss_type
        )


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_aggregate_values(loss_type):
    x = np.random.default_rng(1).normal(size=(B, T)).astype(np.float32)
    got = jaxloss.aggregate_token_losses(x, where=MASK, loss_type=loss_type, max_completion_length=9)
    np.testing.assert_allclose(float(got), np_aggregate(x, MASK, loss_type, 9), rtol=2e-6)
    full = jaxloss.aggregate_token_losses(x, where=None, loss_type=loss_type, max_completion_length=9)
    np.testing.assert_allclose(float(full), np_aggregate(x, np.ones((B, T), bool), loss_type, 9), rtol=2e-6)


def test_aggregate_num_items():
    x = np.random.default_rng(2).normal(size=(B, T)).astype(np.float32)
    total = float(np.sum(np.where(MASK, x, 0.0), dtype=np.float64))
    for lt in ("dapo", "cispo"):
        got = jaxloss.aggregate_token_losses(x, where=MASK, loss_type=lt, num_items=40.0)
        np.testing.assert_allclose(float(got), total / 40.0, rtol=1e-6)
        # num_items is data: a traced count under jit.
        jitted = jax.jit(lambda x, n, lt=lt: jaxloss.aggregate_token_losses(x, where=MASK, loss_type=lt, num_items=n))
        np.testing.assert_allclose(float(jitted(x, jnp.float32(40.0))), total / 40.0, rtol=1e-6)
        assert float(jitted(x, jnp.float32(0.0))) == 0.0
    # The other loss types ignore it.
    a = jaxloss.aggregate_token_losses(x, where=MASK, loss_type="bnpo", num_items=40.0)
    np.testing.assert_allclose(float(a), total / MASK.sum(), rtol=1e-6)
    # An empty batch gives 0, not nan.
    for lt in LOSS_TYPES:
        assert float(jaxloss.aggregate_token_losses(x, where=np.zeros((B, T), bool), loss_type=lt)) == 0.0


def test_ppo_clip_values():
    for old, adv, eps_hi in itertools.product((OLD, None), (ADV1, ADV2), (None, 0.28)):
        got = jaxloss.ppo_clip(LP, old, adv, epsilon=0.2, epsilon_high=eps_hi, where=MASK)
        want = np_token_loss(LP, old, adv, MASK, loss_type="dapo", epsilon=0.2, epsilon_high=eps_hi)[0]
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-6, atol=1e-7)
        same = jaxloss.policy_gradient_token_loss(LP, old, adv, where=MASK, epsilon_high=eps_hi).per_token_loss
        np.testing.assert_array_equal(np.asarray(got), np.asarray(same))
    # Elementwise on any shape, without a mask.
    flat = jaxloss.ppo_clip(LP.ravel(), OLD.ravel(), ADV2.ravel())
    want = np_token_loss(LP.ravel(), OLD.ravel(), ADV2.ravel(), np.ones(B * T, bool), loss_type="dapo")[0]
    np.testing.assert_allclose(np.asarray(flat), want, rtol=2e-6, atol=1e-7)


def test_k3_kl_values_and_precision():
    d = np.array([-1e30, -1e4, -30.0, -1.0, -1e-4, 0.0, 1e-4, 1.0, 30.0, 88.0], np.float32)
    lp = np.zeros_like(d)
    got = np.asarray(jaxloss.k3_kl(lp, d))
    d64 = d.astype(np.float64)
    want = np.expm1(d64) - d64
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Small differences keep their digits (exp(d) - d - 1 in float32 gives 0 or 1.2e-7 at d = 1e-4).
    np.testing.assert_allclose(got[4], 5e-9 - 1e-12 / 6, rtol=1e-5)
    assert np.all(got >= 0)
    # Beyond exp's overflow the value saturates near the float maximum, with the right slope sign.
    big = np.asarray(jaxloss.k3_kl(jnp.zeros(3), jnp.array([89.0, 1e4, 1e30])))
    assert np.all(np.isfinite(big)) and np.all(big > 1e38)
    g = jax.grad(lambda x: jnp.sum(jaxloss.k3_kl(x, jnp.array([89.0, 1e4, 1e30]))))(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) < -1e38)
    # Broadcasting a per-sequence reference is fine; widening is not.
    assert jaxloss.k3_kl(jnp.zeros((2, 3)), jnp.zeros(3)).shape == (2, 3)


def test_k3_gradients_fd():
    lp = np.array([-1.0, -2.0, -0.3, -4.0])
    ref = np.array([-1.5, -0.5, -0.3, -1.0])
    check_grads_x64(jaxloss.k3_kl, (lp, ref))


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("loss_type", ["dapo", "sapo"])
def test_bias_corrected_kl_gradients_fd(level, loss_type):
    # The bias-corrected KL has its own derivative rule; the log-probs sit away
    # from every clip bound so that finite differences are valid.
    lp = np.array([[-1.0, -2.0, -0.3], [-0.7, -1.6, -2.2]])
    old = lp + np.array([[0.5, -0.4, 0.02], [0.45, -0.6, 0.05]])
    ref = lp + np.array([[1.0, -0.5, 0.3], [-1.2, 0.7, 0.0]])
    adv = np.array([0.7, -1.3])

    def f(x, old, ref):
        return jaxloss.policy_gradient_token_loss(
            x, old, adv, ref_log_probs=ref, beta=0.3, loss_type=loss_type, importance_sampling_level=level
        ).per_token_loss

    check_grads_x64(jax.jit(lambda x: f(x, old, ref)), (lp,))


def test_bias_corrected_kl_derivative_cancels_exactly():
    # d/dl [k3(ref - l) exp(l - old)] = -(ref - l) r: finite where each chain-rule term overflows.
    lp = jnp.array([[-80.5, -1.0]])
    old = jnp.array([[-100.5, -1.0]])
    ref = jnp.array([[-0.5, -1.0]])
    g = jax.grad(
        lambda x: jnp.sum(jaxloss.policy_gradient_token_loss(x, old, jnp.array([0.0]), ref_log_probs=ref, beta=1.0).kl)
    )(lp)
    np.testing.assert_allclose(np.asarray(g), [[-80.0 * np.exp(20.0), 0.0]], rtol=1e-5)


def test_group_advantages_values():
    rng = np.random.default_rng(5)
    single = rng.normal(size=12).astype(np.float32)
    single[:4] = 2.0
    multi = rng.normal(size=(12, 3)).astype(np.float32)
    multi[0, 1] = multi[3, :] = multi[8:12, 2] = np.nan
    w = np.array([1.0, -0.5, 2.0], np.float32)
    for scale, agg, g in itertools.product(
        ["group", "batch", "none"], ["sum_then_normalize", "normalize_then_sum"], [1, 4, 12]
    ):
        for rewards, weights in [(single, None), (multi, w), (multi, None)]:
            got = jaxloss.group_advantages(rewards, group_size=g, scale=scale, reward_weights=weights, aggregation=agg)
            want = np_group_advantages(rewards, g, scale, 1e-4, weights, agg)
            assert got.shape == (12,) and got.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6, err_msg=f"{scale} {agg} {g}")
    # True/False are TRL's aliases of "group"/"none".
    for alias, name in [(True, "group"), (False, "none")]:
        np.testing.assert_array_equal(
            np.asarray(jaxloss.group_advantages(single, group_size=4, scale=alias)),
            np.asarray(jaxloss.group_advantages(single, group_size=4, scale=name)),
        )


def test_group_advantages_semantics():
    r = jnp.array([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    a = np.asarray(jaxloss.group_advantages(r, group_size=3))
    np.testing.assert_allclose(a, [-1 / 1.0001, 0.0, 1 / 1.0001, 0, 0, 0], rtol=1e-6)  # unbiased std of 1, 2, 3 is 1
    a = np.asarray(jaxloss.group_advantages(r, group_size=3, scale="none"))
    np.testing.assert_allclose(a, [-1.0, 0.0, 1.0, 0, 0, 0], rtol=1e-6)
    # Integer and boolean rewards are fine (float32 out); epsilon is the one added to the std.
    a = jaxloss.group_advantages(jnp.array([1, 0, 0, 0], jnp.int32), group_size=2, epsilon=0.0)
    assert a.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(a), [np.sqrt(0.5), -np.sqrt(0.5), 0, 0], rtol=1e-6)
    # An unscorable completion is left out of its group and gets 0; a lone scored completion gets 0.
    r = jnp.array([[1.0], [jnp.nan], [3.0], [jnp.nan], [jnp.nan], [4.0]])
    a = np.asarray(jaxloss.group_advantages(r, group_size=3))
    np.testing.assert_allclose(
        a,
        [-np.sqrt(2) / 2 / (1 + 1e-4 / np.sqrt(2)), 0.0, np.sqrt(2) / 2 / (1 + 1e-4 / np.sqrt(2)), 0.0, 0.0, 0.0],
        rtol=1e-5,
    )
    # The advantages are constants: no gradient reaches the rewards.
    g = jax.grad(lambda x: jnp.sum(jaxloss.group_advantages(x, group_size=2) ** 2))(jnp.array([1.0, 2.0, 3.0, 3.0]))
    np.testing.assert_array_equal(np.asarray(g), 0.0)


# --------------------------------------------------------------------------
# masks, extremes, dtypes, transformations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_masked_tokens_hold_nan(loss_type, level):
    def run(lp, old, ref, adv2):
        def f(x):
            return jaxloss.grpo(
                x,
                old,
                adv2,
                where=MASK,
                loss_type=loss_type,
                importance_sampling_level=level,
                ref_log_probs=ref,
                beta=0.1,
                delta=1.5,
            )

        out = jaxloss.policy_gradient_token_loss(
            lp, old, adv2, where=MASK, loss_type=loss_type, importance_sampling_level=level, ref_log_probs=ref, beta=0.1
        )
        return (*jax.value_and_grad(f)(jnp.asarray(lp)), out)

    bad = lambda a, v: np.where(MASK, a, v).astype(np.float32)  # noqa: E731
    clean = run(LP, OLD, REF, ADV2)
    for v in (np.nan, np.inf, -np.inf):
        dirty = run(bad(LP, v), bad(OLD, -v), bad(REF, v), bad(ADV2, v))
        np.testing.assert_array_equal(np.asarray(dirty[0]), np.asarray(clean[0]))
        np.testing.assert_array_equal(np.asarray(dirty[1]), np.asarray(clean[1]))
        assert np.all(np.asarray(dirty[1])[~MASK] == 0.0)
        for got, want in zip(dirty[2], clean[2], strict=True):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
            assert np.all(np.asarray(got)[~MASK] == 0.0)
    # aggregate_token_losses and ppo_clip alike.
    x = bad(np.ones((B, T)), np.nan)
    v, g = jax.value_and_grad(lambda x: jaxloss.aggregate_token_losses(x, where=MASK, loss_type=loss_type))(x)
    assert np.isfinite(float(v)) and np.all(np.asarray(g)[~MASK] == 0.0)
    g = jax.grad(lambda x: jnp.sum(jaxloss.ppo_clip(x, bad(OLD, np.nan), bad(ADV2, np.nan), where=MASK)))(
        jnp.asarray(bad(LP, np.nan))
    )
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g)[~MASK] == 0.0)


EXTREME = np.array([-1e30, -1e4, -30.0, -1.0, 0.0], np.float32)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "cispo", "sapo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_extreme_log_probs(loss_type, level):
    # Every triple (l, l_old, l_ref) of extreme log-probs, one token each.
    combos = np.array(list(itertools.product(EXTREME, EXTREME, EXTREME)), np.float32)
    lp, old, ref = (combos[:, i].reshape(-1, 1) for i in range(3))
    for adv_value, (beta, bias) in itertools.product((1.0, -1.0, -2.5), ((0.0, True), (0.04, False), (0.04, True))):
        adv = np.full(len(combos), adv_value, np.float32)

        def f(x, beta=beta, bias=bias, adv=adv):
            return jaxloss.policy_gradient_token_loss(
                x,
                old,
                adv,
                loss_type=loss_type,
                importance_sampling_level=level,
                ref_log_probs=ref,
                beta=beta,
                use_bias_correction_kl=bias,
                delta=2.0 if loss_type == "grpo" else None,
            ).per_token_loss

        value = np.asarray(f(lp))
        grad = np.asarray(jax.grad(lambda x, f=f: jnp.sum(f(x)))(jnp.asarray(lp)))
        assert not np.isnan(value).any() and not np.isnan(grad).any()
        # Gradients are finite throughout (at token level the k3 * r derivative
        # is computed as one term); at sequence level the bias-corrected KL's
        # gradient can overflow where k3 * r itself exceeds the float range.
        allowed = np.zeros(lp.shape, bool)
        if level == "sequence" and beta and bias:
            d64, w64 = ref.astype(np.float64) - lp, lp.astype(np.float64) - old
            with np.errstate(all="ignore"):
                allowed = ~((np.expm1(d64) - d64) * np.exp(w64) <= 3.4e38)
        assert np.all(np.isfinite(grad) | allowed), combos[~(np.isfinite(grad) | allowed)[:, 0]]
        # A value is infinite only where its exact value exceeds the float range (or is inf * 0 in float64).
        with np.errstate(all="ignore"):
            exact = np_token_loss(
                lp,
                old,
                adv,
                np.ones_like(lp, bool),
                loss_type=loss_type,
                level=level,
                ref=ref,
                beta=beta,
                bias=bias,
                delta=2.0 if loss_type == "grpo" else None,
            )[0]
        assert np.all(np.isfinite(value) | ~(np.abs(exact) <= 3.4e38))
    # The ratio never overflows, where TRL's exp does.
    out = jaxloss.policy_gradient_token_loss(
        jnp.zeros((1, 2)), jnp.array([[-1e30, -1e4]]), jnp.array([1.0]), importance_sampling_level=level
    )
    assert np.all(np.isfinite(np.asarray(out.ratio))) and np.all(np.asarray(out.ratio) > 1e38)


def test_sixteen_bit_inputs():
    for dt in (jnp.bfloat16, jnp.float16):
        lp, old, ref = (jnp.asarray(x, dt) for x in (LP, OLD, REF))
        out = jaxloss.policy_gradient_token_loss(
            lp, old, jnp.asarray(ADV1, dt), where=MASK, ref_log_probs=ref, beta=0.04
        )
        want = np_token_loss(
            np.asarray(lp, np.float32),
            np.asarray(old, np.float32),
            np.asarray(ADV1, dt),
            MASK,
            ref=np.asarray(ref, np.float32),
            beta=0.04,
        )
        for got, exp in zip(out, want, strict=True):
            assert got.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(got), exp, rtol=1e-5, atol=1e-6)
        for fn in (
            lambda x, old=old: jaxloss.grpo(x, old, ADV1, where=MASK),
            lambda x, old=old: jnp.sum(jaxloss.ppo_clip(x, old, ADV2)),
            lambda x, ref=ref: jnp.sum(jaxloss.k3_kl(x, ref)),
        ):
            v, g = jax.value_and_grad(fn)(lp)
            assert v.dtype == jnp.float32 and g.dtype == dt
        a = jaxloss.group_advantages(jnp.asarray([1.0, 2.0, 4.0, 0.0], dt), group_size=2)
        assert a.dtype == jnp.float32


def test_float64_stays_float64():
    with jax.enable_x64(True):
        lp, old, ref, adv = (jnp.asarray(x, jnp.float64) for x in (LP, OLD, REF, ADV1))
        out = jaxloss.policy_gradient_token_loss(
            lp, old, adv, where=MASK, ref_log_probs=ref, beta=0.04, importance_sampling_level="sequence"
        )
        assert all(x.dtype == jnp.float64 for x in out)
        want = np_token_loss(LP, OLD, ADV1, MASK, ref=REF, beta=0.04, level="sequence")
        np.testing.assert_allclose(np.asarray(out.per_token_loss), want[0], rtol=1e-12, atol=1e-15)
        assert jaxloss.grpo(lp, old, adv, where=MASK).dtype == jnp.float64
        assert jaxloss.k3_kl(lp, ref).dtype == jnp.float64
        assert jaxloss.group_advantages(adv, group_size=2).dtype == jnp.float64


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_jit_and_vmap(level):
    opts = dict(loss_type="sapo", importance_sampling_level=level, ref_log_probs=REF, beta=0.04)
    eager = jaxloss.policy_gradient_token_loss(LP, OLD, ADV1, where=MASK, **opts)
    jitted = jax.jit(lambda *a: jaxloss.policy_gradient_token_loss(*a[:3], where=a[3], **opts))(LP, OLD, ADV1, MASK)
    for a, b in zip(jitted, eager, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # vmap over sequences: each row alone ([T] log-probs, a scalar advantage) is the same row.
    row = lambda lp, old, adv, m, ref: jaxloss.policy_gradient_token_loss(  # noqa: E731
        lp, old, adv, where=m, loss_type="sapo", importance_sampling_level=level, ref_log_probs=ref, beta=0.04
    )
    mapped = jax.vmap(row)(LP, OLD, ADV1, MASK, REF)
    for a, b in zip(mapped, eager, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # grpo's per-sequence mean (loss type "grpo") under vmap: one scalar per row, their mean is the batch's.
    per_row = jax.vmap(
        lambda lp, old, adv, m: jaxloss.grpo(lp, old, adv, where=m, loss_type="grpo", importance_sampling_level=level)
    )(LP, OLD, ADV1, MASK)
    whole = jaxloss.grpo(LP, OLD, ADV1, where=MASK, loss_type="grpo", importance_sampling_level=level)
    np.testing.assert_allclose(float(jnp.mean(per_row)), float(whole), rtol=1e-6)
    g1 = jax.jit(jax.grad(lambda x: jaxloss.grpo(x, OLD, ADV2, where=MASK, importance_sampling_level=level)))(LP)
    g2 = jax.grad(lambda x: jaxloss.grpo(x, OLD, ADV2, where=MASK, importance_sampling_level=level))(LP)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-6, atol=1e-8)


def test_forward_mode_and_hessian():
    b = 2  # rows 0 (full) and 1 (partly masked)
    f = lambda x: jaxloss.grpo(x, OLD[:b], ADV2[:b], where=MASK[:b], ref_log_probs=REF[:b], beta=0.1)  # noqa: E731
    x = jnp.asarray(LP[:b])
    tangent = jnp.ones_like(x)
    _, jvp = jax.jvp(f, (x,), (tangent,))
    np.testing.assert_allclose(float(jvp), float(jnp.sum(jax.grad(f)(x))), rtol=1e-5)
    h = jax.jit(jax.hessian(lambda v: f(v.reshape(b, T))))(x.ravel())
    assert h.shape == (b * T, b * T) and np.all(np.isfinite(np.asarray(h)))
    assert np.all(np.asarray(h)[~MASK[:b].ravel()] == 0.0)
    assert np.any(np.asarray(h) != 0.0)  # the KL term is curved


def test_only_log_probs_are_differentiated():
    g_old, g_ref, g_adv = jax.grad(
        lambda o, r, a: jaxloss.grpo(LP, o, a, where=MASK, ref_log_probs=r, beta=0.1), argnums=(0, 1, 2)
    )(jnp.asarray(OLD), jnp.asarray(REF), jnp.asarray(ADV1))
    for g in (g_old, g_ref, g_adv):
        np.testing.assert_array_equal(np.asarray(g), 0.0)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_errors():
    pg = jaxloss.policy_gradient_token_loss
    with pytest.raises(ValueError, match="`loss_type`.*'grpo'.*'ppo'"):
        pg(LP, OLD, ADV1, loss_type="ppo")
    with pytest.raises(ValueError, match="vespo.*not provided"):
        jaxloss.grpo(LP, OLD, ADV1, loss_type="vespo")
    with pytest.raises(ValueError, match="`importance_sampling_level`.*'token'.*'seq'"):
        pg(LP, OLD, ADV1, importance_sampling_level="seq")
    with pytest.raises(ValueError, match="`ref_log_probs` is required"):
        pg(LP, OLD, ADV1, beta=0.04)
    with pytest.raises(ValueError, match="`epsilon`"):
        pg(LP, OLD, ADV1, epsilon=-0.1)
    with pytest.raises(ValueError, match="`epsilon_high`"):
        pg(LP, OLD, ADV1, epsilon_high=-1.0)
    with pytest.raises(ValueError, match="`delta`"):
        pg(LP, OLD, ADV1, delta=0.0)
    with pytest.raises(ValueError, match="`sapo_temperature_neg`"):
        pg(LP, OLD, ADV1, sapo_temperature_neg=0.0)
    with pytest.raises(ValueError, match="`beta`"):
        pg(LP, OLD, ADV1, beta=np.array([0.1, 0.2]), ref_log_probs=REF)
    with pytest.raises(TypeError, match="`use_bias_correction_kl` must be a bool"):
        pg(LP, OLD, ADV1, use_bias_correction_kl=1)
    with pytest.raises(TypeError, match="`epsilon` is a static option"):
        jax.jit(lambda e: pg(LP, OLD, ADV1, epsilon=e))(0.2)
    with pytest.raises(ValueError, match="`advantages` of shape \\(3,\\)"):
        pg(LP, OLD, ADV1[:3])
    with pytest.raises(ValueError, match="`old_log_probs` of shape \\(4, 4\\)"):
        pg(LP, OLD[:, :4], ADV1)
    with pytest.raises(ValueError, match="`ref_log_probs`"):
        pg(LP, OLD, ADV1, ref_log_probs=REF[:2, :, None], beta=0.1)
    with pytest.raises(TypeError, match="`where` must be a boolean"):
        pg(LP, OLD, ADV1, where=MASK.astype(np.float32))
    with pytest.raises(TypeError, match="`log_probs` must be a floating-point"):
        pg(np.zeros((2, 3), np.int32), None, np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="`log_probs` must have at least one dimension"):
        pg(np.float32(1.0), None, np.float32(1.0))
    agg = jaxloss.aggregate_token_losses
    with pytest.raises(ValueError, match="`loss_type`"):
        agg(LP, where=MASK, loss_type="mean")
    with pytest.raises(ValueError, match="`max_completion_length` must be >= 1"):
        agg(LP, where=MASK, loss_type="dr_grpo", max_completion_length=0)
    with pytest.raises(TypeError, match="`max_completion_length` must be an int"):
        agg(LP, where=MASK, max_completion_length=8.0)
    with pytest.raises(ValueError, match="`num_items` must be a scalar"):
        agg(LP, where=MASK, num_items=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="`num_items`"):
        agg(LP, where=MASK, num_items=-1.0)
    with pytest.raises(ValueError, match="`where` of shape \\(3,\\)"):
        agg(LP, where=np.ones(3, bool))
    with pytest.raises(ValueError, match="`epsilon_high`"):
        jaxloss.ppo_clip(LP, OLD, ADV2, epsilon_high=-0.2)
    with pytest.raises(ValueError, match="`ref_log_probs` of shape \\(4,\\)"):
        jaxloss.k3_kl(LP, REF[:, 0])
    ga = jaxloss.group_advantages
    with pytest.raises(ValueError, match="`group_size`=3 must divide"):
        ga(jnp.zeros(8), group_size=3)
    with pytest.raises(ValueError, match="`group_size` must be >= 1"):
        ga(jnp.zeros(8), group_size=0)
    with pytest.raises(ValueError, match="`scale`.*'group'.*'std'"):
        ga(jnp.zeros(8), group_size=2, scale="std")
    with pytest.raises(ValueError, match="`aggregation`"):
        ga(jnp.zeros(8), group_size=2, aggregation="sum")
    with pytest.raises(ValueError, match="`reward_weights` must have shape \\(3,\\)"):
        ga(jnp.zeros((8, 3)), group_size=2, reward_weights=jnp.ones(2))
    with pytest.raises(ValueError, match="`rewards` must be \\[B\\] or \\[B, K\\]"):
        ga(jnp.zeros((2, 2, 2)), group_size=2)
    with pytest.raises(ValueError, match="`epsilon`"):
        ga(jnp.zeros(8), group_size=2, epsilon=-1.0)
