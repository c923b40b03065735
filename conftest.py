"""Test-suite setup: fast XLA:CPU compilation and strict NumPy semantics.

Every test and doctest runs with ``jax_numpy_dtype_promotion="strict"`` and
``jax_numpy_rank_promotion="raise"``, so no jaxloss function relies on an
implicit dtype promotion or rank broadcast: it works for users who turn these
on. The reference and examples tiers are exempt because the libraries they
call (Keras on the JAX backend, Flax, optax) rely on implicit promotion
themselves; every jaxloss function and twin is also called in the core tier.

XLA's compile-time flags are set below (see ``FAST_COMPILE_FLAGS``), and
under pytest-xdist the workers share the programs they compile (see
``_SharedCompileCache``).
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

import shutil  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

_ROOT = pathlib.Path(__file__).resolve().parent
_EXEMPT = (_ROOT / "tests" / "reference", _ROOT / "tests" / "examples")

# Under pytest-xdist every worker would compile the programs the others have
# already compiled (the same eager primitives and shapes recur across files).
# The controller makes one directory per run, the workers use it as JAX's
# persistent compilation cache, and the controller deletes it at the end.
# JAX's own file cache writes entries in place, so a worker could read
# another's half-written file; this one writes to a temporary name and
# renames it (atomic on POSIX), so a reader sees a whole entry or none.
# Keys include the jax/jaxlib versions, the XLA flags and the HLO, so a hit
# is the program that would have been compiled.
_CACHE_ENV = "JAXLOSS_TEST_COMPILE_CACHE"


class _SharedCompileCache:
    """A directory of compiled executables that several processes share."""

    def __init__(self, path: str) -> None:
        self._path = pathlib.Path(path)

    def get(self, key: str) -> bytes | None:
        try:
            return (self._path / key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, value: bytes) -> None:
        target = self._path / key
        if target.exists():
            return
        with tempfile.NamedTemporaryFile(dir=self._path, prefix=".", delete=False) as part:
            part.write(value)
        os.replace(part.name, target)


def _use_shared_compile_cache(path: str) -> None:
    # JAX has no public hook for a cache backend; if its internals move, the
    # workers simply compile on their own (slower, same results).
    try:
        from jax._src import compilation_cache
    except ImportError:
        return
    if not hasattr(compilation_cache, "_cache_initialized"):
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    compilation_cache._cache = _SharedCompileCache(path)
    compilation_cache._cache_initialized = True


if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(_CACHE_ENV):
    _use_shared_compile_cache(os.environ[_CACHE_ENV])


# Under `--dist loadfile` a worker that finishes early sits idle while the
# other runs the last file, so the slowest files go first and the quick ones
# fill in at the end. Seconds per file on the 2-core CI machine (sum of
# `--durations=0` over the file, rounded); a file missing here runs after
# these, in collection order. pytest-xdist's own reordering (by number of
# tests, which put the few slow subprocess and example tests last) is off.
_SLOWEST_FILES = {
    "tests/test_properties_finite.py": 82,
    "tests/test_classification.py": 57,
    "tests/test_fused.py": 47,
    "tests/reference/test_compat_keras_segmentation_metric_ctc.py": 45,
    "tests/reference/test_compat_tf_v1.py": 39,
    "tests/reference/test_compat_keras_regression_margin_focal.py": 39,
    "tests/test_primitives.py": 36,
    "tests/test_ctc.py": 32,
    "tests/reference/test_compat_keras_classification.py": 31,
    "tests/reference/test_classification_reference.py": 30,
    "tests/test_regression.py": 27,
    "tests/reference/test_families_reference.py": 26,
    "tests/test_checked.py": 24,
    "tests/test_segmentation.py": 22,
    "tests/test_margin.py": 21,
    "tests/test_metric.py": 19,
    "tests/test_sharding.py": 19,
    "tests/reference/test_compat_tflearn.py": 18,
    "tests/reference/test_ctc_reference.py": 16,
    "tests/test_distributions.py": 16,
    "tests/test_properties_relations.py": 16,
    "tests/test_ranking.py": 15,
    "tests/examples/test_gallery_and_port.py": 15,
    "tests/reference/test_keras_compile.py": 12,
    "tests/reference/test_segmentation_metric_regression_reference.py": 11,
    "tests/examples/test_train_digits.py": 9,
    "tests/examples/test_language_model.py": 9,
    "jaxloss/compat/keras.py": 8,
    "tests/test_log_loss.py": 6,
}


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="jaxloss-compile-cache-")


def pytest_collection_modifyitems(config, items):
    def seconds(item):
        path = pathlib.Path(str(item.path)).resolve()
        if not path.is_relative_to(_ROOT):
            return 0
        return _SLOWEST_FILES.get(path.relative_to(_ROOT).as_posix(), 0)

    items.sort(key=lambda item: -seconds(item))  # stable: order within a file kept


def pytest_unconfigure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(_CACHE_ENV):
        shutil.rmtree(os.environ.pop(_CACHE_ENV), ignore_errors=True)


@pytest.fixture(autouse=True)
def _strict_numpy_semantics(request):
    path = pathlib.Path(str(request.node.path)).resolve()
    if any(path.is_relative_to(folder) for folder in _EXEMPT):
        yield
        return
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield
