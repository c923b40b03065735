"""Core tests of the CTC loss (jax + numpy only).

Values against a brute-force sum over every frame-wise path (tiny T and K,
float64 NumPy), padding semantics, transformation invariance, dtype policy,
finite values and derivatives at extreme logits and for infeasible rows,
``check_grads`` in both modes, out-of-range labels and trace-time errors.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss
from tests.helpers import EXTREME_LOGITS, assert_all_finite, assert_transform_invariant, check_grads_x64

RTOL, ATOL = 2e-6, 2e-6


# --------------------------------------------------------------------------
# brute-force reference
# --------------------------------------------------------------------------


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return tuple(out)


def np_ctc_brute(logits, labels, frames, length, blank=0):
    """-log sum over all paths on the unpadded ``frames`` that reduce to ``labels[:length]``."""
    z = np.asarray(logits, np.float64)[np.asarray(frames, bool)]
    log_p = z - np.max(z, -1, keepdims=True)
    log_p = log_p - np.log(np.sum(np.exp(log_p), -1, keepdims=True))
    target = tuple(int(v) for v in labels[:length])
    terms = [
        sum(log_p[t, c] for t, c in enumerate(path))
        for path in itertools.product(range(z.shape[-1]), repeat=z.shape[0])
        if _collapse(path, blank) == target
    ]
    if not terms:
        return np.inf
    terms = np.array(terms)
    m = terms.max()
    return -(m + np.log(np.sum(np.exp(terms - m))))


def _random_case(rng, batch=5, time=5, classes=3, max_labels=3, blank=0, prefix=True):
    logits = rng.normal(size=(batch, time, classes)).astype(np.float32) * 2.0
    others = [c for c in range(classes) if c != blank]
    labels = rng.choice(others, size=(batch, max_labels))
    labels[0, : min(2, max_labels)] = others[0]  # a repeated pair
    length = rng.integers(0, max_labels + 1, size=batch)
    if prefix:
        n_frames = rng.integers(0, time + 1, size=batch)
        frame_pad = np.arange(time)[None] >= n_frames[:, None]
    else:
        frame_pad = rng.random((batch, time)) < 0.3
    label_pad = np.arange(max_labels)[None] >= length[:, None]
    return logits, labels, frame_pad, label_pad


def _brute_batch(logits, labels, frame_pad, label_pad, blank=0):
    length = label_pad.shape[1] - label_pad.sum(1)
    return np.array(
        [np_ctc_brute(z, y, ~fp, n, blank) for z, y, fp, n in zip(logits, labels, frame_pad, length, strict=True)]
    )


ctc_jit = jax.jit(jaxloss.ctc, static_argnames=("blank_id", "zero_infinity"))


@pytest.mark.parametrize(
    "seed, blank, prefix",
    [(0, 0, True), (1, 0, False), (2, 2, True), (3, 1, False)],
)
def test_matches_brute_force(seed, blank, prefix):
    rng = np.random.default_rng(seed)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=8, blank=blank, prefix=prefix)
    got = ctc_jit(logits, labels, logit_paddings=frame_pad, label_paddings=label_pad, blank_id=blank)
    want = _brute_batch(logits, labels, frame_pad, label_pad, blank)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_uniform_logits_count_alignments():
    # Uniform over 3 classes and 4 frames: (1, 2) has 15 alignments, (1, 1) 5,
    # (1,) 10, () 1 (all blank), and (1, 1, 1) needs 5 frames: none.
    logits = np.zeros((5, 4, 3), np.float32)
    labels = np.array([[1, 2, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])
    label_pad = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0]], np.float32)
    got = jaxloss.ctc(logits, labels, label_paddings=label_pad)
    want = -np.log(np.array([15, 5, 10, 1, 0]) / 81.0, where=np.array([1, 1, 1, 1, 0]) > 0, out=np.full(5, -np.inf))
    np.testing.assert_allclose(got, want, rtol=RTOL)


# --------------------------------------------------------------------------
# paddings
# --------------------------------------------------------------------------


def test_padded_frames_are_skipped_and_may_hold_nan():
    rng = np.random.default_rng(4)
    logits, labels, _, label_pad = _random_case(rng, batch=4, time=6)
    frame_pad = np.zeros((4, 6), bool)
    frame_pad[:, [1, 4]] = True  # interior frames
    poisoned = logits.copy()
    poisoned[:, 1] = np.nan
    poisoned[:, 4] = np.array([np.inf, -np.inf, 1e30])
    f = lambda z: jaxloss.ctc(z, labels, logit_paddings=frame_pad, label_paddings=label_pad)
    dropped = jaxloss.ctc(np.delete(logits, [1, 4], axis=1), labels, label_paddings=label_pad)
    np.testing.assert_allclose(f(poisoned), dropped, rtol=RTOL, atol=ATOL)
    grad = jax.grad(lambda z: jnp.sum(f(z)))(poisoned)
    assert np.all(np.asarray(grad)[:, [1, 4]] == 0.0)
    assert_all_finite(grad, "gradient")


def test_padding_forms_agree():
    rng = np.random.default_rng(5)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=4, time=6)
    base = jaxloss.ctc(logits, labels, logit_paddings=frame_pad, label_paddings=label_pad)
    as_float = jaxloss.ctc(
        logits, labels, logit_paddings=frame_pad.astype(np.float32), label_paddings=label_pad.astype(np.float32)
    )
    np.testing.assert_array_equal(as_float, base)
    # Padded label values are never read, even out of range.
    garbage = np.where(label_pad, -7, labels)
    np.testing.assert_array_equal(
        jaxloss.ctc(logits, garbage, logit_paddings=frame_pad, label_paddings=label_pad), base
    )
    # None means no padding; a [T] padding broadcasts over the batch.
    np.testing.assert_array_equal(
        jaxloss.ctc(logits, labels), jaxloss.ctc(logits, labels, logit_paddings=np.zeros(6), label_paddings=None)
    )
    shared = np.array([0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(
        jaxloss.ctc(logits, labels, logit_paddings=shared),
        jaxloss.ctc(logits, labels, logit_paddings=np.broadcast_to(shared, (4, 6))),
    )


def test_empty_labelling_and_no_frames():
    logits = np.random.default_rng(6).normal(size=(2, 3, 4)).astype(np.float32)
    labels = np.array([[2, 3], [2, 3]])
    out = jaxloss.ctc(logits, labels, logit_paddings=np.array([[0, 0, 0], [1, 1, 1]]), label_paddings=np.ones((2, 2)))
    log_p = jax.nn.log_softmax(logits[0])
    np.testing.assert_allclose(out[0], -np.sum(log_p[:, 0]), rtol=RTOL)
    assert out[1] == 0.0 and not np.signbit(out[1])
    # No labels at all (N = 0) and no frames at all (T = 0).
    np.testing.assert_allclose(jaxloss.ctc(logits, np.zeros((2, 0), np.int32))[0], out[0], rtol=RTOL)
    np.testing.assert_array_equal(jaxloss.ctc(np.zeros((2, 0, 4)), labels), [np.inf, np.inf])


def test_blank_id_is_a_class_permutation():
    rng = np.random.default_rng(7)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=4, time=6, classes=4, blank=3)
    perm = np.array([3, 0, 1, 2])  # new class c is old class perm[c]; blank 3 -> 0
    inverse = np.argsort(perm)
    got = jaxloss.ctc(logits, labels, logit_paddings=frame_pad, label_paddings=label_pad, blank_id=3)
    want = jaxloss.ctc(logits[..., perm], inverse[labels], logit_paddings=frame_pad, label_paddings=label_pad)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# transformations and dtypes
# --------------------------------------------------------------------------


def test_eager_jit_vmap_agree():
    rng = np.random.default_rng(8)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=4, time=6)
    fn = lambda z, y, fp, lp: jaxloss.ctc(z, y, logit_paddings=fp, label_paddings=lp)
    assert_transform_invariant(fn, logits, labels, frame_pad, label_pad, rtol=RTOL)
    # Row by row equals the batch.
    rows = [fn(*(a[i : i + 1] for a in (logits, labels, frame_pad, label_pad)))[0] for i in range(4)]
    np.testing.assert_allclose(rows, fn(logits, labels, frame_pad, label_pad), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16_bit_logits_compute_in_float32(dtype):
    rng = np.random.default_rng(9)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=4, time=6)
    low = jnp.asarray(logits, dtype)
    out = jaxloss.ctc(low, labels, logit_paddings=frame_pad, label_paddings=label_pad)
    assert out.dtype == jnp.float32
    want = jaxloss.ctc(low.astype(jnp.float32), labels, logit_paddings=frame_pad, label_paddings=label_pad)
    np.testing.assert_allclose(out, want, rtol=RTOL, atol=ATOL)
    assert jax.grad(lambda z: jnp.sum(jaxloss.ctc(z, labels)))(low).dtype == dtype


@pytest.mark.parametrize("dtype", [jnp.int8, jnp.uint8, jnp.int16, jnp.uint16])
def test_narrow_integer_labels_equal_int32_labels(dtype):
    # Labels are widened before any comparison: int8 labels against K = 130
    # classes (130 does not fit in int8), labels up to the largest the dtype holds.
    rng = np.random.default_rng(16)
    batch, time, classes = 3, 8, 130
    logits = jnp.asarray(rng.normal(size=(batch, time, classes)), jnp.float32)
    high = min(classes, int(jnp.iinfo(dtype).max) + 1)
    labels = jnp.asarray([[high - 1, 5, 1, 0], [100 % high, 127 % high, 3, 9], [1, 2, 1, 2]], jnp.int32)
    label_pad = jnp.asarray([[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]], jnp.float32)
    f = lambda z, y: jaxloss.ctc(z, y, label_paddings=label_pad)  # noqa: E731
    want = f(logits, labels)
    got = f(logits, labels.astype(dtype))
    np.testing.assert_array_equal(got, want)
    assert np.all(np.isfinite(np.asarray(got)))
    g_want = jax.grad(lambda z: jnp.sum(f(z, labels)))(logits)
    g_got = jax.grad(lambda z: jnp.sum(f(z, labels.astype(dtype))))(logits)
    np.testing.assert_array_equal(g_got, g_want)


def test_float64_stays_float64():
    rng = np.random.default_rng(10)
    logits, labels, frame_pad, label_pad = _random_case(rng, batch=4, time=5)
    with jax.enable_x64(True):
        out = jaxloss.ctc(logits.astype(np.float64), labels, logit_paddings=frame_pad, label_paddings=label_pad)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, _brute_batch(logits, labels, frame_pad, label_pad), rtol=1e-12)


def test_scan_is_not_unrolled():
    # The program does not grow with T: T in the hundreds compiles like T = 4.
    labels = np.ones((2, 3), np.int32)
    text = lambda t: str(jax.make_jaxpr(jax.grad(lambda z: jnp.sum(jaxloss.ctc(z, labels))))(jnp.zeros((2, t, 5))))
    long, short = text(400), text(4)
    assert "length=400" in long
    assert long.count(" exp ") == short.count(" exp ") > 0
    out = ctc_jit(jnp.zeros((2, 400, 5)), labels)
    assert np.all(np.isfinite(out))


# --------------------------------------------------------------------------
# derivatives and edges
# --------------------------------------------------------------------------


def _grad_case():
    logits = np.random.default_rng(11).normal(size=(3, 5, 3))
    labels = np.array([[1, 1, 0], [1, 2, 1], [2, 2, 0]])
    frame_pad = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 1, 0, 0, 1]])
    label_pad = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 1]])
    return logits, labels, frame_pad, label_pad


def test_check_grads():
    logits, labels, frame_pad, label_pad = _grad_case()
    fn = jax.jit(lambda z: jaxloss.ctc(z, labels, logit_paddings=frame_pad, label_paddings=label_pad))
    check_grads_x64(fn, (logits,), order=1)
    # Second order on a smaller case (the states no path reaches yet are -inf).
    fn2 = jax.jit(lambda z: jaxloss.ctc(z, labels[1:], logit_paddings=frame_pad[1:], label_paddings=label_pad[1:]))
    check_grads_x64(fn2, (logits[1:],), order=2)


def test_gradient_is_posterior_minus_softmax_identity():
    # Each unpadded frame's gradient sums to 0 over classes (it is
    # softmax - posterior), and padded frames get exactly 0.
    logits, labels, frame_pad, label_pad = _grad_case()
    grad = jax.grad(lambda z: jnp.sum(jaxloss.ctc(z, labels, logit_paddings=frame_pad, label_paddings=label_pad)))(
        logits.astype(np.float32)
    )
    np.testing.assert_allclose(np.sum(grad, -1), 0.0, atol=1e-6)
    assert np.all(np.asarray(grad)[frame_pad.astype(bool)] == 0.0)


def test_extreme_logits_finite_values_gradients_hessians():
    rng = np.random.default_rng(12)
    logits = rng.choice(EXTREME_LOGITS, size=(4, 6, 3))
    logits[..., 0] = 0.0  # the blank is always possible: every row is feasible
    labels = np.array([[1, 2], [1, 1], [2, 1], [2, 2]])
    fn = lambda z, y=labels: jaxloss.ctc(z, y)
    value = fn(logits)
    assert_all_finite(value)
    assert_all_finite(jax.grad(lambda z: jnp.sum(fn(z)))(logits), "gradient")
    assert_all_finite(jax.hessian(lambda z: jnp.sum(fn(z, labels[1:2])))(logits[1:2, :4]), "hessian")
    # Huge tied logits: still the uniform answer.
    tied = jaxloss.ctc(np.full((1, 4, 3), 1e30, np.float32), np.array([[1, 2]]))
    np.testing.assert_allclose(tied, -np.log(15 / 81), rtol=RTOL)


def test_minus_inf_logits():
    # A -inf logit for a class the labelling never needs changes nothing
    # finite; one for a needed class everywhere makes the row infeasible.
    rng = np.random.default_rng(13)
    logits = rng.normal(size=(2, 5, 4)).astype(np.float32)
    logits[:, :, 3] = -np.inf
    labels = np.array([[1, 2], [1, 3]])
    fn = lambda z, zi=False: jaxloss.ctc(z, labels, zero_infinity=zi)
    value = fn(logits)
    finite_only = jaxloss.ctc(logits[..., :3], np.array([[1, 2], [1, 2]]))
    np.testing.assert_allclose(value[0], finite_only[0], rtol=RTOL)
    assert value[1] == np.inf
    for zi in (False, True):
        grad = jax.grad(lambda z, zi=zi: jnp.sum(fn(z, zi)))(logits)
        assert_all_finite(grad, "gradient")
        assert np.all(np.asarray(grad)[1] == 0.0)
        assert np.all(np.asarray(grad)[:, :, 3] == 0.0)
    assert fn(logits, True)[1] == 0.0


def test_infeasible_rows_inf_or_zero_with_zero_gradient():
    rng = np.random.default_rng(14)
    logits = rng.normal(size=(3, 4, 3)).astype(np.float32)
    labels = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 0]])  # needs 5, 3 and 3 frames
    label_pad = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1]])
    frame_pad = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]])
    for zero_infinity, bad in ((False, np.inf), (True, 0.0)):
        fn = lambda z, zi=zero_infinity: jaxloss.ctc(
            z, labels, logit_paddings=frame_pad, label_paddings=label_pad, zero_infinity=zi
        )
        value = fn(logits)
        np.testing.assert_array_equal(np.asarray(value)[[0, 2]], [bad, bad])
        np.testing.assert_allclose(value[1], np_ctc_brute(logits[1], labels[1], np.ones(4), 3), rtol=RTOL)
        grad = np.asarray(jax.grad(lambda z, f=fn: jnp.sum(f(z)))(logits))
        assert np.all(grad[[0, 2]] == 0.0)
        assert_all_finite(grad, "gradient")
        assert np.any(grad[1] != 0.0)


def test_out_of_range_label_gives_nan_for_its_row_only():
    logits = np.zeros((3, 4, 3), np.float32)
    labels = np.array([[1, 3], [1, 2], [1, -1]])
    label_pad = np.array([[0, 0], [0, 0], [0, 1]])  # row 2's -1 is padding: fine
    fn = lambda z, y=labels, p=label_pad: jaxloss.ctc(z, y, label_paddings=p)
    out = fn(logits)
    assert np.isnan(out[0]) and np.all(np.isfinite(out[1:]))
    assert_all_finite(jax.grad(lambda z: jnp.sum(fn(z)[1:]))(logits), "gradient")
    err, _ = checkify.checkify(fn, errors=checkify.user_checks)(logits)
    with pytest.raises(checkify.JaxRuntimeError, match="labels"):
        err.throw()
    err, _ = checkify.checkify(fn, errors=checkify.user_checks)(logits[1:], labels[1:], label_pad[1:])
    err.throw()  # nothing out of range among the used labels


# --------------------------------------------------------------------------
# trace-time errors
# --------------------------------------------------------------------------

Z = np.zeros((2, 4, 3), np.float32)
Y = np.ones((2, 2), np.int32)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: jaxloss.ctc(Z, Y.astype(np.float32)), TypeError, "`labels`"),
        (lambda: jaxloss.ctc(Z.astype(np.int32), Y), TypeError, "`logits`"),
        (lambda: jaxloss.ctc(Z[0], Y), ValueError, "`logits`.*3-D"),
        (lambda: jaxloss.ctc(Z[None], Y), ValueError, "`logits`.*3-D"),
        (lambda: jaxloss.ctc(Z, Y[0]), ValueError, "`labels`.*2-D"),
        (lambda: jaxloss.ctc(Z, np.ones((3, 2), np.int32)), ValueError, "batch size"),
        (lambda: jaxloss.ctc(Z, Y, logit_paddings=np.zeros((2, 5))), ValueError, "`logit_paddings`"),
        (lambda: jaxloss.ctc(Z, Y, label_paddings=np.zeros((3, 2))), ValueError, "`label_paddings`"),
        (lambda: jaxloss.ctc(Z, Y, label_paddings=np.zeros((2, 2), complex)), TypeError, "`label_paddings`"),
        (lambda: jaxloss.ctc(Z, Y, blank_id=3), ValueError, "`blank_id`.*got 3"),
        (lambda: jaxloss.ctc(Z, Y, blank_id=-1), ValueError, "`blank_id`"),
        (lambda: jaxloss.ctc(Z, Y, blank_id=1.0), TypeError, "`blank_id`"),
        (lambda: jaxloss.ctc(Z, Y, zero_infinity=None), TypeError, "`zero_infinity`"),
    ],
)
def test_errors_at_trace_time(call, error, match):
    with pytest.raises(error, match=match):
        call()
