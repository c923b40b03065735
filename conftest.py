"""Test-suite setup: fast XLA:CPU compilation and strict NumPy semantics.

Every test and doctest runs with ``jax_numpy_dtype_promotion="strict"`` and
``jax_numpy_rank_promotion="raise"``, so no jaxloss function relies on an
implicit dtype promotion or rank broadcast: it works for users who turn these
on. The reference and examples tiers are exempt because the libraries they
call (Keras on the JAX backend, Flax, optax) rely on implicit promotion
themselves; every jaxloss function and twin is also called in the core tier.

XLA's compile-time flags are set below (see ``FAST_COMPILE_FLAGS``).
"""

import os
import pathlib

# Compile-time flags for XLA:CPU. The suite compiles ~11,000 small programs
# and compiling is ~85% of its time; XLA's classic (non-MLIR) fusion emitters
# and no LLVM optimisation compile them about 3x faster. The HLO (and so what
# is computed, fused and rounded) is the same; only the machine code is less
# optimised, which arrays of a few elements never notice. Set
# JAXLOSS_TEST_XLA_DEFAULTS=1 to run the suite with XLA's default flags (it
# passes both ways). Set here, before jax is imported; subprocesses inherit it.
FAST_COMPILE_FLAGS = (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
if os.environ.get("JAXLOSS_TEST_XLA_DEFAULTS") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    _extra = [f for f in FAST_COMPILE_FLAGS if f.split("=")[0] not in _flags]
    os.environ["XLA_FLAGS"] = " ".join([_flags, *_extra]).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

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
