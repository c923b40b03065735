"""fused_linear_jsd against TRL 1.16's DistillationTrainer loss itself (CPU, float32).

``trl.trainer.distillation_trainer._chunked_divergence_loss`` runs as it is
on torch tensors built from the same NumPy inputs (student and teacher
hidden states of different widths, ``[V, H]`` head weights and biases, a
completion mask with zeros, Gemma-style soft caps): its loss (the mean of
the per-token divergence over the mask) and its student-entropy sum are
compared with ``jaxloss.reduce(D, where=mask, reduction="mean")`` and the
masked sum of the entropy, and its gradients with respect to the student's
hidden states, weight and bias with ours, for beta 0, 0.5 and 1 and
temperatures 1 and 0.7, the weights passed as TRL's ``[V, H]`` tables
(``weight_layout="VD"``) and as their ``[H, V]`` transposes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch  # a missing reference library fails, never skips
from trl.trainer.distillation_trainer import _chunked_divergence_loss

import jaxloss

TOL = {"rtol": 1e-5, "atol": 1e-6}
B, K, HS, HT, V = 2, 7, 8, 12, 40


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    f32 = lambda *shape, scale=1.0: (scale * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    mask = np.ones((B, K), np.int64)
    mask[0, 5:] = 0  # padding
    mask[1, :2] = 0  # a tool's tokens
    return {
        "hs": f32(B, K, HS),
        "ht": f32(B, K, HT),
        "ws": f32(V, HS, scale=0.7),
        "wt": f32(V, HT, scale=0.6),
        "bs": f32(V, scale=0.5),
        "bt": f32(V, scale=0.5),
        "mask": mask,
    }


def _trl(x, *, beta, temperature, extras):
    hs = torch.tensor(x["hs"], requires_grad=True)
    ws = torch.tensor(x["ws"], requires_grad=True)
    bs = torch.tensor(x["bs"], requires_grad=True) if extras else None
    kw = {}
    if extras:
        kw = dict(
            student_lm_head_bias=bs,
            teacher_lm_head_bias=torch.tensor(x["bt"]),
            student_final_logit_softcapping=3.0,
            teacher_final_logit_softcapping=4.0,
        )
    loss, entropy_sum, n_valid = _chunked_divergence_loss(
        hs,
        torch.tensor(x["ht"]),
        ws,
        torch.tensor(x["wt"]),
        torch.tensor(x["mask"]),
        beta,
        temperature=temperature,
        **kw,
    )
    loss.backward()
    assert int(n_valid) == int(x["mask"].sum())
    grads = (hs.grad.numpy(), ws.grad.numpy()) + ((bs.grad.numpy(),) if extras else ())
    return float(loss.detach()), float(entropy_sum.detach()), grads


def _ours(x, *, beta, temperature, extras, layout):
    mask = jnp.asarray(x["mask"] != 0)
    tr = (lambda w: w) if layout == "VD" else (lambda w: w.T)
    wt = jnp.asarray(tr(x["wt"]))
    bt = jnp.asarray(x["bt"]) if extras else None
    caps = dict(student_logit_soft_cap=3.0, teacher_logit_soft_cap=4.0) if extras else {}

    def loss(hs, ws, bs):
        d, ent = jaxloss.fused_linear_jsd(
            hs,
            ws,
            jnp.asarray(x["ht"]),
            wt,
            student_bias=bs,
            teacher_bias=bt,
            beta=beta,
            temperature=temperature,
            return_entropy=True,
            weight_layout=layout,
            chunk_size=4,
            **caps,
        )
        return jaxloss.reduce(d, where=mask, reduction="mean"), jnp.sum(jnp.where(mask, ent, 0.0))

    bs = jnp.asarray(x["bs"]) if extras else None
    (value, entropy_sum), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
        jnp.asarray(x["hs"]), jnp.asarray(tr(x["ws"])), bs
    )
    dh, dw, db = grads
    grads = (np.asarray(dh), np.asarray(tr(dw))) + ((np.asarray(db),) if extras else ())
    return float(value), float(entropy_sum), grads


@pytest.mark.parametrize("extras", [False, True], ids=["plain", "biases+soft_caps"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_matches_trl_chunked_divergence_loss(inputs, beta, temperature, extras):
    want_loss, want_entropy, want_grads = _trl(inputs, beta=beta, temperature=temperature, extras=extras)
    assert want_loss > 0
    for layout in ("VD", "DV"):
        loss, entropy, grads = _ours(inputs, beta=beta, temperature=temperature, extras=extras, layout=layout)
        np.testing.assert_allclose(loss, want_loss, **TOL, err_msg=f"loss {layout}")
        np.testing.assert_allclose(entropy, want_entropy, **TOL, err_msg=f"entropy sum {layout}")
        names = ("student hidden", "student weight", "student bias")[: len(want_grads)]
        for g, w, name in zip(grads, want_grads, names, strict=True):
            assert g.shape == w.shape, (name, g.shape, w.shape)
            scale = float(np.max(np.abs(w)))
            assert scale > 0, name
            np.testing.assert_allclose(
                g, w, rtol=TOL["rtol"], atol=TOL["atol"] * max(1.0, scale), err_msg=f"d {name} {layout}"
            )
        # TRL projects every position and zeroes the masked ones: they get no gradient.
        assert not np.any(grads[0][inputs["mask"] == 0])
