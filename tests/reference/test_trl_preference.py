"""The preference losses against TRL 1.16 itself (CPU, float32): values and gradients w.r.t. the log-probs.

DPO and KTO run TRL's ``_compute_loss`` on a trainer stub (see
``_trl_preference.py``); the jaxloss side forms the sequence log-probs with
``sequence_log_probs`` (``ld_dpo_weights`` for ``ld_alpha``) from the same
per-token log-probs and takes ``mean(losses)``. CPO, SimPO, AlphaPO and ORPO
are compared elementwise, ``get_batch_logps`` against ``sequence_log_probs``
on log-softmaxed logits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.reference import _trl_preference as trl

TOL = dict(rtol=1e-5, atol=1e-5)
B, L = 4, 10  # pairs, sequence length (prompt + completion); the log-probs are [., L - 1]
RNG = np.random.default_rng(14)


def _completion_mask(rows: int, rng: np.random.Generator) -> np.ndarray:
    """``[rows, L]`` 0/1: a prompt of 1-3 tokens, a completion of 1..rest, then padding."""
    mask = np.zeros((rows, L), np.int64)
    for i in range(rows):
        start = rng.integers(1, 4)
        n = rng.integers(1, L - start + 1)
        mask[i, start : start + n] = 1
    return mask


MASK = _completion_mask(2 * B, RNG)
TOKEN_LOGPS = (-RNG.uniform(0.05, 2.5, (2 * B, L - 1))).astype(np.float32)
REF_TOKEN_LOGPS = (TOKEN_LOGPS + RNG.normal(0.0, 0.35, TOKEN_LOGPS.shape)).astype(np.float32)


def _jax_dpo(options, ld_alpha=None):
    m = MASK[:, 1:].astype(bool)
    mc, mr = m[:B], m[B:]
    lengths = MASK.sum(1).astype(np.float32)
    if ld_alpha is None:
        w_c = w_r = None
    else:
        w_c, w_r = jaxloss.ld_dpo_weights(mc, mr, alpha=ld_alpha)

    def seq(lp, mask, w):
        return jaxloss.sequence_log_probs(lp, where=mask, weights=w)

    c0, r0 = seq(REF_TOKEN_LOGPS[:B], mc, w_c), seq(REF_TOKEN_LOGPS[B:], mr, w_r)

    def loss(lc, lr):
        out = jaxloss.dpo(
            seq(lc, mc, w_c),
            seq(lr, mr, w_r),
            c0,
            r0,
            chosen_lengths=lengths[:B],
            rejected_lengths=lengths[B:],
            **options,
        )
        return jnp.mean(out.losses), out

    (value, out), (gc, gr) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        jnp.asarray(TOKEN_LOGPS[:B]), jnp.asarray(TOKEN_LOGPS[B:])
    )
    return float(value), np.concatenate([gc, gr]), out


def _check_dpo(loss_type, ld_alpha=None, **options):
    types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    want, want_grad, metrics = trl.trl_dpo(
        TOKEN_LOGPS, REF_TOKEN_LOGPS, MASK, loss_type=types, ld_alpha=ld_alpha, **options
    )
    got, grad, out = _jax_dpo(dict(loss_type=loss_type, **options), ld_alpha)
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, **TOL)
    assert np.abs(want_grad).max() > 1e-4  # the comparison has something to compare
    np.testing.assert_allclose(np.mean(out.chosen_rewards), metrics["rewards/chosen"], **TOL)
    np.testing.assert_allclose(np.mean(out.rejected_rewards), metrics["rewards/rejected"], **TOL)


DPO_CASES = [
    ("sigmoid", {}),
    ("sigmoid", {"beta": 0.5}),
    ("hinge", {"beta": 0.3}),
    ("ipo", {}),
    ("ipo", {"beta": 0.7}),
    ("exo_pair", {"label_smoothing": 1e-3}),
    ("exo_pair", {"label_smoothing": 0.2, "beta": 0.5}),
    ("nca_pair", {"beta": 0.3}),
    ("robust", {"label_smoothing": 0.2}),
    ("robust", {"label_smoothing": 0.0}),
    ("bco_pair", {"beta": 0.3}),
    ("sppo_hard", {}),
    ("aot", {"beta": 0.3}),
    ("aot", {"label_smoothing": 0.1}),
    ("aot_unpaired", {"beta": 0.3}),
    ("aot_unpaired", {"label_smoothing": 0.1}),
    ("apo_zero", {"beta": 0.3}),
    ("apo_down", {"beta": 0.3}),
    ("discopop", {"beta": 0.5}),
    ("discopop", {"beta": 0.5, "discopop_tau": 0.5}),
    ("sigmoid_norm", {"beta": 2.0}),
]


@pytest.mark.parametrize(("loss_type", "options"), DPO_CASES, ids=lambda v: str(v))
def test_dpo_every_loss_type(loss_type, options):
    _check_dpo(loss_type, **options)


@pytest.mark.parametrize(
    ("loss_type", "weights"),
    [
        (("sigmoid", "bco_pair"), (0.8, 0.2)),
        (("sigmoid", "ipo", "sigmoid"), None),
        (("apo_zero", "hinge"), (1.5, -0.5)),
    ],
)
def test_dpo_weighted_list(loss_type, weights):
    _check_dpo(loss_type, loss_weights=weights, beta=0.2)


F_TYPES = ["sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop"]
F_OPTIONS = {"exo_pair": {"label_smoothing": 0.1}, "robust": {"label_smoothing": 0.2}, "sigmoid_norm": {"beta": 2.0}}


@pytest.mark.parametrize(
    ("f_divergence", "f_alpha"),
    [("forward_kl", 0.5), ("js_divergence", 0.5), ("alpha_divergence", 0.5), ("alpha_divergence", 1.7)],
)
@pytest.mark.parametrize("loss_type", F_TYPES)
def test_dpo_f_divergence(loss_type, f_divergence, f_alpha):
    options = {"beta": 0.3, **F_OPTIONS.get(loss_type, {})}
    _check_dpo(loss_type, f_divergence=f_divergence, f_alpha=f_alpha, **options)


def test_dpo_alpha_divergence_at_one_is_reverse_kl():
    _check_dpo("sigmoid", f_divergence="alpha_divergence", f_alpha=1.0 + 1e-7, beta=0.3)


@pytest.mark.parametrize("ld_alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_dpo_ld_alpha(loss_type, ld_alpha):
    _check_dpo(loss_type, ld_alpha=ld_alpha, beta=0.3)


# --------------------------------------------------------------------------
# KTO
# --------------------------------------------------------------------------

KTO_N = 6
KTO_MASK = _completion_mask(KTO_N, RNG)
KL_MASK = _completion_mask(KTO_N, RNG)
KTO_LOGPS = (-RNG.uniform(0.05, 2.5, (KTO_N, L - 1))).astype(np.float32)
KL_LOGPS = (-RNG.uniform(0.05, 2.5, (KTO_N, L - 1))).astype(np.float32)
KTO_REF = ((KTO_LOGPS * KTO_MASK[:, 1:]).sum(1) + RNG.normal(0.0, 1.0, KTO_N)).astype(np.float32)
KTO_LABELS = np.array([True, False, False, True, True, False])


# kl_shift: the KL estimate's mean below 0 (clamped to 0) or above (apo_zero_unpaired has no KL term).
KTO_CASES = [
    ("kto", 1.5, (1.0, 1.0)),
    ("kto", 1.5, (1.3, 0.7)),
    ("kto", -1.5, (1.0, 1.0)),
    ("kto", -1.5, (0.6, 1.4)),
    ("apo_zero_unpaired", 1.5, (1.0, 1.0)),
    ("apo_zero_unpaired", 1.5, (1.3, 0.7)),
]


@pytest.mark.parametrize(("loss_type", "kl_shift", "weights"), KTO_CASES)
def test_kto(loss_type, kl_shift, weights):
    kl_seq = (KL_LOGPS * KL_MASK[:, 1:]).sum(1)
    ref_kl = (kl_seq - kl_shift + RNG.normal(0.0, 0.5, KTO_N)).astype(np.float32)
    want, want_grad, metrics = trl.trl_kto(
        KTO_LOGPS,
        KTO_MASK,
        KTO_REF,
        KTO_LABELS,
        kl_token_logps=KL_LOGPS,
        kl_completion_mask=KL_MASK,
        ref_kl_logps=ref_kl,
        loss_type=loss_type,
        beta=0.3,
        desirable_weight=weights[0],
        undesirable_weight=weights[1],
    )
    mask = KTO_MASK[:, 1:].astype(bool)
    kl = jaxloss.kto_kl(jaxloss.sequence_log_probs(KL_LOGPS, where=KL_MASK[:, 1:].astype(bool)), ref_kl)

    def loss(lp):
        out = jaxloss.kto(
            jaxloss.sequence_log_probs(lp, where=mask),
            KTO_REF,
            KTO_LABELS,
            kl=kl,
            beta=0.3,
            desirable_weight=weights[0],
            undesirable_weight=weights[1],
            loss_type=loss_type,
        )
        return jnp.mean(out.losses), out

    (got, out), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(jnp.asarray(KTO_LOGPS))
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, **TOL)
    assert np.abs(want_grad).max() > 1e-4
    if loss_type == "kto":
        np.testing.assert_allclose(kl, metrics["kl"], **TOL)
        assert (float(kl) == 0.0) == (kl_shift < 0)
    rewards = np.asarray(out.rewards)
    np.testing.assert_allclose(rewards[KTO_LABELS].mean(), metrics["rewards/chosen"], **TOL)
    np.testing.assert_allclose(rewards[~KTO_LABELS].mean(), metrics["rewards/rejected"], **TOL)


# --------------------------------------------------------------------------
# CPO / SimPO / AlphaPO, ORPO (elementwise)
# --------------------------------------------------------------------------

N = 8
AVG_C = (-RNG.uniform(0.05, 3.0, N)).astype(np.float32)
AVG_R = (-RNG.uniform(0.05, 3.0, N)).astype(np.float32)
COT = RNG.normal(size=N).astype(np.float32)


def _elementwise(fn):
    def scalar(c, r):
        out = fn(c, r)
        return jnp.sum(jnp.asarray(COT) * out.losses), out

    (_, out), (gc, gr) = jax.jit(jax.value_and_grad(scalar, argnums=(0, 1), has_aux=True))(
        jnp.asarray(AVG_C), jnp.asarray(AVG_R)
    )
    return out, gc, gr


@pytest.mark.parametrize("alpha", [0.0, 0.25, -0.4])
@pytest.mark.parametrize(
    ("loss_type", "options"),
    [
        ("sigmoid", {}),
        ("sigmoid", {"label_smoothing": 0.1}),
        ("hinge", {}),
        ("ipo", {}),
        ("simpo", {"beta": 2.0, "simpo_gamma": 0.8}),
        ("simpo", {"beta": 2.0, "label_smoothing": 0.1}),
    ],
    ids=str,
)
def test_cpo(loss_type, options, alpha):
    opts = {"beta": 0.5, **options}
    want = trl.trl_cpo(AVG_C, AVG_R, COT, loss_type=loss_type, alpha=alpha, **opts)
    out, gc, gr = _elementwise(lambda c, r: jaxloss.cpo(c, r, loss_type=loss_type, alpha=alpha, **opts))
    for got, ref in zip((out.losses, out.chosen_rewards, out.rejected_rewards, gc, gr), want, strict=True):
        np.testing.assert_allclose(got, ref, **TOL)


@pytest.mark.parametrize(("beta", "gamma", "label_smoothing"), [(2.0, 0.5, 0.0), (2.5, 1.4, 0.05)])
def test_simpo_is_cpo_simpo(beta, gamma, label_smoothing):
    want = trl.trl_cpo(
        AVG_C, AVG_R, COT, loss_type="simpo", beta=beta, simpo_gamma=gamma, label_smoothing=label_smoothing
    )
    out, gc, gr = _elementwise(
        lambda c, r: jaxloss.simpo(c, r, beta=beta, gamma=gamma, label_smoothing=label_smoothing)
    )
    for got, ref in zip((out.losses, out.chosen_rewards, out.rejected_rewards, gc, gr), want, strict=True):
        np.testing.assert_allclose(got, ref, **TOL)


@pytest.mark.parametrize("beta", [0.1, 0.8])
def test_orpo(beta):
    losses, rc, rr, gc_want, gr_want, mean_ratio, mean_log_odds = trl.trl_orpo(AVG_C, AVG_R, COT, beta=beta)
    out, gc, gr = _elementwise(lambda c, r: jaxloss.orpo(c, r, beta=beta))
    for got, ref in zip(
        (out.losses, out.chosen_rewards, out.rejected_rewards, gc, gr), (losses, rc, rr, gc_want, gr_want), strict=True
    ):
        np.testing.assert_allclose(got, ref, **TOL)
    np.testing.assert_allclose(np.mean(out.log_odds), mean_log_odds, **TOL)
    np.testing.assert_allclose(-np.mean(out.losses) / beta, mean_ratio, **TOL)


# --------------------------------------------------------------------------
# sequence_log_probs == get_batch_logps
# --------------------------------------------------------------------------


@pytest.mark.parametrize("trainer", ["cpo", "orpo"])
@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs_is_get_batch_logps(average, trainer):
    V = 11
    logits = RNG.normal(0.0, 2.0, (B, L, V)).astype(np.float32)
    labels = RNG.integers(0, V, (B, L))
    labels[MASK[:B] == 0] = -100
    cot = RNG.normal(size=B).astype(np.float32)
    want, want_grad = trl.trl_get_batch_logps(logits, labels, cot, average=average, trainer=trainer)

    def seq(z):
        shifted, targets = z[:, :-1], jnp.asarray(labels[:, 1:])
        mask = targets != -100
        lp = jnp.take_along_axis(jax.nn.log_softmax(shifted, -1), jnp.where(mask, targets, 0)[..., None], -1)[..., 0]
        return jaxloss.sequence_log_probs(lp, where=mask, average=average)

    got, vjp = jax.vjp(seq, jnp.asarray(logits))
    (grad,) = vjp(jnp.asarray(cot))
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, **TOL)
