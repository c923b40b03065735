"""Property tests (hypothesis): finite values, gradients and Hessian-vector
products for finite inputs of every magnitude; eager == jit == vmap == loop.

Runs over every core function and compat twin listed in
``tests/strategies.py`` (one entry per function). The hypothesis profile is
chosen in ``tests/conftest.py`` (``HYPOTHESIS_PROFILE=dev`` for long runs).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import ALL, CORE, Case, Spec, cases, fewer


def _scalar(case: Case):
    """``sum(fn(...))`` as a function of the differentiated arguments."""
    spec = case.spec

    def f(*diff_args):
        args = list(case.args)
        for i, a in zip(spec.diff, diff_args, strict=True):
            args[i] = a
        return jnp.sum(case.call(*args).astype(jnp.float32))

    return f, [case.args[i] for i in spec.diff]


def _finite(tree, what: str, case: Case) -> None:
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.asarray(leaf, np.float64)
        assert np.all(np.isfinite(arr)), f"{case.spec.name}: non-finite {what}: {arr}\nargs={case.args}\n{case.kwargs}"


def _tangents(primals):
    rng = np.random.default_rng(0)
    return [jnp.asarray(rng.normal(size=p.shape), p.dtype) for p in primals]


def _derivatives(case: Case, args):
    """Gradient and (smooth losses) Hessian-vector product of ``sum(fn)`` at ``args``."""
    f, _ = _scalar(Case(case.spec, list(args), case.kwargs, case.dtype, case.batch, case.classes))
    primals = tuple(args[i] for i in case.spec.diff)
    argnums = tuple(range(len(primals)))
    grad = jax.grad(f, argnums=argnums)
    out = {"gradient": grad(*primals)}
    if case.spec.smooth:
        tangents = tuple(_tangents(primals))
        if case.spec.forward_mode:
            out["Hessian-vector product"] = jax.jvp(grad, primals, tangents)[1]
        else:  # custom_vjp: reverse over reverse
            out["Hessian-vector product"] = jax.grad(
                lambda *p: sum(jnp.vdot(g.astype(jnp.float32), t.astype(jnp.float32))
                               for g, t in zip(grad(*p), tangents, strict=True)), argnums=argnums)(*primals)
    return out


_F16_MAX = float(jnp.finfo(jnp.float16).max)


def _value_and_derivatives(case: Case, args):
    """Value, gradient and HVP as one compiled program (one compile, not one per primitive).

    The property is about the mathematics of each loss; training runs it under
    ``jit``. Eager (op-by-op) execution is compared with ``jit`` in
    ``test_eager_jit_vmap_loop_agree``.
    """
    return jax.jit(lambda *a: (case.call(*a), _derivatives(case, a)))(*args)


def _check_finite(case: Case, expected_dtype) -> None:
    value, derivs = _value_and_derivatives(case, case.args)
    assert value.dtype == expected_dtype, f"{case.spec.name}: dtype {value.dtype} for {case.dtype} inputs"
    _finite(value, "value", case)
    if case.dtype != jnp.float16:
        for what, tree in derivs.items():
            _finite(tree, what, case)
        return
    # A float16 input gets a float16 cotangent: a derivative above 65504 can
    # only round to inf. Require the float32 derivative (same values, float32
    # inputs) to be finite and every inf in float16 to be such an overflow.
    up = [a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a for a in case.args]
    _, derivs32 = _value_and_derivatives(case, up)
    for what, tree in derivs.items():
        _finite(derivs32[what], f"{what} (float32 inputs)", case)
        for d16, d32 in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(derivs32[what]), strict=True):
            d16, d32 = np.asarray(d16, np.float64), np.asarray(d32, np.float64)
            assert not np.any(np.isnan(d16)), f"{case.spec.name}: nan {what} in float16: {d16}"
            overflow = np.isinf(d16) & (np.abs(d32) >= 0.5 * _F16_MAX) & (np.sign(d16) == np.sign(d32))
            assert np.all(np.isfinite(d16) | overflow), f"{case.spec.name}: {what} float16 {d16} vs float32 {d32}"


@pytest.mark.parametrize("spec", ALL, ids=repr)
@fewer()
@given(data=st.data())
def test_values_gradients_hvp_finite(spec, data):
    case = data.draw(cases(spec, with_where=True))
    _check_finite(case, jnp.float32)


# float64 stays float64 (a sample of the table; each needs its own x64 compile).
_X64 = [s for s in CORE if s.name in (
    "sparse_softmax_cross_entropy", "sigmoid_focal_loss", "cosine_distance",
)]


@pytest.mark.parametrize("spec", _X64, ids=repr)
@fewer()
@given(data=st.data())
def test_values_gradients_hvp_finite_float64(spec, data):
    with jax.enable_x64(True):
        case = data.draw(cases(spec, dtypes=(jnp.float64,), with_where=True))
        _check_finite(case, jnp.float64)


def _close(actual, expected, what, case):
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=2e-5, atol=1e-6,
        err_msg=f"{case.spec.name}: {what}\nargs={case.args}\n{case.kwargs}",
    )


@functools.cache
def _jitted(spec: Spec, options: tuple):
    """One jitted function per spec and options: compiles once per shape and dtype."""
    return jax.jit(functools.partial(spec.fn, **dict(options)))


@pytest.mark.parametrize("spec", ALL, ids=repr)
@fewer()
@given(data=st.data())
def test_eager_jit_vmap_loop_agree(spec, data):
    case = data.draw(cases(spec, with_where=True))
    where = case.kwargs.pop("where", None)
    extra = {} if where is None else {"where": where}
    eager = case.call(*case.args, **extra)
    jitted = _jitted(spec, tuple(sorted(case.kwargs.items())))(*case.args, **extra)
    _close(jitted, eager, "jit vs eager", case)

    # Two independent problems stacked on a new axis: vmap == a Python loop.
    second = [jnp.flip(a, 0) if a.ndim else a for a in case.args]
    stacked = [jnp.stack([a, b]) for a, b in zip(case.args, second, strict=True)]
    extra_stacked = {} if where is None else {"where": jnp.stack([where, jnp.flip(where, 0)])}
    vmapped = jax.jit(jax.vmap(lambda *a, **k: case.call(*a, **k)))(*stacked, **extra_stacked)
    loop = [case.call(*[s[i] for s in stacked], **{k: v[i] for k, v in extra_stacked.items()}) for i in range(2)]
    _close(vmapped, jnp.stack(loop), "vmap vs Python loop", case)

    # Per-example losses: vmap over the batch rows == the batched call.
    if spec.rowwise and case.batch > 0:
        row_args = list(case.args) + ([where] if where is not None else [])
        batched = [a.ndim > 0 and a.shape[0] == case.batch for a in row_args]

        def one_row(*row):
            row = [r[None] if b else r for r, b in zip(row, batched, strict=True)]
            if where is not None:
                return case.call(*row[:-1], where=row[-1])[0]
            return case.call(*row)[0]

        per_row = jax.jit(jax.vmap(one_row, in_axes=[0 if b else None for b in batched]))(*row_args)
        _close(per_row, eager, "vmap over batch rows vs batched call", case)
