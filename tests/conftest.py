"""Shared test configuration for the core suite (needs only jax and numpy)."""

import os

# Tests compare values at tight tolerances: keep XLA from fusing in ways that
# change float32 rounding between eager and jit more than necessary.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
