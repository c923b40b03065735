"""Test-suite setup: fast XLA:CPU compilation and strict NumPy semantics.

Every test and doctest runs with ``jax_numpy_dtype_promotion="strict"`` and
``jax_numpy_rank_promotion="raise"``, so no jaxloss function relies on an
implicit dtype promotion or rank broadcast: it works for users who turn these
on. The reference and examples tiers are exempt because the libraries they
call (Keras on the JAX backend, Flax, optax) rely on implicit promotion
themselves; every jaxloss function and twin is also called in the core tier.

XLA's compile-time flags are set below (see ``FAST_COMPILE_FLAGS``), and
under pytest-xdist the workers share the programs they compile through JAX's
persistent compilation cache (see ``_CACHE_ENV``).
"""

import os
import pathlib
import re
import subprocess
import sys

# Compile-time flags for XLA:CPU. The suite compiles ~11,000 small programs
# and compiling is ~85% of its time; XLA's classic (non-MLIR) fusion emitters
# and no LLVM optimisation compile them about 3x faster. The HLO (and so what
# is computed, fused and rounded) is the same; only the machine code is less
# optimised, which arrays of a few elements never notice. Set
# JAXLOSS_TEST_XLA_DEFAULTS=1 to run the suite with XLA's default flags (it
# passes both ways). Set here, before jax is imported; subprocesses inherit it.
# A flag the installed jaxlib does not know is left out (XLA aborts the whole
# process on an unknown flag), and so is one already in the user's XLA_FLAGS.
FAST_COMPILE_FLAGS = (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
# The flags chosen, once chosen: pytest-xdist workers and subprocesses inherit
# it with XLA_FLAGS and so do not ask XLA again.
_CHOSEN_ENV = "JAXLOSS_TEST_FAST_COMPILE_FLAGS"
# A flag no XLA knows: the probe must name it, or it did not reach XLA's parser.
_SENTINEL = "--xla_jaxloss_probe_unknown_flag=1"


def _known_to_xla(flags: tuple[str, ...]) -> tuple[str, ...]:
    """The ``flags`` the installed jaxlib's XLA knows.

    A short subprocess has XLA parse ``flags`` and a sentinel flag (building
    a ``CompileOptions`` parses XLA_FLAGS); XLA aborts it naming every unknown
    flag. About 0.2 s of CPU; nothing is kept on disk. If the probe does not
    name the sentinel, it did not reach the parser and no flag is trusted.
    """
    env = dict(os.environ, XLA_FLAGS=" ".join([*flags, _SENTINEL]))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the message is a fatal log line
    probe = "from jaxlib import xla_client; xla_client.CompileOptions()"
    try:
        proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return ()
    named = re.search(r"Unknown flags? in XLA_FLAGS: (.*)", proc.stderr)
    unknown = set(named.group(1).split()) if named else set()
    if _SENTINEL not in unknown:
        return ()
    return tuple(flag for flag in flags if flag not in unknown)


if os.environ.get("JAXLOSS_TEST_XLA_DEFAULTS") != "1" and _CHOSEN_ENV not in os.environ:
    _user_flags = os.environ.get("XLA_FLAGS", "")
    _wanted = tuple(f for f in FAST_COMPILE_FLAGS if f.split("=")[0] not in _user_flags)
    _chosen = _known_to_xla(_wanted) if _wanted else ()
    os.environ[_CHOSEN_ENV] = " ".join(_chosen)
    os.environ["XLA_FLAGS"] = " ".join([_user_flags, *_chosen]).strip()

import shutil  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

_ROOT = pathlib.Path(__file__).resolve().parent
_EXEMPT = (_ROOT / "tests" / "reference", _ROOT / "tests" / "examples")

# Under pytest-xdist every worker would compile the programs the others have
# already compiled (the same eager primitives and shapes recur across files).
# The controller makes one directory per run, the workers use it as JAX's
# persistent compilation cache (every program, however quick to compile or
# small), and the controller deletes it at the end. Keys include the
# jax/jaxlib versions, the XLA flags and the HLO, so a hit is the program
# that would have been compiled.
#
# JAX's file cache (jax/_src/lru_cache.py) takes a file lock only when
# `jax_compilation_cache_max_size` is set, and then every write also lists and
# reads the whole directory to evict: quadratic in the number of entries (400
# entries took 9 s to write, 2,000 over 300 s; the suite writes thousands), so
# the size stays unbounded and unlocked. A write is then not atomic and a
# worker can read an entry the other is still writing; the entry is compressed
# with a checksum, so a partial one fails to decompress, and JAX then warns
# ("Error reading persistent compilation cache entry") and compiles the
# program itself. That warning is shown, not turned into an error.
_CACHE_ENV = "JAXLOSS_TEST_COMPILE_CACHE"
_PARTIAL_ENTRY_WARNING = "default:Error reading persistent compilation cache entry:UserWarning"

if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(_CACHE_ENV):
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        if os.environ.get(_CACHE_ENV):
            config.addinivalue_line("filterwarnings", _PARTIAL_ENTRY_WARNING)
        return
    if getattr(config.option, "numprocesses", None):
        os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="jaxloss-compile-cache-")


def pytest_report_header(config):
    if os.environ.get("JAXLOSS_TEST_XLA_DEFAULTS") == "1":
        return "XLA flags: XLA's defaults (JAXLOSS_TEST_XLA_DEFAULTS=1)"
    chosen = os.environ.get(_CHOSEN_ENV, "").split()
    left_out = [f for f in FAST_COMPILE_FLAGS if f not in chosen]
    return f"XLA fast-compile flags: {' '.join(chosen) or 'none'}; left out: {' '.join(left_out) or 'none'}"


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
