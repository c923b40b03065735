"""Small assertions shared by the test files (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

# Logits/margins of every magnitude a user can hand us.
EXTREME_LOGITS = np.array([-1e30, -1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4, 1e30], np.float32)
# Per-dtype tolerances (jaxopt's habit).
RTOL = {jnp.float16: 1e-3, jnp.bfloat16: 1e-2, jnp.float32: 1e-6, jnp.float64: 1e-12}


def check_grads_x64(fn, args, *, order: int = 2, eps: float = 1e-6, rtol: float | None = None):
    """``jax.test_util.check_grads`` in forward and reverse mode, in float64.

    Finite differences are only trustworthy in double precision, so the
    arguments are cast to float64 under ``jax.enable_x64``.
    """
    with jax.enable_x64(True):
        args64 = tuple(
            jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else jnp.asarray(a)
            for a in args
        )
        check_grads(fn, args64, order=order, modes=("fwd", "rev"), eps=eps, rtol=rtol)


def jit_grad(fn):
    """``jax.grad(fn)`` under ``jit``: one compile rather than one per primitive (same numbers)."""
    return jax.jit(jax.grad(fn))


def assert_all_finite(tree, what: str = "value") -> None:
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.asarray(leaf, dtype=np.float64)
        assert np.all(np.isfinite(arr)), f"non-finite {what}: {arr}"


def value_grad_hessian(fn, x):
    """Sum of ``fn(x)``, its gradient and its Hessian in ``x`` (all eager)."""
    scalar = lambda z: jnp.sum(fn(z))  # noqa: E731
    return scalar(x), jax.grad(scalar)(x), jax.hessian(scalar)(x)


def assert_transform_invariant(fn, *args, batch_axis: int = 0, rtol: float = 1e-6) -> None:
    """Eager, ``jit`` and ``vmap`` over the leading axis give the same values."""
    eager = fn(*args)
    np.testing.assert_allclose(jax.jit(fn)(*args), eager, rtol=rtol, atol=1e-6)
    batched = jax.vmap(lambda *a: fn(*[x[None] for x in a])[0], in_axes=batch_axis)(*args)
    np.testing.assert_allclose(batched, eager, rtol=rtol, atol=1e-6)
