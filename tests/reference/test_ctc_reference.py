"""``jaxloss.ctc`` against ``torch.nn.functional.ctc_loss``, ``optax.ctc_loss`` and ``keras.losses.ctc``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras  # KERAS_BACKEND=jax is set by conftest; a missing library fails, never skips
import numpy as np
import optax
import pytest
import torch

import jaxloss
from tests.helpers import jit_grad

RTOL, ATOL = 1e-5, 1e-6


def _case(seed, batch=8, time=20, classes=6, max_labels=8, blank=0, infeasible=True):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(batch, time, classes)) * 3.0).astype(np.float32)
    others = np.array([c for c in range(classes) if c != blank])
    labels = rng.choice(others, size=(batch, max_labels))
    labels[0, :4] = others[0]  # repeats
    labels[1, ::2] = labels[1, 1::2]  # pairs of repeats
    input_lengths = rng.integers(time // 2, time + 1, size=batch)
    target_lengths = rng.integers(0, max_labels + 1, size=batch)
    if infeasible:
        input_lengths[2], target_lengths[2] = 4, 5  # too long even without repeats
        labels[3, :6] = others[1]
        input_lengths[3], target_lengths[3] = 8, 6  # 6 repeats need 11 frames
    else:
        input_lengths[:] = time
    return logits, labels, input_lengths, target_lengths


def _torch(logits, labels, input_lengths, target_lengths, blank, zero_infinity):
    z = torch.tensor(logits.astype(np.float64), requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        torch.log_softmax(z, -1).transpose(0, 1),
        torch.tensor(labels),
        torch.tensor(input_lengths),
        torch.tensor(target_lengths),
        blank=blank,
        reduction="none",
        zero_infinity=zero_infinity,
    )
    torch.where(torch.isfinite(loss), loss, 0.0).sum().backward()
    return loss.detach().numpy(), z.grad.numpy()


def _paddings(labels, input_lengths, target_lengths, time):
    frame_pad = (np.arange(time)[None] >= input_lengths[:, None]).astype(np.float32)
    label_pad = (np.arange(labels.shape[1])[None] >= target_lengths[:, None]).astype(np.float32)
    return frame_pad, label_pad


@pytest.mark.parametrize("seed, blank, zero_infinity", [(0, 0, False), (1, 0, True), (2, 5, False), (3, 2, True)])
def test_matches_torch_values_and_gradients(seed, blank, zero_infinity):
    logits, labels, il, tl = _case(seed, blank=blank)
    want, want_grad = _torch(logits, labels, il, tl, blank, zero_infinity)
    frame_pad, label_pad = _paddings(labels, il, tl, logits.shape[1])

    def fn(z):
        return jaxloss.ctc(
            z, labels, logit_paddings=frame_pad, label_paddings=label_pad, blank_id=blank, zero_infinity=zero_infinity
        )

    got = fn(logits)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    assert (np.isinf(got).sum() > 0) != zero_infinity  # the infeasible rows are there
    # Gradients in float64 (float32 rounding over T frames is ~2e-6 absolute):
    # torch's gradient is nan on inf rows (ours is 0); compare the rest.
    with jax.enable_x64(True):
        total = lambda z: jnp.sum(jnp.where(jnp.isfinite(fn(z)), fn(z), 0.0))
        grad = np.asarray(jax.grad(total)(logits.astype(np.float64)))
    finite = np.isfinite(want)
    np.testing.assert_allclose(grad[finite], want_grad[finite], rtol=1e-9, atol=1e-12)
    assert np.all(grad[~finite] == 0.0)
    if zero_infinity:
        np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)
    # And float32 to 1e-5 of the largest entry.
    grad32 = np.asarray(jax.grad(total)(logits))
    np.testing.assert_allclose(grad32[finite], want_grad[finite], rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("blank", [0, 3])
def test_matches_optax_on_feasible_inputs(blank):
    logits, labels, il, tl = _case(10 + blank, blank=blank, infeasible=False)
    il = np.array([20, 17, 12, 20, 15, 19, 20, 11])
    frame_pad, label_pad = _paddings(labels, il, tl, logits.shape[1])
    # optax's and Keras's CTC are jax functions: jit compiles their scans once
    # (eagerly they are retraced on every call).
    want = jax.jit(optax.ctc_loss, static_argnames="blank_id")(logits, frame_pad, labels, label_pad, blank_id=blank)
    got = jaxloss.ctc(logits, labels, logit_paddings=frame_pad, label_paddings=label_pad, blank_id=blank)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    grad = jax.grad(
        lambda z: jnp.sum(jaxloss.ctc(z, labels, logit_paddings=frame_pad, label_paddings=label_pad, blank_id=blank))
    )(logits)
    want_grad = jit_grad(lambda z: jnp.sum(optax.ctc_loss(z, frame_pad, labels, label_pad, blank_id=blank)))(logits)
    np.testing.assert_allclose(grad, want_grad, rtol=RTOL, atol=1e-6)


def test_keras_ctc_is_label_paddings_at_zero():
    rng = np.random.default_rng(20)
    y_pred = (rng.normal(size=(6, 24, 5)) * 2.0).astype(np.float32)
    y_true = rng.integers(1, 5, size=(6, 7)).astype(np.int32)
    y_true[0, 4:] = 0  # right padding
    y_true[1, :] = 0  # empty labelling
    y_true[2, 2] = 0  # an interior zero: Keras uses the first count_nonzero labels
    y_true[3, :3] = 4  # repeats
    want = np.asarray(jax.jit(keras.losses.ctc)(y_true, y_pred))
    got = jaxloss.ctc(y_pred, y_true, label_paddings=(y_true == 0), blank_id=0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    grad = jax.grad(lambda z: jnp.sum(jaxloss.ctc(z, y_true, label_paddings=(y_true == 0))))(y_pred)
    want_grad = jit_grad(lambda z: jnp.sum(keras.losses.ctc(y_true, z)))(jnp.asarray(y_pred))
    np.testing.assert_allclose(grad, want_grad, rtol=RTOL, atol=1e-6)
