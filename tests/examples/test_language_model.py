"""The language-model examples run end to end (small sizes) and hold their claims.

``examples/language_model_head.py`` runs in this process (one device);
``examples/sharded_training.py`` needs 8 host devices, a count jax fixes when
it is first imported, so it runs in a subprocess with its own ``XLA_FLAGS``
(as ``tests/test_sharding.py`` does). Needs the ``examples`` extra (optax).
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from tests.examples._load import EXAMPLES, load_example

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_language_model_head(capsys):
    lm = load_example("language_model_head")
    result = lm.main(
        [
            "--vocab",
            "512",
            "--dim",
            "32",
            "--seq-len",
            "16",
            "--batch",
            "32",
            "--steps",
            "25",
            "--lr",
            "2e-2",
            "--log-every",
            "5",
            "--mem-tokens",
            "512",
            "--mem-vocab",
            "4096",
            "--mem-dim",
            "64",
        ]
    )
    out = capsys.readouterr().out
    losses = result["losses"]
    assert len(losses) == 25 and np.all(np.isfinite(losses))
    # Training works: the loss goes down, on the training batches and on held-out sentences.
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5, losses
    assert result["eval_loss_end"] < result["eval_loss_start"] - 0.5, result
    # The fused head gives the materialised head's loss and gradients...
    assert result["agree"]
    assert result["model_loss_diff"] < 1e-5 and result["model_grad_diff"] < 1e-6, result
    mem = result["memory"]
    assert abs(mem["loss_fused"] - mem["loss_materialised"]) < 1e-5 * abs(mem["loss_materialised"]), mem
    assert mem["max_abs_grad_diff"] < 1e-5, mem
    # ...with a fraction of the temporary memory: the materialised head holds at
    # least the [tokens, V] float32 logits (and their gradient), the fused one never.
    assert mem["materialised_temp_bytes"] >= mem["logits_bytes"], mem
    assert mem["fused_temp_bytes"] < mem["logits_bytes"] / 2, mem
    assert mem["ratio"] > 4, mem
    # What it prints: the loss curve and both memory figures.
    assert "step   25  loss" in out and "fused_linear_cross_entropy" in out and "ratio materialised / fused" in out


def test_sharded_training():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "sharded_training.py"), "--small", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"sharded_training.py failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout
    result = json.loads(lines[-1][len("RESULT ") :])
    print(proc.stdout)
    assert result["ok"]
    assert result["mesh"] == {"data": 2, "model": 4}
    # Each device holds a quarter of the head's gradient (32 x 512 in --small).
    assert result["head_grad_shard_shape"] == [32, 128]
    # The sharded loss and gradients are the single-device ones.
    ref = result["loss_single_materialised"]
    assert abs(result["loss_sharded"] - result["loss_single_fused"]) < 1e-5 * ref, result
    assert abs(result["loss_sharded"] - ref) < 1e-5 * ref, result
    assert result["grad_diff_fused"] < 1e-6 and result["grad_diff_materialised"] < 1e-6, result
    # Training: the same loss curve, going down.
    assert result["curve_diff"] < 1e-5 * ref, result
    assert result["losses_sharded"][-1] < result["losses_sharded"][0], result
