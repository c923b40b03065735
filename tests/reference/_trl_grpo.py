"""TRL 1.16's GRPO loss and advantages called as they are, on CPU, in float32.

``GRPOTrainer._compute_loss`` is called unbound on a stub: a namespace holding
the trainer attributes the method reads (in evaluation mode: no
gradient-accumulation division), an identity accelerator (one process, or a
claimed ``num_processes`` that only the DAPO/CISPO normaliser reads), and
``_get_per_token_logps_and_entropies`` replaced by a function returning the
given per-token log-probs (and zero entropies). The metrics TRL logs are read
back from the stub's ``_metrics["eval"]``.

The advantages are computed inline in ``_generate_and_score_completions``;
that block of TRL's own source (from the unscorable mask to the final
``nan_to_num``) is cut out of the method with ``inspect`` and run on a stub,
so the reference is TRL's code, not a copy of it.
"""

from __future__ import annotations

import contextlib
import inspect
import textwrap
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.utils import nanstd

CPU = torch.device("cpu")


class _Accelerator:
    """One process (reduce and gather are the identity) claiming ``num_processes``."""

    device = CPU

    def __init__(self, num_processes: int = 1):
        self.num_processes = num_processes
        self.process_index = 0

    def reduce(self, x, reduction="sum"):
        return x

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def autocast(self):
        return contextlib.nullcontext()


def _t(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x, np.float32), dtype=torch.float32)


def trl_grpo(
    logps,
    advantages,
    mask,
    *,
    old_per_token_logps=None,
    ref_per_token_logps=None,
    loss_type="dapo",
    beta=0.0,
    epsilon=0.2,
    epsilon_high=None,
    delta=None,
    importance_sampling_level="token",
    sapo_temperature_pos=1.0,
    sapo_temperature_neg=1.05,
    use_bias_correction_kl=True,
    max_completion_length=512,
    num_items_in_batch=None,
    num_processes=1,
):
    """``(loss, grad w.r.t. logps, metrics)`` of ``GRPOTrainer._compute_loss`` in eval mode.

    ``mask`` is the completion mask (0/1); ``num_items_in_batch`` defaults to
    its sum (TRL's count of active tokens in the generation batch).
    """
    lp = torch.tensor(np.asarray(logps, np.float32), requires_grad=True)
    b, t = lp.shape
    metrics: dict = {"train": defaultdict(list), "eval": defaultdict(list)}
    stub = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (lp, torch.zeros_like(lp), None),
        aux_loss_enabled=False,
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level=importance_sampling_level,
        beta=beta,
        loss_type=loss_type,
        epsilon_low=epsilon,
        epsilon_high=epsilon if epsilon_high is None else epsilon_high,
        args=SimpleNamespace(
            use_bias_correction_kl=use_bias_correction_kl,
            delta=delta,
            sapo_temperature_pos=sapo_temperature_pos,
            sapo_temperature_neg=sapo_temperature_neg,
            steps_per_generation=1,
        ),
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=False),
        current_gradient_accumulation_steps=1,
        max_completion_length=max_completion_length,
        accelerator=_Accelerator(num_processes),
        _entropy_bonus_enabled=False,
        _metrics=metrics,
    )
    m = torch.tensor(np.asarray(mask, np.int64))
    inputs = {
        "prompt_ids": torch.zeros((b, 1), dtype=torch.int64),
        "prompt_mask": torch.ones((b, 1), dtype=torch.int64),
        "completion_ids": torch.zeros((b, t), dtype=torch.int64),
        "completion_mask": m,
        "advantages": _t(advantages),
        "num_items_in_batch": torch.tensor(float(m.sum()) if num_items_in_batch is None else float(num_items_in_batch)),
    }
    if old_per_token_logps is not None:
        inputs["old_per_token_logps"] = _t(old_per_token_logps)
    if ref_per_token_logps is not None:
        inputs["ref_per_token_logps"] = _t(ref_per_token_logps)
    loss = GRPOTrainer._compute_loss(stub, None, inputs)
    loss.backward()
    logged = {k: v[-1] for k, v in metrics["eval"].items()}
    return float(loss.detach()), lp.grad.numpy().copy(), logged


def _advantage_block():
    """TRL's inline advantage code, from the unscorable mask to ``nan_to_num``, compiled."""
    lines = inspect.getsource(GRPOTrainer._generate_and_score_completions).splitlines()
    start = next(i for i, s in enumerate(lines) if s.strip().startswith("unscorable_mask = torch.isnan("))
    end = next(i for i, s in enumerate(lines) if s.strip() == "advantages = torch.nan_to_num(advantages, nan=0.0)")
    source = textwrap.dedent("\n".join(lines[start : end + 1]))
    return compile(source, "trl/trainer/grpo_trainer.py:_generate_and_score_completions", "exec")


_ADVANTAGES = None


def trl_advantages(
    rewards_per_func,
    *,
    num_generations,
    scale_rewards="group",
    reward_weights=None,
    multi_objective_aggregation="sum_then_normalize",
):
    """TRL's advantages for ``rewards_per_func [B, K]`` (nan: a reward function returned None)."""
    global _ADVANTAGES
    if _ADVANTAGES is None:
        _ADVANTAGES = _advantage_block()
    r = _t(rewards_per_func)
    k = r.shape[1]
    # GRPOConfig.__post_init__ maps the booleans.
    scale_rewards = {True: "group", False: "none"}.get(scale_rewards, scale_rewards)
    weights = torch.ones(k) if reward_weights is None else _t(reward_weights)
    self = SimpleNamespace(
        multi_objective_aggregation=multi_objective_aggregation,
        reward_weights=weights,
        scale_rewards=scale_rewards,
        reward_funcs=[None] * k,
    )
    scope = {
        "self": self,
        "rewards_per_func": r,
        "num_generations": num_generations,
        "device": CPU,
        "torch": torch,
        "nanstd": nanstd,
    }
    exec(_ADVANTAGES, scope)  # noqa: S102
    return scope["advantages"].numpy().copy()
