"""jaxloss's policy-gradient losses against TRL 1.16's ``GRPOTrainer`` itself (CPU, float32).

Values and gradients with respect to the log-probs (torch autograd against
``jax.grad``) for every loss type x importance-sampling level x KL setting
(none; ``beta`` with bias correction on and off) x ``delta`` x old log-probs
given or absent x ``[B]`` and ``[B, T]`` advantages, the metrics TRL logs
against jaxloss's per-token outputs, and ``group_advantages`` against TRL's
own advantage code. Masked positions hold finite garbage (TRL multiplies by
the mask, so a nan there would poison TRL, not jaxloss).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.reference import _trl_grpo as trl_ref

B, T = 5, 6
TOL = {"rtol": 1e-5, "atol": 1e-5}
CLIPPED = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")
LOSS_TYPES = (*CLIPPED, "cispo", "sapo")
KL = {"no_kl": (0.0, True), "kl_bias": (0.04, True), "kl_plain": (0.04, False)}
MAX_COMPLETION_LENGTH = 8


def _data():
    rng = np.random.default_rng(14)
    mask = np.ones((B, T), bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    mask[3, :] = False  # an empty completion
    lp = -rng.uniform(0.05, 3.0, (B, T))
    # Token ratios on both sides of every clip bound; per-sequence offsets so
    # that sequence-level ratios cross them too (e^0.45, e^-0.4, ...).
    offset = np.array([-0.45, 0.4, -0.3, 0.0, 0.1])[:, None]
    old = lp + offset + rng.normal(0.0, 0.35, (B, T))
    ref = lp + rng.normal(0.0, 0.6, (B, T))
    adv1 = rng.normal(0.0, 1.0, B)
    adv2 = rng.normal(0.0, 1.0, (B, T))
    adv1[0], adv1[1] = 1.3, -0.7  # both signs for sure
    for a in (lp, old, ref, adv2):
        a[~mask] = 3.0 + rng.uniform(0.0, 1.0, a[~mask].shape)  # finite garbage
    cast = lambda a: a.astype(np.float32)  # noqa: E731
    return mask, cast(lp), cast(old), cast(ref), cast(adv1), cast(adv2)


MASK, LP, OLD, REF, ADV1, ADV2 = _data()


def _options(loss_type, level, kl, delta):
    beta, bias = KL[kl]
    options = dict(
        loss_type=loss_type,
        importance_sampling_level=level,
        beta=beta,
        use_bias_correction_kl=bias,
        delta=delta,
        epsilon=0.2,
        # DAPO's clip-higher; for CISPO the ratio cap (just above 1, so that some tokens are capped).
        epsilon_high=1.1 if loss_type == "cispo" else 0.28,
        max_completion_length=MAX_COMPLETION_LENGTH,
    )
    if loss_type == "sapo":
        options.update(sapo_temperature_pos=0.9, sapo_temperature_neg=1.3)
    return options


def _configs():
    for loss_type, level, kl in itertools.product(LOSS_TYPES, ("token", "sequence"), KL):
        for delta in (None, 1.3) if loss_type in CLIPPED else (None,):
            for old, adv in itertools.product(("old", "on_policy"), ("adv_B", "adv_BT")):
                yield loss_type, level, kl, delta, old, adv


def _ours(options, old, adv, num_items=None, *, jit=False):
    """grpo's value and gradient, and the per-token outputs.

    Eagerly by default: the matrix's ~300 configs would each compile a
    program, while eager dispatch reuses the compiled primitives (the jit
    path is checked on a sample below and against eager in the core tier).
    """
    opts = {k: v for k, v in options.items() if k != "max_completion_length"}

    def loss(lp):
        return jaxloss.grpo(
            lp,
            old,
            adv,
            where=MASK,
            ref_log_probs=REF,
            num_items=num_items,
            max_completion_length=options["max_completion_length"],
            **opts,
        )

    value_and_grad = jax.value_and_grad(loss)
    if jit:
        value_and_grad = jax.jit(value_and_grad)
    value, grad = value_and_grad(jnp.asarray(LP))
    out = jaxloss.policy_gradient_token_loss(LP, old, adv, where=MASK, ref_log_probs=REF, **opts)
    return float(value), np.asarray(grad), jax.tree_util.tree_map(np.asarray, out)


def _trl(options, old, adv, **extra):
    options = dict(options)
    return trl_ref.trl_grpo(
        LP,
        adv,
        MASK.astype(np.int64),
        old_per_token_logps=old,
        ref_per_token_logps=REF,
        loss_type=options.pop("loss_type"),
        **options,
        **extra,
    )


def _logged_mean(x, per_sequence):
    """TRL's global_masked_mean of an indicator: per sequence when TRL's is [B, 1]."""
    if per_sequence:
        return float(np.mean(np.max(x, axis=-1)))
    return float(np.sum(x) / max(MASK.sum(), 1))


@pytest.mark.parametrize(
    "loss_type,level,kl,delta,old,adv", list(_configs()), ids=lambda v: str(v) if v is not None else "no_delta"
)
def test_grpo_equals_trl(loss_type, level, kl, delta, old, adv):
    options = _options(loss_type, level, kl, delta)
    old_lp = OLD if old == "old" else None
    advantages = ADV1 if adv == "adv_B" else ADV2
    loss, grad, out = _ours(options, old_lp, advantages)
    trl_loss, trl_grad, logged = _trl(options, old_lp, advantages)
    np.testing.assert_allclose(loss, trl_loss, **TOL)
    np.testing.assert_allclose(grad, trl_grad, **TOL)
    assert np.all(grad[~MASK] == 0.0)

    # The metrics TRL logs, from the per-token outputs.
    beta = options["beta"]
    if beta:
        np.testing.assert_allclose(_logged_mean(out.kl, False), logged["kl"], **TOL)
    per_sequence = level == "sequence" and adv == "adv_B"
    if loss_type in CLIPPED:
        np.testing.assert_allclose(_logged_mean(out.low_clipped, per_sequence), logged["clip_ratio/low_mean"], **TOL)
        np.testing.assert_allclose(_logged_mean(out.high_clipped, per_sequence), logged["clip_ratio/high_mean"], **TOL)
        region = out.low_clipped + out.high_clipped
        np.testing.assert_allclose(_logged_mean(region, per_sequence), logged["clip_ratio/region_mean"], **TOL)
    elif loss_type == "cispo":
        np.testing.assert_allclose(_logged_mean(out.high_clipped, per_sequence), logged["cispo_clip_ratio"], **TOL)
        assert np.all(out.low_clipped == 0.0)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_grpo_under_jit_equals_trl(loss_type):
    options = _options(loss_type, "sequence", "kl_bias", 1.3 if loss_type in CLIPPED else None)
    loss, grad, _ = _ours(options, OLD, ADV2, jit=True)
    trl_loss, trl_grad, _ = _trl(options, OLD, ADV2)
    np.testing.assert_allclose(loss, trl_loss, **TOL)
    np.testing.assert_allclose(grad, trl_grad, **TOL)


def test_configs_reach_every_branch():
    # The data exercise what the matrix claims: ratios below 1 - eps, above
    # 1 + eps_hi and above delta on active tokens, both advantage signs.
    r = np.exp(LP - OLD)[MASK]
    assert (r < 0.8).any() and (r > 1.28).any() and (r > 1.3).any() and (r > 1.1).any()
    assert (ADV1 > 0).any() and (ADV1 < 0).any() and (ADV2[MASK] > 0).any() and (ADV2[MASK] < 0).any()
    for level in ("token", "sequence"):
        for adv in (ADV1, ADV2):
            out = _ours(_options("dapo", level, "no_kl", None), OLD, adv)[2]
            assert out.low_clipped.sum() > 0 and out.high_clipped.sum() > 0
        seq = out.ratio[MASK]
        assert (seq > 1.3).any() and (seq < 0.8).any()


@pytest.mark.parametrize("loss_type", ["dapo", "cispo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_num_items_equals_trl(loss_type, level):
    # TRL divides by num_items_in_batch / num_processes: a generation batch
    # larger than this one, on two processes.
    options = _options(loss_type, level, "kl_bias", None)
    nib = 2 * int(MASK.sum()) + 6
    loss, grad, _ = _ours(options, OLD, ADV1, num_items=nib / 2)
    trl_loss, trl_grad, _ = _trl(options, OLD, ADV1, num_items_in_batch=nib, num_processes=2)
    np.testing.assert_allclose(loss, trl_loss, **TOL)
    np.testing.assert_allclose(grad, trl_grad, **TOL)


def test_defaults_equal_trl():
    # jaxloss's defaults are GRPOConfig's (dapo, eps 0.2, beta 0, token level, 512).
    loss, grad = jax.value_and_grad(lambda lp: jaxloss.grpo(lp, OLD, ADV1, where=MASK))(jnp.asarray(LP))
    trl_loss, trl_grad, _ = trl_ref.trl_grpo(LP, ADV1, MASK.astype(np.int64), old_per_token_logps=OLD)
    np.testing.assert_allclose(float(loss), trl_loss, **TOL)
    np.testing.assert_allclose(np.asarray(grad), trl_grad, **TOL)


def test_ppo_clip_equals_trl_per_token_loss():
    # TRL's per-token clipped surrogate: with B = 1 and one active token at a
    # time, luspo's aggregation is the per-token loss itself.
    ours = np.asarray(jaxloss.ppo_clip(LP, OLD, ADV2, epsilon=0.2, epsilon_high=0.28, where=MASK))
    grads = np.asarray(
        jax.grad(lambda lp: jnp.sum(jaxloss.ppo_clip(lp, OLD, ADV2, epsilon_high=0.28, where=MASK)))(jnp.asarray(LP))
    )
    for b, t in zip(*np.nonzero(MASK), strict=True):
        one = np.zeros((1, T), np.int64)
        one[0, t] = 1
        loss, g, _ = trl_ref.trl_grpo(
            LP[b : b + 1],
            ADV2[b : b + 1],
            one,
            old_per_token_logps=OLD[b : b + 1],
            loss_type="luspo",
            epsilon=0.2,
            epsilon_high=0.28,
        )
        np.testing.assert_allclose(ours[b, t], loss, **TOL)
        np.testing.assert_allclose(grads[b, t], g[0, t], **TOL)
    assert np.all(ours[~MASK] == 0.0)


def test_k3_kl_equals_trl_per_token_kl():
    # TRL logs kl = global masked mean of per_token_kl; with one active token it is that token's k3.
    ours = np.asarray(jaxloss.k3_kl(LP, REF))
    for b, t in list(zip(*np.nonzero(MASK), strict=True))[:6]:
        one = np.zeros((1, T), np.int64)
        one[0, t] = 1
        _, _, logged = trl_ref.trl_grpo(
            LP[b : b + 1],
            ADV1[b : b + 1],
            one,
            ref_per_token_logps=REF[b : b + 1],
            beta=0.04,
            use_bias_correction_kl=False,
        )
        np.testing.assert_allclose(ours[b, t], logged["kl"], **TOL)


# --------------------------------------------------------------------------
# advantages
# --------------------------------------------------------------------------


def _rewards():
    rng = np.random.default_rng(3)
    single = rng.normal(0.0, 1.0, 12).astype(np.float32)
    single[4:8] = 0.5  # a group of equal rewards
    multi = rng.normal(0.0, 1.0, (12, 3)).astype(np.float32)
    multi[0, 1] = np.nan  # a reward function that does not apply
    multi[5, :] = np.nan  # an unscorable completion
    multi[9:12, 2] = np.nan  # a function that applies to no completion of the group
    multi[6:8, 0] = np.nan
    return single, multi


SINGLE, MULTI = _rewards()


@pytest.mark.parametrize("scale", ["group", "batch", "none", True, False])
@pytest.mark.parametrize("aggregation", ["sum_then_normalize", "normalize_then_sum"])
@pytest.mark.parametrize("group_size", [4, 1, 12])
def test_group_advantages_equal_trl(scale, aggregation, group_size):
    weights = np.array([1.0, 0.5, 2.0], np.float32)
    cases = [(SINGLE, None, SINGLE[:, None]), (MULTI, weights, MULTI), (MULTI, None, MULTI)]
    for rewards, w, per_func in cases:
        ours = jaxloss.group_advantages(
            rewards, group_size=group_size, scale=scale, reward_weights=w, aggregation=aggregation
        )
        theirs = trl_ref.trl_advantages(
            per_func,
            num_generations=group_size,
            scale_rewards=scale,
            reward_weights=w,
            multi_objective_aggregation=aggregation,
        )
        assert not np.isnan(theirs).any()
        np.testing.assert_allclose(np.asarray(ours), theirs, **TOL)


def test_group_advantages_single_completion_batch_equals_trl():
    for aggregation in ("sum_then_normalize", "normalize_then_sum"):
        for scale in ("group", "batch"):
            ours = jaxloss.group_advantages(
                np.array([2.0], np.float32), group_size=1, scale=scale, aggregation=aggregation
            )
            theirs = trl_ref.trl_advantages(
                np.array([[2.0]]), num_generations=1, scale_rewards=scale, multi_objective_aggregation=aggregation
            )
            np.testing.assert_allclose(np.asarray(ours), theirs, **TOL)
