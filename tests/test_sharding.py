"""Vocabulary-parallel cross-entropy on 8 host CPU devices.

Each case runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (the flag must be set
before jax is imported, and the rest of the suite keeps one device). With
``hidden`` sharded over tokens and ``weight`` (or the logits) over the
vocabulary, under ``jax.jit``, each case checks

* values and gradients equal to the unsharded, unfused computation;
* the compiled, partitioned program (``jit(f).lower(...).compile().as_text()``)
  holds no buffer with the full vocabulary as a dimension, so no device ever
  gathers the vocabulary axis (all-reduces of per-token numbers only, as in
  Megatron-LM), and, for the ``shard_map`` version, no all-gather at all.

Run one case by hand: ``python -m tests.test_sharding shard_map``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# V appears in no other dimension of these programs: N=48, D=16, chunks of 5,
# 30 classes per device on 4 vocabulary shards, 15 on 8.
N, D, V = 48, 16, 120
IGNORE = -100
OPTIONS = dict(ignore_index=IGNORE, label_smoothing=0.1, z_loss=1e-3, logit_soft_cap=4.0)

# Three subprocesses (each pays jax's start-up and its compilations).
CASES = ["shard_map", "shard_map_tied_bf16", "automatic"]


@pytest.mark.parametrize("case", CASES)
def test_sharded(case):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-m", "tests.test_sharding", case], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"case {case} failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    assert f"OK {case}" in proc.stdout


# --------------------------------------------------------------------------
# what runs in the subprocess
# --------------------------------------------------------------------------


def _hlo_dims(text: str) -> set[int]:
    dims = set()
    for m in re.finditer(r"\b(?:f64|f32|bf16|f16|s32|u32|s8|pred)\[([0-9,]*)\]", text):
        dims.update(int(x) for x in m.group(1).split(",") if x)
    return dims


def _collectives(text: str) -> dict[str, int]:
    names = re.findall(r" (all-gather|all-reduce|all-to-all|reduce-scatter|collective-permute)(?:-start)?\(", text)
    return {n: names.count(n) for n in set(names)}


def _compile(fn, *args):
    """Compiles ``fn`` once; returns its result and the partitioned program's text."""
    import jax

    compiled = jax.jit(fn).lower(*args).compile()
    return compiled(*args), compiled.as_text()


def _check_hlo(text: str, *, allow_all_gather: bool):
    dims, coll = _hlo_dims(text), _collectives(text)
    assert V not in dims, f"a buffer of the compiled program spans the whole vocabulary ({V}); collectives {coll}"
    assert coll.get("all-reduce", 0) >= 1, f"expected all-reduces over the vocabulary, got {coll}"
    if not allow_all_gather:
        assert not coll.get("all-gather") and not coll.get("all-to-all"), f"unexpected gathers: {coll}"
    for line in text.splitlines():  # the direct statement: no all-gather yields a full-V operand
        if " all-gather(" in line or " all-gather-start(" in line:
            assert V not in _hlo_dims(line.split("all-gather")[0]), line
    return coll


def _assert_close(got, want, what, rtol=2e-5, atol=2e-5):
    import jax
    import numpy as np

    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(b)))), err_msg=what)


def _inputs(dtype="float32"):
    import jax
    import jax.numpy as jnp

    k = jax.random.split(jax.random.key(0), 5)
    hidden = jax.random.normal(k[0], (N, D)).astype(dtype)
    weight = (jax.random.normal(k[1], (D, V)) / 2.0).astype(dtype)
    bias = (0.5 * jax.random.normal(k[2], (V,))).astype(dtype)
    labels = jax.random.randint(k[3], (N,), 0, V).at[jnp.array([3, 17, 40])].set(IGNORE)
    cotangent = jax.random.uniform(k[4], (N,), minval=0.5, maxval=1.5)
    return hidden, weight, bias, labels, cotangent


def _unfused(hidden, weight, labels, bias, reduction, weight_layout="DV"):
    import jax.numpy as jnp

    import jaxloss

    w = weight if weight_layout == "DV" else weight.T
    logits = jnp.dot(hidden, w, preferred_element_type=jnp.float32) + bias.astype(jnp.float32)[None, :]
    cap = OPTIONS["logit_soft_cap"]
    logits = cap * jnp.tanh(logits / cap)
    opts = {k: v for k, v in OPTIONS.items() if k != "logit_soft_cap"}
    losses = jaxloss.sparse_softmax_cross_entropy(logits, labels, **opts)
    return jaxloss.reduce(losses, labels != IGNORE, reduction=reduction)


def _objective(loss_fn, labels, cotangent, reduction):
    import jax.numpy as jnp

    def f(h, w, b):
        out = loss_fn(h, w, labels, b, reduction)
        return jnp.sum(out * cotangent) if reduction == "none" else 1.7 * out

    return f


