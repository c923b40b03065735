"""Fixtures for the reference tier: Keras 3 (JAX backend), TensorFlow 1 graph
mode, PyTorch CPU, optax and tflearn 0.5.0's ``objectives.py``.

These libraries come from the ``reference`` extra (``pip install -e
".[test,reference]"``). tflearn 0.5.0 no longer imports on current
TensorFlow, so its single ``objectives.py`` is read from the released
source distribution (downloaded once into ``.cache/``, or taken from
``$JAXLOSS_TFLEARN_SDIST``) and executed against ``tf.compat.v1``.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pathlib
import subprocess
import sys
import tarfile
import types

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TFLEARN_VERSION = "0.5.0"


def _tflearn_sdist() -> pathlib.Path:
    env = os.environ.get("JAXLOSS_TFLEARN_SDIST")
    if env:
        return pathlib.Path(env)
    cache = ROOT / ".cache" / "tflearn"
    found = sorted(cache.glob(f"tflearn-{TFLEARN_VERSION}.tar.gz"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(cache),
            f"tflearn=={TFLEARN_VERSION}",
        ],
        check=True,
        capture_output=True,
    )
    return next(cache.glob(f"tflearn-{TFLEARN_VERSION}.tar.gz"))


def load_tflearn_objectives() -> types.ModuleType:
    """tflearn 0.5.0's ``objectives`` module, run on ``tf.compat.v1``."""
    import tensorflow as tf  # noqa: F401  (the module imports it itself)

    with tarfile.open(_tflearn_sdist()) as tar:
        member = tar.getmember(f"tflearn-{TFLEARN_VERSION}/tflearn/objectives.py")
        source = tar.extractfile(member).read().decode()
    # The two relative imports pull in the rest of tflearn, which no longer
    # imports; give the module the two constants and the one helper it uses
    # (tflearn/config.py: _EPSILON = 1e-10, _FLOATX = tf.float32).
    source = source.replace(
        "from .config import _EPSILON, _FLOATX",
        "_EPSILON = 1e-10\n_FLOATX = tf.float32",
    ).replace("from .utils import get_from_module", "get_from_module = None")
    module = types.ModuleType("tflearn_objectives")
    exec(compile(source, "tflearn/objectives.py", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.fixture(scope="session")
def tflearn():
    return load_tflearn_objectives()


def tf1_run(build, *arrays):
    """Runs ``build(*placeholders)`` in a TensorFlow 1 graph and session.

    ``arrays`` are fed as constants; ``build`` returns a tensor (or a
    structure of tensors) and gets back numpy values.
    """
    import tensorflow as tf

    with tf.Graph().as_default():
        consts = [None if a is None else tf.constant(a) for a in arrays]
        out = build(*consts)
        with tf.compat.v1.Session() as sess:
            return sess.run(out)


@pytest.fixture(scope="session")
def tf1():
    return tf1_run


@pytest.fixture
def rng():
    return np.random.default_rng(0)
