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

The ``user_shard_map`` case runs the plain functions (``ctc``,
``fused_linear_cross_entropy`` in several chunks, every reduction, both
internal schemes) inside a user's own ``jax.shard_map`` with the default
``check_vma=True``: tokens (or sequences) split over a mesh axis, the weight
replicated, the loss ``psum``-ed by the user; values and gradients equal the
unsharded ones.

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

# Four subprocesses (each pays jax's start-up and its compilations).
CASES = ["shard_map", "shard_map_tied_bf16", "automatic", "user_shard_map"]


def run_case(module: str, case: str, timeout: int = 300) -> str:
    """Runs ``python -m <module> <case>`` on 8 host CPU devices; asserts it printed ``OK <case>``.

    Returns its standard output. ``module`` (``tests.test_sharding``,
    ``tests.test_head_parallel``) runs the case in its ``_main``.
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-m", module, case], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"case {case} failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    assert f"OK {case}" in proc.stdout, proc.stdout
    return proc.stdout


@pytest.mark.parametrize("case", CASES)
def test_sharded(case):
    run_case("tests.test_sharding", case)


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


def _unfused(hidden, weight, labels, bias, reduction, weight_layout="DV", weights=None, class_weights=None):
    import jax.numpy as jnp

    import jaxloss

    w = weight if weight_layout == "DV" else weight.T
    logits = jnp.dot(hidden, w, preferred_element_type=jnp.float32) + bias.astype(jnp.float32)[None, :]
    cap = OPTIONS["logit_soft_cap"]
    logits = cap * jnp.tanh(logits / cap)
    opts = {k: v for k, v in OPTIONS.items() if k != "logit_soft_cap"}
    losses = jaxloss.sparse_softmax_cross_entropy(logits, labels, class_weights=class_weights, **opts)
    return _reduce_like_fused(losses, labels, reduction, weights, class_weights)


def _reduce_like_fused(losses, y, reduction, weights, class_weights):
    """``reduce`` with ignored tokens masked and class weights in the weighted denominators."""
    import jax.numpy as jnp

    import jaxloss

    keep = y != IGNORE
    t = jnp.ones(y.shape) if weights is None else weights
    if reduction in ("none", "sum", "mean"):
        return jaxloss.reduce(losses, t, where=keep, reduction=reduction)
    total = jaxloss.reduce(losses, t, where=keep, reduction="sum")
    eff = jnp.where(keep, t * (1.0 if class_weights is None else class_weights[jnp.clip(y, 0, V - 1)]), 0.0)
    den = jnp.sum(eff) if reduction == "weighted_mean" else jnp.count_nonzero(eff).astype(jnp.float32)
    return jnp.where(den == 0, 0.0, total / jnp.where(den == 0, 1.0, den))


def _objective(loss_fn, labels, cotangent, reduction):
    import jax.numpy as jnp

    def f(h, w, b, extra):
        out = loss_fn(h, w, labels, b, reduction, **extra)
        return jnp.sum(out * cotangent) if reduction == "none" else 1.7 * out

    return f


def _check_fused(
    mesh,
    token_axis,
    *,
    weight_layout="DV",
    dtype="float32",
    reductions=("none", "mean"),
    use_shard_map=True,
    rtol=2e-5,
    weighted=False,
):
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxloss

    hidden, weight, bias, labels, ct = _inputs(dtype)
    if weight_layout == "VD":
        weight = weight.T
    extra = {}
    if weighted:  # per-token weights (some 0) and class weights
        k = jax.random.split(jax.random.key(3), 2)
        extra = dict(
            weights=jax.random.uniform(k[0], (N,), minval=-0.5, maxval=2.0).clip(0.0),
            class_weights=jax.random.uniform(k[1], (V,), minval=0.5, maxval=1.5),
        )
    put = lambda x, *spec: jax.device_put(x, NamedSharding(mesh, P(*spec)))  # noqa: E731
    h_s = put(hidden, token_axis, None)
    w_s = put(weight, None, "model") if weight_layout == "DV" else put(weight, "model", None)
    b_s, y_s, ct_s = put(bias, "model"), put(labels, token_axis), put(ct, token_axis)
    # Arguments, not constants of the program: the class weights split like the bias.
    extra_s = {k: put(x, token_axis if k == "weights" else "model") for k, x in extra.items()}

    def fused(h, w, y, b, reduction, **extra):
        if use_shard_map:
            return jaxloss.sharded_fused_linear_cross_entropy(
                h,
                w,
                y,
                bias=b,
                mesh=mesh,
                vocab_axis="model",
                token_axis=token_axis,
                chunk_size=5,
                reduction=reduction,
                weight_layout=weight_layout,
                **OPTIONS,
                **extra,
            )
        return jaxloss.fused_linear_cross_entropy(
            h, w, y, bias=b, chunk_size=5, reduction=reduction, weight_layout=weight_layout, **OPTIONS, **extra
        )

    def unfused(h, w, y, b, reduction, **extra):
        return _unfused(h, w, y, b, reduction, weight_layout, **extra)

    for reduction in reductions:
        f = jax.value_and_grad(_objective(fused, y_s, ct_s, reduction), argnums=(0, 1, 2))
        got, text = _compile(f, h_s, w_s, b_s, extra_s)
        want = jax.jit(jax.value_and_grad(_objective(unfused, labels, ct, reduction), argnums=(0, 1, 2)))(
            hidden, weight, bias, extra
        )
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
    import jaxloss

    sharded = jaxloss.sharded_fused_linear_cross_entropy
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


def _check_user_shard_map_fused(mesh, scheme, cases):
    """``fused_linear_cross_entropy`` per data shard, inside the user's shard_map (check_vma=True)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    import jaxloss
    from jaxloss._head import _spec

    # The class scheme (16-bit weights' scheme) also for float32.
    _spec.choose_scheme = lambda *_: {"vocab": "classes"}.get(scheme, scheme)
    n_shards = mesh.shape["data"]
    hidden, weight, bias, labels, ct = _inputs()
    k = jax.random.split(jax.random.key(1), 2)
    weights = jax.random.uniform(k[0], (N,), minval=0.0, maxval=2.0)
    class_weights = jax.random.uniform(k[1], (V,), minval=0.5, maxval=1.5)
    shard = lambda x: x.reshape(n_shards, -1, *x.shape[1:])  # noqa: E731
    for reduction, chunk, weighted in cases:

        def local(h, w, y, b, t, reduction=reduction, chunk=chunk, weighted=weighted, fused=True):
            kw = dict(OPTIONS, reduction=reduction)
            if weighted:
                kw.update(weights=t, class_weights=class_weights)
            if fused:
                return jaxloss.fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=chunk, **kw)
            return _reference(h, w, y, b, **kw)

        def body(h, w, y, b, t, c, local=local, reduction=reduction):
            out = local(h, w, y, b, t)
            # The user's own reduction over the data shards.
            return jax.lax.psum(jnp.sum(out * c) if reduction == "none" else out, "data")

        specs = (P("data"), P(), P("data"), P(), P("data"))
        sharded = jax.shard_map(body, mesh=mesh, in_specs=(*specs, P("data")), out_specs=P())  # check_vma=True

        def unsharded(h, w, b, t, local=local, reduction=reduction):
            # The same per-shard reductions, shard by shard (vmap), without shard_map.
            outs = jax.vmap(lambda h, y, t: local(h, w, y, b, t, fused=False))(shard(h), shard(labels), shard(t))
            return (jnp.sum(outs.reshape(-1) * ct) if reduction == "none" else jnp.sum(outs)), outs

        what = f"user shard_map {scheme} {reduction} chunk {chunk} weighted={weighted}"
        objective = lambda h, w, b, t, f=sharded: f(h, w, labels, b, t, ct)  # noqa: E731
        got = jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2, 3)))(hidden, weight, bias, weights)
        (value, outs), grads = jax.jit(jax.value_and_grad(unsharded, argnums=(0, 1, 2, 3), has_aux=True))(
            hidden, weight, bias, weights
        )
        _assert_close(got, (value, grads), what)
        if reduction == "none":
            per_token = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P("data"))
            _assert_close(jax.jit(per_token)(hidden, weight, labels, bias, weights), outs.reshape(-1), what + " values")


