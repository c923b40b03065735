"""The language-model head, fused: cross-entropy and log-probabilities that never hold ``[tokens, V]`` logits.

* ``_spec``: the static description of a head call (:class:`HeadSpec`) and the checks of its arguments;
* ``_loop``: the chunk loop both functions share (logits a block at a time, gradients accumulated in place,
  the vocabulary optionally split over a mesh axis);
* ``_cross_entropy``: :func:`fused_linear_cross_entropy` (and its sharded twin, :class:`HeadStats`);
* ``_log_probs``: :func:`fused_linear_log_probs` (and its sharded twin);
* ``_jsd``: :func:`fused_linear_jsd` (distillation: a student's and a teacher's head, the teacher's logits computed
  by the row model itself).
"""

from jaxloss._head._cross_entropy import HeadStats, fused_linear_cross_entropy, sharded_fused_linear_cross_entropy
from jaxloss._head._jsd import fused_linear_jsd
from jaxloss._head._log_probs import fused_linear_log_probs, sharded_fused_linear_log_probs

__all__ = [
    "HeadStats",
    "fused_linear_cross_entropy",
    "fused_linear_jsd",
    "fused_linear_log_probs",
    "sharded_fused_linear_cross_entropy",
    "sharded_fused_linear_log_probs",
]
