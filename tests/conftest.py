"""Shared test configuration for the core suite (needs only jax and numpy)."""

import os

# Tests compare values at tight tolerances: keep XLA from fusing in ways that
# change float32 rounding between eager and jit more than necessary.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Hypothesis profiles for the property tests: "ci" (the default) is bounded
# and derandomised so the suite is deterministic and fits its time budget;
# "dev" (HYPOTHESIS_PROFILE=dev) explores many more examples locally.
# One CI example per function is hypothesis's simplest draw (every choice at
# its first option), so tests/strategies.py puts the non-degenerate choices
# first (full batch, extreme magnitudes, informative options) and rotates
# dtype and seed per function; the corners are pinned cases run beside it.
# `python tests/draws_report.py` prints what each function was given.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=1,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
