"""jaxloss.reduce: every reduction, weights, masks, zero denominators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

LOSSES = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
WEIGHTS = np.array([[0.5], [2.0]], np.float32)


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        ("sum", (0.5 * 6 + 2 * 15)),
        ("mean", (0.5 * 6 + 2 * 15) / 6),
        ("weighted_mean", (0.5 * 6 + 2 * 15) / (0.5 * 3 + 2 * 3)),
        ("sum_by_nonzero_weights", (0.5 * 6 + 2 * 15) / 6),
    ],
)
def test_weighted_reductions(reduction, expected):
    out = jaxloss.reduce(LOSSES, WEIGHTS, reduction=reduction)
    assert out.shape == ()
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_none_returns_weighted_losses():
    np.testing.assert_allclose(jaxloss.reduce(LOSSES, WEIGHTS, reduction="none"), LOSSES * WEIGHTS)


def test_sum_by_nonzero_weights_counts_nonzero():
    w = np.array([[0.0, 1.0, 3.0], [0.0, 0.0, 2.0]], np.float32)
    expected = (2 * 1 + 3 * 3 + 6 * 2) / 3
    np.testing.assert_allclose(jaxloss.reduce(LOSSES, w, reduction="sum_by_nonzero_weights"), expected, rtol=1e-6)


def test_mean_counts_only_unmasked_entries():
    where = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_allclose(jaxloss.reduce(LOSSES, where=where), (1 + 3 + 6) / 3, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum_by_nonzero_weights", "sum"])
def test_zero_denominator_gives_zero_not_nan(reduction):
    zeros = np.zeros_like(LOSSES)
    assert float(jaxloss.reduce(LOSSES, zeros, reduction=reduction)) == 0.0
    assert float(jaxloss.reduce(LOSSES, where=np.zeros(LOSSES.shape, bool), reduction=reduction)) == 0.0
    g = jax.grad(lambda l: jaxloss.reduce(l, zeros, reduction=reduction))(jnp.asarray(LOSSES))
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum_by_nonzero_weights", "sum", "none"])
def test_masked_nan_never_reaches_value_or_gradient(reduction):
    bad = LOSSES.copy()
    bad[0, 1] = np.nan
    bad[1, 0] = np.inf
    w = np.ones_like(bad)
    w[0, 1] = np.nan
    where = np.isfinite(bad)
    clean = np.where(where, LOSSES, 0.0)
    out = jaxloss.reduce(bad, w, reduction=reduction, where=where)
    ref = jaxloss.reduce(clean, np.where(where, 1.0, 0.0).astype(np.float32), reduction=reduction, where=where)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    g_l, g_w = jax.grad(lambda l, w: jnp.sum(jaxloss.reduce(l, w, reduction=reduction, where=where)), argnums=(0, 1))(
        jnp.asarray(bad), jnp.asarray(w)
    )
    assert np.all(np.isfinite(g_l)) and np.all(np.isfinite(g_w))
    assert g_l[0, 1] == 0 and g_l[1, 0] == 0 and g_w[0, 1] == 0


def test_zero_weight_drops_infinite_loss():
    losses = np.array([1.0, np.inf], np.float32)
    w = np.array([1.0, 0.0], np.float32)
    assert float(jaxloss.reduce(losses, w, reduction="sum")) == 1.0
    g = jax.grad(lambda l: jaxloss.reduce(l, w, reduction="sum"))(jnp.asarray(losses))
    np.testing.assert_array_equal(g, [1.0, 0.0])


def test_permutation_invariance_and_linearity():
    rng = np.random.default_rng(0)
    l = rng.random(16).astype(np.float32)
    w = rng.random(16).astype(np.float32)
    perm = rng.permutation(16)
    for red in ("sum", "mean", "weighted_mean", "sum_by_nonzero_weights"):
        np.testing.assert_allclose(
            jaxloss.reduce(l, w, reduction=red), jaxloss.reduce(l[perm], w[perm], reduction=red), rtol=1e-6
        )
    np.testing.assert_allclose(
        jaxloss.reduce(l, 3 * w, reduction="sum"), 3 * jaxloss.reduce(l, w, reduction="sum"), rtol=1e-6
    )


def test_jit_and_16bit():
    f = jax.jit(lambda l, w: jaxloss.reduce(l, w, reduction="weighted_mean"))
    np.testing.assert_allclose(f(LOSSES, WEIGHTS), jaxloss.reduce(LOSSES, WEIGHTS, reduction="weighted_mean"))
    out = jaxloss.reduce(LOSSES.astype(jnp.bfloat16), reduction="sum")
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, 21.0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`reduction`"):
        jaxloss.reduce(LOSSES, reduction="average")
    with pytest.raises(ValueError, match="`weights`"):
        jaxloss.reduce(LOSSES, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="`where`"):
        jaxloss.reduce(LOSSES, where=np.ones((4,), bool))
    with pytest.raises(TypeError, match="`where`"):
        jaxloss.reduce(LOSSES, where=np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="`losses`"):
        jaxloss.reduce(np.ones(3, np.int32))
