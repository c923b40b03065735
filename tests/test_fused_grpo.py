"""``fused_linear_grpo``: the GRPO loss on fused log-probs equals it on materialised logits.

Values and gradients (``hidden``, ``weight``, ``bias``) against ``jaxloss.grpo`` of
``log_softmax(hidden @ weight + bias)`` gathered at the labels (float64), for
several loss types, both importance-sampling levels, the KL term, a
temperature and both weight layouts; masked tokens holding ``nan`` and ``-100``;
the single-sequence form; errors; the temp memory; and the section-6 layouts
(NamedSharding, a user's ``shard_map`` with ``check_vma=True``,
``jax.checkpoint``, ``lax.scan`` accumulation, ``vmap``) on 8 host devices in a
subprocess (``python -m tests.test_fused_grpo <case>``).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from tests.test_sharding import run_case

B, T, D, V = 3, 7, 5, 40
CHUNK = 4  # several chunks and a tail


def _inputs(seed=0, dtype=jnp.float32, layout="DV"):
    ks = jax.random.split(jax.random.key(seed), 8)
    hidden = jax.random.normal(ks[0], (B, T, D), dtype)
    weight = jax.random.normal(ks[1], (D, V) if layout == "DV" else (V, D), dtype) / np.sqrt(D)
    bias = 0.1 * jax.random.normal(ks[2], (V,), dtype)
    labels = jax.random.randint(ks[3], (B, T), 0, V)
    mask = jnp.arange(T)[None, :] < jnp.array([T, 4, 2])[:, None]
    adv = jax.random.normal(ks[4], (B,), dtype)
    ref = -3.0 + 0.5 * jax.random.normal(ks[5], (B, T), dtype)
    return hidden, weight, bias, labels, mask, adv, ref, ks[6]


def _materialised_log_probs(hidden, weight, bias, labels, layout="DV", temperature=1.0):
    w = weight if layout == "DV" else weight.T
    z = hidden @ w
    z = z + jnp.broadcast_to(jnp.asarray(bias, z.dtype), z.shape)
    logp = jax.nn.log_softmax(z / temperature, axis=-1)
    return jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]


CONFIGS = [
    dict(loss_type="dapo"),
    dict(loss_type="grpo", beta=0.04),
    dict(loss_type="bnpo", epsilon=0.1, epsilon_high=0.3),
    dict(loss_type="dr_grpo", max_completion_length=T, beta=0.04, use_bias_correction_kl=False),
    dict(loss_type="grpo", importance_sampling_level="sequence"),
    dict(loss_type="cispo", epsilon_high=1.5),
    dict(loss_type="sapo"),
    dict(loss_type="luspo", delta=1.2),
]


@pytest.mark.parametrize("layout", ["DV", "VD"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_equals_materialised(config, layout):
    hidden, weight, bias, labels, mask, adv, ref, key = _inputs(layout=layout)
    temperature = 0.7
    with jax.enable_x64(True):
        args64 = [jnp.asarray(x, jnp.float64) for x in (hidden, weight, bias)]
        lp = _materialised_log_probs(*args64, labels, layout, temperature)
        old = jax.lax.stop_gradient(lp) + 0.2 * jax.random.normal(key, (B, T), jnp.float64)
        ref64 = jnp.asarray(ref, jnp.float64)

        def want_fn(h, w, b):
            lp = _materialised_log_probs(h, w, b, labels, layout, temperature)
            return jaxloss.grpo(lp, old, adv.astype(jnp.float64), where=mask, ref_log_probs=ref64, **config)

        want = jax.value_and_grad(want_fn, argnums=(0, 1, 2))(*args64)
        want = jax.tree.map(np.asarray, want)
    old32 = jnp.asarray(old, jnp.float32)

    def got_fn(h, w, b):
        return jaxloss.fused_linear_grpo(
            h,
            w,
            labels,
            old32,
            adv,
            where=mask,
            ref_log_probs=ref,
            bias=b,
            temperature=temperature,
            chunk_size=CHUNK,
            weight_layout=layout,
            **config,
        )

    got = jax.jit(jax.value_and_grad(got_fn, argnums=(0, 1, 2)))(hidden, weight, bias)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-5, atol=2e-6)
    assert np.any(np.asarray(got[1][1]) != 0)  # the test can fail: there is a gradient


def test_on_policy_old_log_probs_none():
    hidden, weight, bias, labels, mask, adv, _, _ = _inputs(1)

    def got_fn(h, w):
        return jaxloss.fused_linear_grpo(h, w, labels, None, adv, where=mask, chunk_size=CHUNK)

    def want_fn(h, w):
        return jaxloss.grpo(_materialised_log_probs(h, w, 0.0, labels), None, adv, where=mask)

    got = jax.value_and_grad(got_fn, argnums=(0, 1))(hidden, weight)
    want = jax.value_and_grad(want_fn, argnums=(0, 1))(hidden, weight)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_masked_tokens_hold_garbage():
    """Prompt/padding tokens with nan hidden states, -100 labels and nan old log-probs: no trace of them."""
    hidden, weight, bias, labels, mask, adv, ref, _ = _inputs(2)
    old = ref + 0.1
    dirty_h = jnp.where(mask[..., None], hidden, jnp.nan)
    dirty_y = jnp.where(mask, labels, -100)
    dirty_old = jnp.where(mask, old, jnp.nan)

    def fn(h, w, b, y, o):
        return jaxloss.fused_linear_grpo(
            h, w, y, o, adv, where=mask, bias=b, chunk_size=CHUNK, beta=0.04, ref_log_probs=ref
        )

    grad = jax.value_and_grad(fn, argnums=(0, 1, 2))
    clean = grad(hidden, weight, bias, labels, old)
    dirty = grad(dirty_h, weight, bias, dirty_y, dirty_old)
    for c, d in zip(jax.tree.leaves(clean), jax.tree.leaves(dirty), strict=True):
        assert np.all(np.isfinite(d))
        np.testing.assert_allclose(d, c, rtol=1e-6, atol=1e-7)
    # The masked tokens' hidden gradient is exactly 0.
    assert np.all(np.asarray(dirty[1][0])[~np.asarray(mask)] == 0.0)


def test_single_sequence_is_a_batch_of_one():
    hidden, weight, _, labels, mask, adv, ref, _ = _inputs(3)
    one = jaxloss.fused_linear_grpo(hidden[1], weight, labels[1], ref[1], adv[1], where=mask[1], chunk_size=CHUNK)
    batch = jaxloss.fused_linear_grpo(
        hidden[1:2], weight, labels[1:2], ref[1:2], adv[1:2], where=mask[1:2], chunk_size=CHUNK
    )
    np.testing.assert_allclose(one, batch, rtol=1e-6)
    per_token = jnp.full((T,), adv[1])
    np.testing.assert_allclose(
        jaxloss.fused_linear_grpo(hidden[1], weight, labels[1], ref[1], per_token, where=mask[1]), one, rtol=1e-6
    )


def test_bfloat16_inputs():
    hidden, weight, bias, labels, mask, adv, ref, _ = _inputs(4)
    h16, w16 = hidden.astype(jnp.bfloat16), weight.astype(jnp.bfloat16)
    got = jaxloss.fused_linear_grpo(h16, w16, labels, ref, adv, where=mask)
    want = jaxloss.grpo(
        _materialised_log_probs(h16.astype(jnp.float32), w16.astype(jnp.float32), 0.0, labels), ref, adv, where=mask
    )
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    dw = jax.grad(jaxloss.fused_linear_grpo, argnums=1)(h16, w16, labels, ref, adv, where=mask)
    assert dw.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(dw, np.float32)))


def test_errors():
    hidden, weight, _, labels, mask, adv, ref, _ = _inputs(5)
    with pytest.raises(ValueError, match="`labels`"):
        jaxloss.fused_linear_grpo(hidden, weight, labels[:, :-1], ref, adv)
    with pytest.raises(ValueError, match="`hidden`"):
        jaxloss.fused_linear_grpo(hidden[0, 0], weight, labels[0, 0], ref, adv)
    with pytest.raises(ValueError, match="`advantages`"):
        jaxloss.fused_linear_grpo(hidden[0], weight, labels[0], ref[0], adv)
    with pytest.raises(TypeError, match="`where`"):
        jaxloss.fused_linear_grpo(hidden, weight, labels, ref, adv, where=mask.astype(jnp.int32))
    with pytest.raises(ValueError, match="loss_type"):
        jaxloss.fused_linear_grpo(hidden, weight, labels, ref, adv, loss_type="nope")


def test_temp_memory_is_a_fraction_of_the_materialised():
    b, t, d, v = 4, 512, 256, 32768
    ks = jax.random.split(jax.random.key(0), 4)
    args = (
        jax.random.normal(ks[0], (b, t, d)),
        jax.random.normal(ks[1], (d, v)) / 16,
        jax.random.randint(ks[2], (b, t), 0, v),
        jnp.full((b, t), -10.0),
        jax.random.normal(ks[3], (b,)),
    )

    def fused(h, w, y, old, adv):
        return jaxloss.fused_linear_grpo(h, w, y, old, adv)

    def materialised(h, w, y, old, adv):
        return jaxloss.grpo(_materialised_log_probs(h, w, 0.0, y), old, adv)

    def temp_bytes(fn):
        compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    f, m = temp_bytes(fused), temp_bytes(materialised)
    assert m >= b * t * v * 4, m  # the materialised step really holds the logits
    assert f <= 0.10 * m, (f, m)


# --------------------------------------------------------------------------
# the section-6 layouts, on 8 host devices
# --------------------------------------------------------------------------

CASES = ["named_sharding", "user_shard_map", "checkpoint_scan_vmap"]


@pytest.mark.parametrize("case", CASES)
def test_parallel(case):
    run_case("tests.test_fused_grpo", case)


def _big_inputs():
    # 8 sequences so that every one of 8 devices has one.
    ks = jax.random.split(jax.random.key(7), 6)
    b = 8
    hidden = jax.random.normal(ks[0], (b, T, D))
    weight = jax.random.normal(ks[1], (D, V)) / np.sqrt(D)
    labels = jax.random.randint(ks[2], (b, T), 0, V)
    mask = jnp.arange(T)[None, :] < jax.random.randint(ks[3], (b,), 1, T + 1)[:, None]
    adv = jax.random.normal(ks[4], (b,))
    old = -3.0 + 0.3 * jax.random.normal(ks[5], (b, T))
    return hidden, weight, labels, mask, adv, old


def _close(got, want, what):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5, atol=2e-6, err_msg=what)


def _main(case: str) -> None:
    from jax import lax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    devices = jax.devices()
    assert len(devices) == 8, len(devices)
    hidden, weight, labels, mask, adv, old = _big_inputs()
    num_items = int(mask.sum())
    opts = dict(loss_type="dapo", beta=0.0, chunk_size=CHUNK, num_items=num_items)

    def loss(h, w, y, m, a, o):
        return jaxloss.fused_linear_grpo(h, w, y, o, a, where=m, **opts)

    want = jax.value_and_grad(loss, argnums=(0, 1))(hidden, weight, labels, mask, adv, old)
    if case == "named_sharding":
        mesh = Mesh(np.array(devices).reshape(2, 4), ("data", "model"))
        for w_spec in (P(), P(None, "model")):  # data parallel; data and vocabulary parallel
            put = lambda x, *s: jax.device_put(x, NamedSharding(mesh, P(*s)))  # noqa: E731
            args = (
                put(hidden, "data"),
                jax.device_put(weight, NamedSharding(mesh, w_spec)),
                put(labels, "data"),
                put(mask, "data"),
                put(adv, "data"),
                put(old, "data"),
            )
            got = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(*args)
            _close(got, want, f"named_sharding {w_spec}")
    elif case == "user_shard_map":
        # dapo with the global token count: each shard's loss is its share; the user psums.
        mesh = Mesh(np.array(devices), ("data",))
        specs = (P("data"), P(), P("data"), P("data"), P("data"), P("data"))

        def local(h, w, y, m, a, o):
            return lax.psum(loss(h, w, y, m, a, o), "data")

        outer = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())  # check_vma=True
        got = jax.jit(jax.value_and_grad(outer, argnums=(0, 1)))(hidden, weight, labels, mask, adv, old)
        _close(got, want, "user_shard_map grad outside")
        inner = jax.shard_map(
            lambda *a: jax.value_and_grad(local, argnums=(0, 1))(*a),
            mesh=mesh,
            in_specs=specs,
            out_specs=(P(), (P("data"), P())),
        )
        got = jax.jit(inner)(hidden, weight, labels, mask, adv, old)
        _close(got, want, "user_shard_map grad inside")
    elif case == "checkpoint_scan_vmap":
        got = jax.jit(jax.value_and_grad(jax.checkpoint(loss), argnums=(0, 1)))(hidden, weight, labels, mask, adv, old)
        _close(got, want, "checkpoint")

        # Gradient accumulation over 4 micro-batches of 2 sequences (dapo with the global count: a sum).
        def micro(carry, batch):
            value, (_, dw) = jax.value_and_grad(loss, argnums=(0, 1))(*batch)
            return (carry[0] + value, carry[1] + dw), None

        split = lambda x: x.reshape(4, 2, *x.shape[1:])  # noqa: E731
        batches = (
            split(hidden),
            jnp.broadcast_to(weight, (4, D, V)),
            split(labels),
            split(mask),
            split(adv),
            split(old),
        )
        (value, dw), _ = lax.scan(micro, (jnp.zeros(()), jnp.zeros_like(weight)), batches)
        _close((value, dw), (want[0], want[1][1]), "scan accumulation")

        # vmap over a stack of two heads (the same one twice, and a scaled one).
        ws = jnp.stack([weight, 2.0 * weight])
        got = jax.vmap(lambda w: loss(hidden, w, labels, mask, adv, old))(ws)
        _close(got[0], want[0], "vmap head 0")
        _close(got[1], loss(hidden, 2.0 * weight, labels, mask, adv, old), "vmap head 1")
    else:
        raise SystemExit(f"unknown case {case}")
    print(f"OK {case}", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1])
