"""``examples/preference_tuning.py`` runs end to end (reduced size) and holds its claims.

DPO lowers its loss and separates chosen from rejected completions, GRPO
raises the verifiable reward, each stage sorts more held-out prompts than
the one before, and the fused head's DPO step needs less temporary memory
than the materialised one for the same loss and gradients. Everything is
seeded, so the run is the same every time on a CPU; the assertions are on
averages over several steps. Needs the ``examples`` extra (Flax, Optax).
"""

import numpy as np

from tests.examples._load import load_example

ARGS = ["--vocab", "2048", "--sft-steps", "100", "--dpo-steps", "30", "--grpo-steps", "16", "--log-every", "4"]


def test_preference_tuning(capsys):
    example = load_example("preference_tuning")
    result = example.main(ARGS)
    out = capsys.readouterr().out

    # The base model learns to write the prompt's digits back.
    sft = result["sft_losses"]
    assert len(sft) == 100 and np.all(np.isfinite(sft))
    assert np.mean(sft[-10:]) < 1.6 < np.log(2048) < sft[0], sft

    # DPO: the loss goes down from log 2 (the policy starts as the reference),
    # the reward margin and the preference accuracy go up.
    dpo = {name: np.asarray(values) for name, values in result["dpo"].items()}
    assert len(dpo["loss"]) == 30 and all(np.all(np.isfinite(v)) for v in dpo.values())
    np.testing.assert_allclose(dpo["loss"][0], np.log(2.0), rtol=1e-5)
    assert dpo["margin"][0] == 0.0 and dpo["accuracy"][0] == 0.0
    assert np.mean(dpo["loss"][-5:]) < np.mean(dpo["loss"][:5]) - 0.05, dpo["loss"]
    assert np.mean(dpo["margin"][-5:]) > np.mean(dpo["margin"][:5]) + 0.1, dpo["margin"]
    assert np.mean(dpo["margin"][-5:]) > 0.2, dpo["margin"]
    assert np.mean(dpo["accuracy"][-5:]) > max(np.mean(dpo["accuracy"][1:6]), 0.75), dpo["accuracy"]
    # the chosen completions stay likely (the NLL term): no collapse off the digits
    assert np.mean(dpo["nll"][-5:]) < 2.0, dpo["nll"]

    # GRPO: the mean reward of the sampled groups goes up.
    rewards = np.asarray(result["grpo_rewards"])
    assert len(rewards) == 16 and np.all((rewards >= 0) & (rewards <= 1))
    assert np.mean(rewards[-4:]) > np.mean(rewards[:4]) + 0.3, rewards
    assert np.all(np.isfinite(result["grpo_losses"]))

    # Each stage sorts more of the held-out prompts.
    solved = result["held_out_sorted"]
    assert solved["the base model"] < solved["DPO"] < solved["GRPO"], solved
    assert solved["GRPO"] > 0.5, solved

    # The fused head: the same loss and gradients with less temporary memory.
    mem = result["memory"]
    assert mem["tokens"] == 2 * 64 * 9 and mem["vocab"] == 2048, mem
    assert abs(mem["loss_fused"] - mem["loss_materialised"]) < 1e-5 * abs(mem["loss_materialised"]), mem
    assert mem["max_abs_grad_diff"] < 1e-6, mem
    assert mem["fused_temp_bytes"] < mem["materialised_temp_bytes"], mem
    # the materialised step holds the [tokens, V] logits several times over, the fused one never
    assert mem["materialised_temp_bytes"] > 2 * mem["logits_bytes"], mem
    assert mem["materialised_temp_bytes"] - mem["fused_temp_bytes"] > 2 * mem["logits_bytes"], mem

    # What it prints.
    for line in (
        "base model step  100  loss",
        "held-out prompts sorted after the base model",
        "DPO step   30  DPO loss",
        "reward margin",
        "preference accuracy",
        "held-out prompts sorted after DPO",
        "GRPO step   16  mean reward",
        "held-out prompts sorted after GRPO",
        "memory, value_and_grad of the DPO loss at 1152 tokens x 2048 classes",
        "fused_linear_log_probs",
        "hidden @ kernel + log_softmax",
        "ratio materialised / fused",
        "done in",
    ):
        assert line in out, (line, out)
