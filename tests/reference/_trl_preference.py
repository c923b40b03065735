"""TRL 1.16's preference losses called as they are, on CPU, in float32.

The trainers compute their loss inline (``DPOTrainer._compute_loss``,
``KTOTrainer._compute_loss``), so each is called unbound on a stub: a
namespace holding the trainer attributes the method reads, an identity
accelerator, and a fake model whose ``fused_lm_head=True`` forward returns
the given per-token log-probs (zero where the label is -100, as TRL's fused
head does). The reference log-probs take the precomputed path (DPO's computed
by TRL's own ``compute_ref_log_probs`` on a fake reference model, so that
``ld_alpha`` weighs them as TRL does). ``CPOTrainer.cpo_loss`` and
``ORPOTrainer.odds_ratio_loss`` run on a namespace ``self``;
``get_batch_logps`` is a staticmethod.

Each function returns numpy values and the gradients of the loss (or of
``sum(cotangent * losses)``) with respect to the log-probs.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from types import MethodType, SimpleNamespace

import numpy as np
import torch

# trl.experimental warns on import (the suite turns warnings into errors).
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from trl.experimental.cpo.cpo_trainer import CPOTrainer  # noqa: E402
from trl.experimental.orpo.orpo_trainer import ORPOTrainer  # noqa: E402
from trl.trainer.dpo_trainer import DPOTrainer  # noqa: E402
from trl.trainer.kto_trainer import KTOTrainer  # noqa: E402
from trl.trainer.utils import FusedCausalLMOutput  # noqa: E402

CPU = torch.device("cpu")


class _IdentityAccelerator:
    """One process: gathering is the identity."""

    device = CPU

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def unwrap_model(self, model):
        return model

    def autocast(self):
        return contextlib.nullcontext()


def _t(x, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(x, np.float32), dtype=torch.float32, requires_grad=grad)


class _FakeModel:
    """``model(**kwargs, labels=..., fused_lm_head=True)`` -> the given log-probs, 0 where the label is -100.

    ``by_ids`` maps the first input id of a batch to its per-token log-probs
    ``[N, L - 1]`` (KTO calls the model on two batches: the completions and
    the mismatched KL completions).
    """

    def __init__(self, by_ids: dict[int, torch.Tensor]):
        self.by_ids = by_ids

    def __call__(self, *, input_ids, labels, fused_lm_head, **_):
        assert fused_lm_head
        lp = self.by_ids[int(input_ids[0, 0])]
        keep = labels[:, 1:] != -100
        log_probs = lp * keep
        zeros = torch.zeros(lp.shape)
        return FusedCausalLMOutput(
            log_probs=log_probs,
            entropy=zeros,
            log_sum_sq_probs=zeros,
            mean_logits=zeros,
            is_top1=torch.zeros(lp.shape, dtype=torch.bool),
            label_mask=keep,
        )


def _last(stub) -> dict[str, float]:
    return {k: float(v[-1]) for k, v in stub._metrics["eval"].items()}


def _trainer_stub(**attrs) -> SimpleNamespace:
    base = dict(
        model=SimpleNamespace(training=False, is_gradient_checkpointing=False),
        accelerator=_IdentityAccelerator(),
        aux_loss_enabled=False,
        precompute_ref_logps=True,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
    )
    base.update(attrs)
    return SimpleNamespace(**base)


def trl_dpo(
    token_logps,
    ref_token_logps,
    completion_mask,
    *,
    loss_type,
    loss_weights=None,
    beta=0.1,
    label_smoothing=0.0,
    discopop_tau=0.05,
    f_divergence="reverse_kl",
    f_alpha=0.5,
    ld_alpha=None,
):
    """``DPOTrainer._compute_loss`` on a ``[chosen; rejected]`` batch of ``2B`` rows.

    ``token_logps``, ``ref_token_logps``: ``[2B, L - 1]``, aligned with
    ``completion_mask[:, 1:]``; ``completion_mask``: ``[2B, L]`` of 0/1.
    Returns ``(loss, d loss / d token_logps, metrics)``, the metrics TRL logged (``rewards/chosen`` ...).
    """
    mask = torch.tensor(np.asarray(completion_mask), dtype=torch.int64)
    ids = torch.zeros(mask.shape, dtype=torch.int64)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(mask), "completion_mask": mask}
    ref_model = _FakeModel({0: _t(ref_token_logps)})
    stub = _trainer_stub(
        beta=beta,
        loss_types=list(loss_type),
        loss_weights=list(loss_weights) if loss_weights is not None else [1.0] * len(loss_type),
        ld_alpha=ld_alpha,
        f_divergence_type=f_divergence,
        f_alpha_divergence_coef=f_alpha,
        label_smoothing=label_smoothing,
        use_weighting=False,
        ref_model=ref_model,
        args=SimpleNamespace(discopop_tau=discopop_tau, gradient_checkpointing_kwargs=None),
    )
    ref_c, ref_r = DPOTrainer.compute_ref_log_probs(stub, ref_model, inputs)
    inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = ref_c, ref_r
    lp = _t(token_logps, grad=True)
    loss = DPOTrainer._compute_loss(stub, _FakeModel({0: lp}), inputs, return_outputs=False)
    loss.backward()
    return float(loss.detach()), lp.grad.numpy(), _last(stub)


def trl_kto(
    token_logps,
    completion_mask,
    ref_logps,
    labels,
    *,
    kl_token_logps=None,
    kl_completion_mask=None,
    ref_kl_logps=None,
    loss_type="kto",
    beta=0.1,
    desirable_weight=1.0,
    undesirable_weight=1.0,
):
    """``KTOTrainer._compute_loss`` on ``B`` unpaired examples (precomputed reference sums ``[B]``).

    Returns ``(loss, d loss / d token_logps, metrics)``, the metrics TRL logged (``kl``, ``rewards/chosen`` ...).
    """
    calculate_kl = loss_type != "apo_zero_unpaired"
    mask = torch.tensor(np.asarray(completion_mask), dtype=torch.int64)
    batch = {
        "input_ids": torch.zeros(mask.shape, dtype=torch.int64),
        "attention_mask": torch.ones_like(mask),
        "completion_mask": mask,
        "label": torch.tensor(np.asarray(labels, bool)),
        "ref_logps": _t(ref_logps),
    }
    lp = _t(token_logps, grad=True)
    by_ids = {0: lp}
    if calculate_kl:
        kl_mask = torch.tensor(np.asarray(kl_completion_mask), dtype=torch.int64)
        batch["KL_input_ids"] = torch.ones(kl_mask.shape, dtype=torch.int64)
        batch["KL_attention_mask"] = torch.ones_like(kl_mask)
        batch["KL_completion_mask"] = kl_mask
        batch["ref_KL_logps"] = _t(ref_kl_logps)
        by_ids[1] = _t(kl_token_logps)
    stub = _trainer_stub(
        calculate_KL=calculate_kl,
        loss_type=loss_type,
        beta=beta,
        desirable_weight=desirable_weight,
        undesirable_weight=undesirable_weight,
    )
    stub._compute_kl_logps = MethodType(KTOTrainer._compute_kl_logps, stub)
    loss = KTOTrainer._compute_loss(stub, _FakeModel(by_ids), batch, return_outputs=False)
    loss.backward()
    return float(loss.detach()), lp.grad.numpy(), _last(stub)


def _elementwise(fn, chosen, rejected, cotangent, sign=1.0):
    c, r = _t(chosen, grad=True), _t(rejected, grad=True)
    out = fn(c, r)
    losses = sign * out[0]
    (losses * _t(cotangent)).sum().backward()
    rest = [o.detach().numpy() for o in out[1:3]]
    extra = [float(o.detach()) for o in out[3:]]
    return losses.detach().numpy(), *rest, c.grad.numpy(), r.grad.numpy(), *extra


def trl_cpo(
    chosen, rejected, cotangent, *, loss_type="sigmoid", beta=0.1, label_smoothing=0.0, simpo_gamma=0.5, alpha=0.0
):
    """``CPOTrainer.cpo_loss``: ``(losses, chosen_rewards, rejected_rewards, d/dc, d/dr)`` of ``sum(cot * losses)``."""
    ns = SimpleNamespace(
        beta=beta,
        alpha=alpha,
        loss_type=loss_type,
        label_smoothing=label_smoothing,
        simpo_gamma=simpo_gamma,
        accelerator=_IdentityAccelerator(),
    )
    return _elementwise(lambda c, r: CPOTrainer.cpo_loss(ns, c, r), chosen, rejected, cotangent)


def trl_orpo(chosen, rejected, cotangent, *, beta=0.1):
    """``-ORPOTrainer.odds_ratio_loss()[0]`` (jaxloss's sign): losses, rewards, gradients, mean ratio, mean log odds."""
    ns = SimpleNamespace(beta=beta, accelerator=_IdentityAccelerator())
    return _elementwise(lambda c, r: ORPOTrainer.odds_ratio_loss(ns, c, r), chosen, rejected, cotangent, sign=-1.0)


def trl_get_batch_logps(logits, labels, cotangent, *, average, trainer="cpo"):
    """``{CPO,ORPO}Trainer.get_batch_logps(logits, labels, average)``: values and ``d sum(cot * out) / d logits``."""
    fn = {"cpo": CPOTrainer, "orpo": ORPOTrainer}[trainer].get_batch_logps
    z = _t(logits, grad=True)
    out = fn(z, torch.tensor(np.asarray(labels), dtype=torch.int64), average_log_prob=average)
    (out * _t(cotangent)).sum().backward()
    return out.detach().numpy(), z.grad.numpy()
