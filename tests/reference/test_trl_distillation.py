"""generalized_jsd, forward_kl and reverse_kl against TRL 1.16 itself (CPU, float32).

``GKDTrainer.generalized_jsd_loss`` is a staticmethod: it is called as it is,
on torch tensors built from the same NumPy inputs, and its value and its
gradients with respect to the student and the teacher logits are compared for
every ``reduction`` (with and without labels, with ``num_items_in_batch``),
``beta`` and ``temperature``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402  (a missing reference library fails, never skips)
from trl.experimental.gkd import gkd_trainer as gkd  # noqa: E402

import jaxloss  # noqa: E402

TOL = {"rtol": 1e-5, "atol": 1e-6}
B, T, V = 2, 5, 11
REDUCTIONS = ("batchmean", "sum", "mean", "none")


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    student = (2.0 * rng.standard_normal((B, T, V))).astype(np.float32)
    teacher = (2.0 * rng.standard_normal((B, T, V))).astype(np.float32)
    labels = rng.integers(0, V, (B, T))
    labels[0, :2] = -100  # a prompt
    labels[1, 3:] = -100  # padding
    cotangent = rng.uniform(0.5, 1.5, (B, T)).astype(np.float32)  # for "none"
    return student, teacher, labels, cotangent


def _trl(student, teacher, labels, *, beta, temperature, reduction, cotangent=None, num_items=None):
    """TRL's loss, its gradients in both logits; "none" is summed over the vocabulary."""
    s = torch.tensor(student, requires_grad=True)
    t = torch.tensor(teacher, requires_grad=True)
    lab = None if labels is None else torch.tensor(labels)
    out = gkd.GKDTrainer.generalized_jsd_loss(
        s, t, labels=lab, beta=beta, temperature=temperature, reduction=reduction, num_items_in_batch=num_items
    )
    if reduction == "none" and num_items is None:
        # [N_valid, V] (or [B, T, V] without labels): one value per kept token.
        keep = np.ones((B, T), bool) if labels is None else labels != -100
        per_token = out.sum(-1).reshape(-1)
        total = (per_token * torch.tensor(cotangent[keep])).sum()
        total.backward()
        value = per_token.detach().numpy()
    else:
        out.backward()
        value = out.detach().numpy()
    return value, s.grad.numpy(), t.grad.numpy()


def _ours(student, teacher, labels, *, beta, temperature, reduction, cotangent=None, num_items=None):
    """The same quantity from the per-token jaxloss output and jaxloss.reduce."""
    keep = None if labels is None else jnp.asarray(labels != -100)

    def loss(s, t):
        out = jaxloss.generalized_jsd(s, t, beta=beta, temperature=temperature)
        if num_items is not None:
            return jaxloss.reduce(out, where=keep, reduction="sum") / num_items
        if reduction == "batchmean":
            if keep is None:
                return jaxloss.reduce(out, reduction="sum") / B  # TRL: sum / size(0)
            return jaxloss.reduce(out, where=keep, reduction="mean")
        if reduction == "sum":
            return jaxloss.reduce(out, where=keep, reduction="sum")
        if reduction == "mean":
            return jaxloss.reduce(out, where=keep, reduction="mean") / V
        return out

    if reduction == "none" and num_items is None:
        keep_np = np.ones((B, T), bool) if labels is None else labels != -100
        value = np.asarray(loss(student, teacher))[keep_np]
        weighted = lambda s, t: jaxloss.reduce(loss(s, t), cotangent, where=keep, reduction="sum")  # noqa: E731
        g_s, g_t = jax.grad(weighted, argnums=(0, 1))(student, teacher)
        return value, np.asarray(g_s), np.asarray(g_t)
    value, (g_s, g_t) = jax.value_and_grad(loss, argnums=(0, 1))(student, teacher)
    return np.asarray(value), np.asarray(g_s), np.asarray(g_t)


def _compare(inputs, *, with_labels, **options):
    student, teacher, labels, cotangent = inputs
    labels = labels if with_labels else None
    got = _ours(student, teacher, labels, cotangent=cotangent, **options)
    want = _trl(student, teacher, labels, cotangent=cotangent, **options)
    for name, a, b in zip(("value", "student gradient", "teacher gradient"), got, want, strict=True):
        np.testing.assert_allclose(a, b, err_msg=f"{name} {options}", **TOL)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_generalized_jsd_matches_trl(inputs, beta, temperature):
    for reduction in REDUCTIONS:
        for with_labels in (True, False):
            _compare(inputs, with_labels=with_labels, beta=beta, temperature=temperature, reduction=reduction)
    _compare(inputs, with_labels=True, beta=beta, temperature=temperature, reduction="batchmean", num_items=17)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("name, beta", [("forward_kl", 0.0), ("reverse_kl", 1.0)])
def test_kl_matches_trl_endpoints(inputs, name, beta, temperature):
    student, teacher, labels, _ = inputs
    keep = jnp.asarray(labels != -100)
    fn = getattr(jaxloss, name)
    for reduction in ("batchmean", "sum"):
        jax_reduction = "mean" if reduction == "batchmean" else "sum"
        loss = lambda s, t: jaxloss.reduce(fn(s, t, temperature=temperature), where=keep, reduction=jax_reduction)  # noqa: E731,B023
        value, grads = jax.value_and_grad(loss, argnums=(0, 1))(student, teacher)
        want = _trl(student, teacher, labels, beta=beta, temperature=temperature, reduction=reduction)
        for a, b in zip((value, *grads), want, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, **TOL)


def test_no_kept_token_is_zero_like_trl(inputs):
    student, teacher, _, _ = inputs
    labels = np.full((B, T), -100)
    keep = jnp.asarray(labels != -100)
    loss = lambda s, t: jaxloss.reduce(jaxloss.generalized_jsd(s, t), where=keep, reduction="mean")  # noqa: E731
    value, (g_s, g_t) = jax.value_and_grad(loss, argnums=(0, 1))(student, teacher)
    want = _trl(student, teacher, labels, beta=0.5, temperature=1.0, reduction="batchmean")
    assert float(value) == float(want[0]) == 0.0
    np.testing.assert_array_equal(g_s, want[1])
    np.testing.assert_array_equal(g_t, want[2])