def _check_fused(mesh, token_axis, *, weight_layout="DV", dtype="float32", reductions=("none", "mean"),
                 use_shard_map=True, rtol=2e-5):
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxloss
    from jaxloss._fused import sharded_fused_linear_cross_entropy

    hidden, weight, bias, labels, ct = _inputs(dtype)
    if weight_layout == "VD":
        weight = weight.T
    put = lambda x, *spec: jax.device_put(x, NamedSharding(mesh, P(*spec)))  # noqa: E731
    h_s = put(hidden, token_axis, None)
    w_s = put(weight, None, "model") if weight_layout == "DV" else put(weight, "model", None)
    b_s, y_s, ct_s = put(bias, "model"), put(labels, token_axis), put(ct, token_axis)

    def fused(h, w, y, b, reduction):
        if use_shard_map:
            return sharded_fused_linear_cross_entropy(
                h, w, y, bias=b, mesh=mesh, vocab_axis="model", token_axis=token_axis, chunk_size=5,
                reduction=reduction, weight_layout=weight_layout, **OPTIONS)
        return jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=5, reduction=reduction,
                                                  weight_layout=weight_layout, **OPTIONS)

    def unfused(h, w, y, b, reduction):
        return _unfused(h, w, y, b, reduction, weight_layout)

    for reduction in reductions:
        f = jax.value_and_grad(_objective(fused, y_s, ct_s, reduction), argnums=(0, 1, 2))
        got, text = _compile(f, h_s, w_s, b_s)
        want = jax.jit(jax.value_and_grad(_objective(unfused, labels, ct, reduction), argnums=(0, 1, 2)))(
            hidden, weight, bias)
        _assert_close(got, want, f"{reduction} {weight_layout} {dtype}", rtol=rtol, atol=rtol)
        dw = got[1][1]
        assert dw.sharding.is_equivalent_to(w_s.sharding, 2), (dw.sharding, w_s.sharding)
        assert dw.dtype == weight.dtype
        _check_hlo(text, allow_all_gather=not use_shard_map)


def _check_sparse(mesh, token_axis, reductions=("none", "weighted_mean")):
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxloss

    hidden, weight, bias, labels, ct = _inputs()
    logits = hidden @ weight + bias[None, :]
    z_s = jax.device_put(logits, NamedSharding(mesh, P(token_axis, "model")))
    y_s = jax.device_put(labels, NamedSharding(mesh, P(token_axis)))
    opts = {k: v for k, v in OPTIONS.items() if k != "logit_soft_cap"}
    for reduction in reductions:
        def f(z, y, reduction=reduction):
            losses = jaxloss.sparse_softmax_cross_entropy(z, y, **opts)
            out = jaxloss.reduce(losses, y != IGNORE, reduction=reduction)
            return jnp.sum(out * ct) if reduction == "none" else out

        g = jax.value_and_grad(f)
        got, text = _compile(g, z_s, y_s)
        _assert_close(got, jax.jit(g)(logits, labels), f"sparse {reduction}")
        _check_hlo(text, allow_all_gather=False)


def _check_errors(mesh):
    from jaxloss._fused import sharded_fused_linear_cross_entropy as sharded

    hidden, weight, bias, labels, _ = _inputs()
    cases = [
        (dict(weight=weight[:, :118]), ValueError, "multiple of the size 4"),
        (dict(hidden=hidden[:45], labels=labels[:45]), ValueError, "multiple of the size 2"),
        (dict(vocab_axis="vocab"), ValueError, "`vocab_axis`"),
        (dict(token_axis="model"), ValueError, "must differ"),
        (dict(token_axis=("data", "nope")), ValueError, "`token_axis`"),
        (dict(mesh="mesh"), TypeError, "`mesh`"),
    ]
    for over, err, match in cases:
        args = dict(hidden=hidden, weight=weight, labels=labels, mesh=mesh, vocab_axis="model", token_axis="data")
        args.update(over)
        try:
            sharded(args.pop("hidden"), args.pop("weight"), args.pop("labels"), **args)
        except err as e:
            assert re.search(match, str(e)), (match, str(e))
        else:
            raise AssertionError(f"no {err.__name__} for {over}")


def _main(case: str) -> None:
    import jax
    import numpy as np
    from jax.sharding import Mesh

    devices = jax.devices()
    assert len(devices) == 8, f"expected 8 host devices, got {len(devices)} (XLA_FLAGS not set before import?)"
    mesh_2d = Mesh(np.array(devices).reshape(2, 4), ("data", "model"))
    mesh_1d = Mesh(np.array(devices), ("model",))
    if case == "shard_map":
        # sharded_fused_linear_cross_entropy: tokens over "data", classes over "model".
        _check_fused(mesh_2d, "data", reductions=("none", "mean"))
        _check_fused(mesh_1d, None, reductions=("weighted_mean",))  # tokens replicated
        _check_errors(mesh_2d)
    elif case == "shard_map_tied_bf16":
        # bfloat16 takes the vocabulary scheme; a [V, D] table, sharded over V.
        _check_fused(mesh_2d, "data", weight_layout="VD", dtype="bfloat16", reductions=("none", "weighted_mean"),
                     rtol=2e-2)
    elif case == "automatic":
        # The plain functions under jit, left to XLA's automatic partitioner.
        # sparse_softmax_cross_entropy on vocabulary-sharded logits: all-reduces only.
        _check_sparse(mesh_2d, "data")
        _check_sparse(mesh_1d, None, reductions=("mean",))
        # fused_linear_cross_entropy: the vocabulary stays sharded; the token
        # chunk loop makes XLA gather the tokens (allowed, but every "data"
        # group then does all the work: prefer the shard_map version).
        _check_fused(mesh_2d, "data", use_shard_map=False, reductions=("mean",))
    else:
        raise SystemExit(f"unknown case {case!r}; one of {CASES}")
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