def _reference(h, w, y, b, *, reduction, weights=None, class_weights=None, **options):
    """The materialised loss with the fused loss's reduction rules (ignored tokens in no denominator)."""
    import jax.numpy as jnp

    import jaxloss

    cap = options.pop("logit_soft_cap")
    logits = cap * jnp.tanh((h @ w + b[None, :]) / cap)
    losses = jaxloss.sparse_softmax_cross_entropy(logits, y, class_weights=class_weights, **options)
    return _reduce_like_fused(losses, y, reduction, weights, class_weights)


def _check_user_shard_map_ctc(mesh):
    """``ctc`` per sequence, inside the user's shard_map (check_vma=True)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    import jaxloss

    b, t, k, n = 16, 7, 6, 3
    keys = jax.random.split(jax.random.key(2), 3)
    logits = jax.random.normal(keys[0], (b, t, k))
    labels = jax.random.randint(keys[1], (b, n), 1, k)
    frame_pad = (jnp.arange(t)[None, :] >= (t - jnp.arange(b) % 3)[:, None]).astype(jnp.float32)
    label_pad = (jnp.arange(n)[None, :] >= (n - jnp.arange(b) % 2)[:, None]).astype(jnp.float32)
    ct = jax.random.uniform(keys[2], (b,), minval=0.5, maxval=1.5)

    def loss(z, y, fp, lp):
        return jaxloss.ctc(z, y, logit_paddings=fp, label_paddings=lp)

    spec = (P("data"), P("data"), P("data"), P("data"))
    per_seq = jax.shard_map(loss, mesh=mesh, in_specs=spec, out_specs=P("data"))
    total = jax.shard_map(
        lambda z, y, fp, lp, c: jax.lax.psum(jnp.sum(loss(z, y, fp, lp) * c), "data"),
        mesh=mesh,
        in_specs=(*spec, P("data")),
        out_specs=P(),
    )
    _assert_close(
        jax.jit(per_seq)(logits, labels, frame_pad, label_pad), loss(logits, labels, frame_pad, label_pad), "ctc values"
    )
    got = jax.jit(jax.value_and_grad(lambda z: total(z, labels, frame_pad, label_pad, ct)))(logits)
    want = jax.jit(jax.value_and_grad(lambda z: jnp.sum(loss(z, labels, frame_pad, label_pad) * ct)))(logits)
    _assert_close(got, want, "ctc value and gradient")
    # Paddings left out (invariant constants inside the shard_map).
    plain = jax.shard_map(
        lambda z, y: jaxloss.ctc(z, y), mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P("data")
    )
    _assert_close(jax.jit(plain)(logits, labels), jaxloss.ctc(logits, labels), "ctc without paddings")


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
        # Per-token and class weights (the class weights split like the bias).
        _check_fused(mesh_2d, "data", reductions=("none", "sum_by_nonzero_weights"), weighted=True)
        _check_errors(mesh_2d)
    elif case == "shard_map_tied_bf16":
        # bfloat16 takes the vocabulary scheme; a [V, D] table, sharded over V.
        _check_fused(
            mesh_2d, "data", weight_layout="VD", dtype="bfloat16", reductions=("none", "weighted_mean"), rtol=2e-2
        )
        _check_fused(
            mesh_2d, "data", weight_layout="VD", dtype="bfloat16", reductions=("mean",), rtol=2e-2, weighted=True
        )
    elif case == "automatic":
        # The plain functions under jit, left to XLA's automatic partitioner.
        # sparse_softmax_cross_entropy on vocabulary-sharded logits: all-reduces only.
        _check_sparse(mesh_2d, "data")
        _check_sparse(mesh_1d, None, reductions=("mean",))
        # fused_linear_cross_entropy: the vocabulary stays sharded; the token
        # chunk loop makes XLA gather the tokens (allowed, but every "data"
        # group then does all the work: prefer the shard_map version).
        _check_fused(mesh_2d, "data", use_shard_map=False, reductions=("mean",))
    elif case == "user_shard_map":
        mesh_data = Mesh(np.array(devices), ("data",))
        _check_user_shard_map_ctc(mesh_data)
        # 48 tokens over 8 shards: 6 per shard, in chunks of 2 (three loop
        # steps) or 4 (one step and a tail).
        _check_user_shard_map_fused(
            mesh_data, "tokens", [("none", 2, False), ("mean", 2, False), ("sum", 4, False), ("weighted_mean", 4, True)]
        )
        _check_user_shard_map_fused(mesh_data, "vocab", [("none", 2, True), ("mean", 2, False)])
    else:
        raise SystemExit(f"unknown case {case!r}; one of {CASES}")
    print(f"OK {case}")


if __name__ == "__main__":
    _main(sys.argv[1])
