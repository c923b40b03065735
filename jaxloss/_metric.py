"""Metric-learning losses on distances: contrastive loss."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxloss import _checks
from jaxloss._primitives import safe_mul

ArrayLike = Any


def contrastive(distances: ArrayLike, labels: ArrayLike, *, margin: float = 1.0) -> jax.Array:
    r"""Elementwise contrastive loss on pair distances (Hadsell et al. 2006).

    .. math:: \ell = y\, d^2 + (1 - y) \max(\mathrm{margin} - d, 0)^2

    with ``y = 1`` for similar pairs (pulled together) and ``y = 0`` for
    dissimilar ones (pushed beyond ``margin``). tflearn's
    ``contrastive_loss`` is ``sum(loss) / 2``. A term whose coefficient is 0
    is dropped even where its square overflows, so ``d = 1e30`` gives 0 for a
    dissimilar pair, not ``0 * inf = nan``.

    Args:
      distances: float array of non-negative distances.
      labels: similarity labels in ``[0, 1]`` (any real dtype), broadcastable
        with ``distances``.
      margin: ``>= 0``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.contrastive(jnp.array([0.5, 0.5, 2.0]), jnp.array([1.0, 0.0, 0.0]))
      Array([0.25, 0.25, 0.  ], dtype=float32)

    References:
      Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an
      Invariant Mapping", CVPR 2006.
    """
    _checks.check_range(margin, "margin", 0.0)
    d, y = _checks.floats((distances, "distances"), targets=[(labels, "labels")])
    shape = _checks.check_broadcast(d, y, "distances", "labels")
    d, y = jnp.broadcast_to(d, shape), jnp.broadcast_to(y, shape)
    margin = jnp.asarray(margin, d.dtype)
    similar = safe_mul(y, jnp.square(d))
    dissimilar = safe_mul(1.0 - y, jnp.square(jnp.maximum(margin - d, 0.0)))
    return similar + dissimilar
