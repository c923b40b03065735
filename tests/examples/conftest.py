"""The examples tier: needs the ``examples`` extra, and Keras (``reference``) for two of them."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
