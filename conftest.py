"""Strict NumPy semantics for everything jaxloss runs in the test suite.

Every test and doctest runs with ``jax_numpy_dtype_promotion="strict"`` and
``jax_numpy_rank_promotion="raise"``, so no jaxloss function relies on an
implicit dtype promotion or rank broadcast: it works for users who turn these
on. The reference and examples tiers are exempt because the libraries they
call (Keras on the JAX backend, Flax, optax) rely on implicit promotion
themselves; every jaxloss function and twin is also called in the core tier.
"""

import pathlib

import jax
import pytest

_ROOT = pathlib.Path(__file__).resolve().parent
_EXEMPT = (_ROOT / "tests" / "reference", _ROOT / "tests" / "examples")


@pytest.fixture(autouse=True)
def _strict_numpy_semantics(request):
    path = pathlib.Path(str(request.node.path)).resolve()
    if any(path.is_relative_to(folder) for folder in _EXEMPT):
        yield
        return
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield
