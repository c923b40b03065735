"""``fused_linear_grpo`` against TRL 1.16's GRPO loss over a torch head: value and d hidden, d weight.

The reference: torch computes the per-token log-probs of the sampled tokens
from the materialised head (``log_softmax(hidden @ weight + bias) /
temperature``, gathered), TRL's ``GRPOTrainer._compute_loss`` (called as
``tests/reference/_trl_grpo.py`` does) gives the loss and its gradient with
respect to those log-probs, and torch's autograd carries that gradient back
to ``hidden`` and ``weight``: TRL's own chain, end to end, in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxloss
from tests.reference._trl_grpo import trl_grpo

B, T, D, V = 3, 6, 8, 50


def _inputs(seed):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(B, T, D)).astype(np.float32)
    weight = (rng.normal(size=(D, V)) / np.sqrt(D)).astype(np.float32)
    bias = (0.1 * rng.normal(size=(V,))).astype(np.float32)
    labels = rng.integers(0, V, size=(B, T))
    mask = np.arange(T)[None, :] < np.array([T, 4, 2])[:, None]
    adv = rng.normal(size=(B,)).astype(np.float32)
    ref = (-4.0 + 0.5 * rng.normal(size=(B, T))).astype(np.float32)
    return hidden, weight, bias, labels, mask, adv, ref, rng


def _torch_log_probs(h, w, b, labels, temperature):
    logits = (h @ w + b) / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(labels)[..., None])[..., 0]


CONFIGS = [
    dict(loss_type="dapo"),
    dict(loss_type="grpo", beta=0.04),
    dict(loss_type="bnpo", epsilon=0.1, epsilon_high=0.28),
    dict(loss_type="dr_grpo", max_completion_length=T, beta=0.04, use_bias_correction_kl=False),
    dict(loss_type="grpo", importance_sampling_level="sequence"),
    dict(loss_type="cispo", epsilon_high=2.0),
    dict(loss_type="sapo"),
    dict(loss_type="luspo", delta=1.5),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_fused_grpo_equals_trl(config):
    hidden, weight, bias, labels, mask, adv, ref, rng = _inputs(0)
    temperature = 0.8
    th, tw, tb = (torch.tensor(x, requires_grad=True) for x in (hidden, weight, bias))
    lp = _torch_log_probs(th, tw, tb, labels, temperature)
    old = (lp.detach().numpy() + 0.2 * rng.normal(size=(B, T))).astype(np.float32)
    beta = config.get("beta", 0.0)
    value, dlp, _ = trl_grpo(
        lp.detach().numpy(), adv, mask, old_per_token_logps=old, ref_per_token_logps=ref if beta else None, **config
    )
    dh, dw, db = torch.autograd.grad(lp, (th, tw, tb), grad_outputs=torch.tensor(dlp))

    def ours(h, w, b):
        return jaxloss.fused_linear_grpo(
            h,
            w,
            labels,
            old,
            adv,
            where=mask,
            bias=b,
            ref_log_probs=ref if beta else None,
            temperature=temperature,
            chunk_size=4,
            **config,
        )

    got_value, (gh, gw, gb) = jax.jit(jax.value_and_grad(ours, argnums=(0, 1, 2)))(
        jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(bias)
    )
    np.testing.assert_allclose(got_value, value, rtol=1e-5, atol=1e-6)
    for got, want, name in ((gh, dh, "hidden"), (gw, dw, "weight"), (gb, db, "bias")):
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert np.abs(dw.numpy()).max() > 0  # there is a gradient to compare
