"""Tests of ``return_stats=True`` (``jaxloss.HeadStats``) on the fused cross-entropy and its sharded twin.

``fused_linear_cross_entropy(..., return_stats=True)`` returns ``(loss,
HeadStats(logsumexp, predicted, correct))``: per token, the log-sum-exp of
the (soft-capped) logits, the first index of their maximum (int32) and
whether it is the label (bool, ``False`` where ignored), shaped like the
labels. Checked against the materialised logits under every reduction,
with and without per-token ``weights`` and ``class_weights``, with
``ignore_index``; the loss and its gradients must not change, and no
gradient flows through the statistics. (The loss itself against the
unfused computation, weights and class weights included, is
``tests/test_fused.py``'s.) The sharded function runs in a subprocess on 8
host CPU devices and must equal the unsharded one.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, D, V = 24, 8, 40
IGNORE = -100
IGNORED = (2, 7, 11)
REDUCTIONS = ("none", "sum", "mean", "weighted_mean", "sum_by_nonzero_weights")
OPTIONS = dict(ignore_index=IGNORE, label_smoothing=0.1, z_loss=1e-2, logit_soft_cap=2.5)
ZERO_ROW, ONE_HOT_ROW = 5, 6  # rows whose logits tie exactly (see make_inputs)


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    # Compilation dominates this file's time; XLA's optimisations do not change the values.
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def make_inputs(seed=0, ignored=IGNORED):
    """Random head inputs with exact ties and with some labels equal to the argmax.

    Row ``ZERO_ROW`` of ``hidden`` is 0, so its logits are the bias, whose
    maximum is held by classes 3 and 17; row ``ONE_HOT_ROW`` is ``e_0``, so
    its logits are ``weight[0] + bias`` exactly, whose maximum is held by
    classes 25 and 36. (On 4 vocabulary shards of 10 classes, each tie
    spans two shards.)
    """
    k = jax.random.split(jax.random.key(seed), 6)
    hidden = jax.random.normal(k[0], (N, D))
    weight = jax.random.normal(k[1], (D, V)) * (2.0 / np.sqrt(D))
    bias = 0.5 * jax.random.normal(k[2], (V,))
    hidden = hidden.at[ZERO_ROW].set(0.0).at[ONE_HOT_ROW].set(jnp.zeros(D).at[0].set(1.0))
    bias = bias.at[jnp.array([3, 17])].set(5.0).at[jnp.array([25, 36])].set(0.25)
    weight = weight.at[0, jnp.array([25, 36])].set(10.0)
    labels = jax.random.randint(k[3], (N,), 0, V)
    # Half of the tokens predicted right.
    argmax = jnp.argmax(logits(hidden, weight, bias, OPTIONS["logit_soft_cap"]), axis=-1)
    labels = jnp.where(jnp.arange(N) % 2 == 0, argmax, labels)
    for i in ignored:
        labels = labels.at[i].set(IGNORE)
    cotangent = jax.random.uniform(k[4], (N,), minval=0.5, maxval=1.5)
    return hidden, weight, bias, labels, cotangent


def make_weights(seed=20):
    k = jax.random.split(jax.random.key(seed), 2)
    weights = jax.random.uniform(k[0], (N,), minval=0.2, maxval=2.0).at[jnp.array([0, 9])].set(0.0)
    class_weights = jax.random.uniform(k[1], (V,), minval=0.1, maxval=3.0).at[4].set(0.0)
    return weights, class_weights


def logits(hidden, weight, bias, cap):
    z = jnp.einsum("...d,dv->...v", hidden, weight)
    z = z + bias.reshape((1,) * (z.ndim - 1) + bias.shape)
    return z if cap is None else cap * jnp.tanh(z / cap)


def reference_stats(hidden, weight, bias, labels, cap, ignore_index=IGNORE):
    """``HeadStats`` of the materialised (soft-capped) logits, as numpy, every token."""
    z = logits(hidden, weight, bias, cap)
    lse = jax.nn.logsumexp(z, axis=-1)
    predicted = jnp.argmax(z, axis=-1)
    correct = (predicted == labels) & (labels != ignore_index)
    return np.asarray(lse), np.asarray(predicted), np.asarray(correct)


def _weight_args(which):
    weights, class_weights = make_weights()
    return {
        "plain": {},
        "weights": {"weights": weights},
        "class_weights": {"class_weights": class_weights},
        "both": {"weights": weights, "class_weights": class_weights},
    }[which]


def value_and_grads(hidden, weight, bias, labels, cotangent, reduction, *, return_stats, **options):
    """The loss (and stats), and the gradients of a cotangent-weighted scalar of it, under jit."""
    token_weights = options.pop("weights", None)

    def scalar(h, w, b, t):
        extra = {} if t is None else {"weights": t}
        out = jaxloss.fused_linear_cross_entropy(
            h, w, labels, bias=b, reduction=reduction, return_stats=return_stats, **extra, **options
        )
        loss = out[0] if return_stats else out
        obj = jnp.sum(loss * cotangent) if reduction == "none" else 1.7 * loss
        return obj, out

    argnums = (0, 1, 2) if token_weights is None else (0, 1, 2, 3)
    (_, out), grads = jax.jit(jax.value_and_grad(scalar, argnums=argnums, has_aux=True))(
        hidden, weight, bias, token_weights
    )
    return out, grads


def assert_stats(stats, want, keep, what):
    lse, predicted, correct = stats
    want_lse, want_predicted, want_correct = want
    assert isinstance(stats, jaxloss.HeadStats), type(stats)
    assert lse.dtype == jnp.float32 and predicted.dtype == jnp.int32 and correct.dtype == jnp.bool_, what
    assert lse.shape == predicted.shape == correct.shape == want_lse.shape, what
    np.testing.assert_allclose(np.asarray(lse)[keep], want_lse[keep], rtol=1e-5, atol=1e-6, err_msg=f"{what} lse")
    np.testing.assert_array_equal(np.asarray(predicted)[keep], want_predicted[keep], err_msg=f"{what} predicted")
    np.testing.assert_array_equal(np.asarray(correct), want_correct, err_msg=f"{what} correct")


# --------------------------------------------------------------------------
# statistics against the materialised logits; the loss unchanged
# --------------------------------------------------------------------------

_CASES = [(r, w) for r in REDUCTIONS for w in ("plain", "weights", "class_weights", "both")]


@pytest.mark.parametrize("reduction, which", _CASES, ids=["-".join(c) for c in _CASES])
def test_stats_match_materialised_and_leave_the_loss_alone(reduction, which):
    from tests.test_fused import reference

    h, w, b, y, ct = make_inputs(seed=1)
    options = dict(OPTIONS, chunk_size=5, **_weight_args(which))
    (loss, stats), grads = value_and_grads(h, w, b, y, ct, reduction, return_stats=True, **options)
    plain_loss, plain_grads = value_and_grads(h, w, b, y, ct, reduction, return_stats=False, **options)
    # The loss and every gradient (hidden, weight, bias, token weights) as without stats.
    assert loss.dtype == plain_loss.dtype and loss.shape == plain_loss.shape
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-6, atol=1e-7)
    assert len(grads) == len(plain_grads)
    for a, e in zip(grads, plain_grads, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)
    # ... and the unfused loss.
    np.testing.assert_allclose(loss, reference(h, w, y, bias=b, reduction=reduction, **options), rtol=2e-5, atol=2e-5)
    keep = np.asarray(y) != IGNORE
    assert_stats(stats, reference_stats(h, w, b, y, OPTIONS["logit_soft_cap"]), keep, f"{reduction} {which}")
    assert np.any(np.asarray(stats.correct)) and not np.all(np.asarray(stats.correct)[keep])


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_stats_of_ignored_tokens_are_of_their_own_logits(reduction):
    # "Every token has one, ignored or not": an ignored token's logsumexp and
    # argmax are those of its own logits (finite here), not of a zeroed row;
    # only `correct` is False.
    h, w, b, y, _ = make_inputs(seed=2)
    _, stats = jaxloss.fused_linear_cross_entropy(
        h, w, y, bias=b, reduction=reduction, return_stats=True, chunk_size=5, **OPTIONS
    )
    want_lse, want_predicted, _ = reference_stats(h, w, b, y, OPTIONS["logit_soft_cap"])
    ignored = list(IGNORED)
    np.testing.assert_allclose(
        np.asarray(stats.logsumexp)[ignored], want_lse[ignored], rtol=1e-5, err_msg="logsumexp of ignored tokens"
    )
    np.testing.assert_array_equal(
        np.asarray(stats.predicted)[ignored], want_predicted[ignored], err_msg="predicted of ignored tokens"
    )
    assert not np.any(np.asarray(stats.correct)[ignored])


@pytest.mark.parametrize("layout, reduction", [("DV", "none"), ("VD", "mean"), ("DV", "weighted_mean")])
def test_ties_give_the_first_index(layout, reduction):
    h, w, b, y, _ = make_inputs(seed=3)
    z = logits(h, w, b, OPTIONS["logit_soft_cap"])
    # The ties are exact.
    assert float(z[ZERO_ROW, 3]) == float(z[ZERO_ROW, 17]) == float(jnp.max(z[ZERO_ROW]))
    assert float(z[ONE_HOT_ROW, 25]) == float(z[ONE_HOT_ROW, 36]) == float(jnp.max(z[ONE_HOT_ROW]))
    y = y.at[ZERO_ROW].set(17).at[ONE_HOT_ROW].set(25)  # the second of a tie is wrong, the first right
    weight = w if layout == "DV" else jnp.asarray(w.T)
    for chunk in (5, 1, None):
        _, stats = jaxloss.fused_linear_cross_entropy(
            h,
            weight,
            y,
            bias=b,
            reduction=reduction,
            return_stats=True,
            weight_layout=layout,
            chunk_size=chunk,
            **OPTIONS,
        )
        assert int(stats.predicted[ZERO_ROW]) == 3 and int(stats.predicted[ONE_HOT_ROW]) == 25
        assert not bool(stats.correct[ZERO_ROW]) and bool(stats.correct[ONE_HOT_ROW])


def test_logsumexp_without_soft_cap_and_with_minus_inf_bias():
    # The logsumexp is of the logits the softmax sees: uncapped here, and over
    # the finite classes only (a -inf bias entry, a padded vocabulary, which is
    # never predicted).
    h, w, b, y, _ = make_inputs(seed=4)
    padded = jnp.array([0, 13, 39])
    b = b.at[padded].set(-jnp.inf)
    y = jnp.where(jnp.isin(y, padded), 1, y)
    h = h.at[ZERO_ROW].set(1.0)  # no all-bias row here: the -inf entries stay out of every argmax anyway
    options = {k: v for k, v in OPTIONS.items() if k != "logit_soft_cap"}
    for reduction in ("none", "sum"):
        _, stats = jaxloss.fused_linear_cross_entropy(
            h, w, y, bias=b, reduction=reduction, return_stats=True, chunk_size=5, **options
        )
        want = reference_stats(h, w, b, y, None)
        assert np.all(np.isfinite(want[0]))
        assert_stats(stats, want, np.asarray(y) != IGNORE, f"-inf bias {reduction}")
        assert not np.any(np.isin(np.asarray(stats.predicted), np.asarray(padded)))


@pytest.mark.parametrize("reduction", ["none", "mean", "weighted_mean"])
def test_stats_carry_no_gradient(reduction):
    h, w, b, y, ct = make_inputs(seed=5)
    weights, class_weights = make_weights()

    def call(h, w, b, t):
        return jaxloss.fused_linear_cross_entropy(
            h,
            w,
            y,
            bias=b,
            weights=t,
            class_weights=class_weights,
            reduction=reduction,
            return_stats=True,
            chunk_size=5,
            **OPTIONS,
        )

    def stats_only(h, w, b, t):
        _, stats = call(h, w, b, t)
        return jnp.sum(stats.logsumexp**2) + jnp.sum(stats.predicted.astype(jnp.float32))

    def loss_plus_stats(h, w, b, t):
        loss, stats = call(h, w, b, t)
        return jnp.sum(loss * ct) + jnp.sum(stats.logsumexp) + jnp.sum(stats.correct.astype(jnp.float32))

    def loss_only(h, w, b, t):
        return jnp.sum(call(h, w, b, t)[0] * ct)

    grad = lambda f: jax.jit(jax.grad(f, argnums=(0, 1, 2, 3)))(h, w, b, weights)  # noqa: E731
    for g in grad(stats_only):
        assert not np.any(np.asarray(g))
    for a, e in zip(grad(loss_plus_stats), grad(loss_only), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_shapes_follow_labels_and_vmap():
    h, w, b, y, _ = make_inputs(seed=6)
    h3, y3 = h.reshape(3, 8, D), y.reshape(3, 8)
    fn = lambda h, y: jaxloss.fused_linear_cross_entropy(  # noqa: E731
        h, jnp.asarray(w.T), y, bias=b, weight_layout="VD", return_stats=True, chunk_size=3, **OPTIONS
    )
    loss, stats = jax.jit(fn)(h3, y3)
    assert loss.shape == (3, 8)
    for leaf in stats:
        assert leaf.shape == (3, 8)
    flat = jax.jit(fn)(h, y)[1]
    batched = jax.jit(jax.vmap(fn))(h3, y3)[1]
    for a, e, v in zip(stats, flat, batched, strict=True):
        np.testing.assert_array_equal(np.asarray(a).reshape(-1), np.asarray(e))
        # vmap may reorder a sum (one ulp of the log-sum-exp); the integer statistics are exact.
        np.testing.assert_allclose(np.asarray(v), np.asarray(a), rtol=1e-6, atol=0)
    # Accuracy over the tokens kept, as a training loop logs it.
    keep = np.asarray(y3) != IGNORE
    want = reference_stats(h3, w, b, y3, OPTIONS["logit_soft_cap"])
    assert float(jnp.sum(stats.correct)) / keep.sum() == float(np.sum(want[2])) / keep.sum()


def test_return_stats_must_be_a_bool():
    h, w, b, y, _ = make_inputs(seed=7)
    for value in (1, "yes", None):
        with pytest.raises(TypeError, match="`return_stats`"):
            jaxloss.fused_linear_cross_entropy(h, w, y, return_stats=value)


# --------------------------------------------------------------------------
# sharded: a subprocess on 8 host CPU devices
# --------------------------------------------------------------------------


def test_sharded_matches_unsharded():
    from tests.test_sharding import run_case

    run_case("tests.test_head_stats", "sharded")


def _check_sharded(mesh, token_axis, layout, reduction, which):
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    h, w, b, y, ct = make_inputs(seed=8)
    if layout == "VD":
        w = jnp.asarray(w.T)
    extra = _weight_args(which)
    put = lambda x, *spec: jax.device_put(x, NamedSharding(mesh, P(*spec)))  # noqa: E731
    h_s, y_s, ct_s = put(h, token_axis, None), put(y, token_axis), put(ct, token_axis)
    w_s = put(w, None, "model") if layout == "DV" else put(w, "model", None)
    b_s = put(b, "model")
    extra_s = {k: put(x, token_axis if k == "weights" else "model") for k, x in extra.items()}
    opts = dict(OPTIONS, chunk_size=5, weight_layout=layout, reduction=reduction, return_stats=True)

    def run(fn, h, w, b, y, ct, extra):
        def scalar(h, w, b, t):
            kw = dict(extra, **({} if t is None else {"weights": t}))
            loss, stats = fn(h, w, y, bias=b, **kw, **opts)
            return (jnp.sum(loss * ct) if reduction == "none" else 1.7 * loss), (loss, stats)

        t = extra.pop("weights", None)
        argnums = (0, 1, 2) if t is None else (0, 1, 2, 3)
        return jax.jit(jax.value_and_grad(scalar, argnums=argnums, has_aux=True))(h, w, b, t)

    def sharded(*args, **kw):
        return jaxloss.sharded_fused_linear_cross_entropy(
            *args, mesh=mesh, vocab_axis="model", token_axis=token_axis, **kw
        )

    (_, (loss, stats)), grads = run(sharded, h_s, w_s, b_s, y_s, ct_s, dict(extra_s))
    (_, (want_loss, want_stats)), want_grads = run(jaxloss.fused_linear_cross_entropy, h, w, b, y, ct, dict(extra))
    what = f"sharded token_axis={token_axis} {layout} {reduction} {which}"
    assert isinstance(stats, jaxloss.HeadStats), what
    np.testing.assert_allclose(loss, want_loss, rtol=2e-5, atol=2e-6, err_msg=what)
    for a, e in zip(grads, want_grads, strict=True):
        scale = max(1.0, float(jnp.max(jnp.abs(e))))
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6 * scale, err_msg=what + " grads")
    assert grads[1].sharding.is_equivalent_to(w_s.sharding, 2), what
    np.testing.assert_allclose(stats.logsumexp, want_stats.logsumexp, rtol=1e-6, atol=1e-6, err_msg=what)
    for name in ("predicted", "correct"):
        a, e = getattr(stats, name), getattr(want_stats, name)
        assert a.dtype == e.dtype, (what, name, a.dtype, e.dtype)
        np.testing.assert_array_equal(a, e, err_msg=f"{what} {name}")
    # The ties across shards: the first index.
    assert int(stats.predicted[ZERO_ROW]) == 3 and int(stats.predicted[ONE_HOT_ROW]) == 25, what
    # And the materialised statistics.
    w_dv = w if layout == "DV" else w.T
    keep = np.asarray(y) != IGNORE
    assert_stats(stats, reference_stats(h, w_dv, b, y, OPTIONS["logit_soft_cap"]), keep, what)


def _main(case: str) -> None:
    from jax.sharding import Mesh

    devices = jax.devices()
    assert len(devices) == 8, f"expected 8 host devices, got {len(devices)} (XLA_FLAGS not set before import?)"
    mesh = Mesh(np.array(devices).reshape(2, 4), ("data", "model"))  # 12 tokens, 10 classes per device
    if case == "sharded":
        _check_sharded(mesh, "data", "DV", "none", "plain")
        _check_sharded(mesh, "data", "VD", "weighted_mean", "both")
        _check_sharded(mesh, None, "DV", "sum_by_nonzero_weights", "both")
        _check_sharded(mesh, None, "VD", "mean", "plain")
    else:
        raise SystemExit(f"unknown case {case!r}")
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
