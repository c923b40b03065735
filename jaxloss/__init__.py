"""jaxloss: differentiable, numerically stable loss functions for JAX.

Core losses take ``(predictions, targets, *, options)``, return per-example
values and never reduce; :func:`reduce` and :class:`Loss` do the reducing.
Drop-in twins of Keras 3, ``tf.compat.v1.losses`` and tflearn live in
:mod:`jaxloss.compat`.
"""

__version__ = "0.1.0"

# Classification from logits and from probabilities.
from jaxloss._classification import binary_cross_entropy
from jaxloss._classification import binary_focal_cross_entropy
from jaxloss._classification import categorical_cross_entropy
from jaxloss._classification import categorical_focal_cross_entropy
from jaxloss._classification import generalized_cross_entropy
from jaxloss._classification import log_loss
from jaxloss._classification import nll
from jaxloss._classification import poly1_cross_entropy
from jaxloss._classification import sigmoid_binary_cross_entropy
from jaxloss._classification import sigmoid_focal_loss
from jaxloss._classification import softmax_cross_entropy
from jaxloss._classification import softmax_focal_loss
from jaxloss._classification import sparse_softmax_cross_entropy
from jaxloss._classification import weak_cross_entropy_2d
from jaxloss._ctc import ctc

# --- other families: one import per line, added as each module lands ---
from jaxloss._distributions import convex_kl_divergence
from jaxloss._distributions import kl_divergence
from jaxloss._distributions import poisson_nll
from jaxloss._margin import binary_sparsemax
from jaxloss._margin import categorical_hinge
from jaxloss._margin import hinge
from jaxloss._margin import hinge_embedding
from jaxloss._margin import margin_ranking
from jaxloss._margin import multi_margin
from jaxloss._margin import multilabel_margin
from jaxloss._margin import multilabel_soft_margin
from jaxloss._margin import multiclass_hinge
from jaxloss._margin import multiclass_perceptron
from jaxloss._margin import multiclass_sparsemax
from jaxloss._margin import soft_margin
from jaxloss._margin import squared_hinge
from jaxloss._metric import circle
from jaxloss._metric import contrastive
from jaxloss._metric import ntxent
from jaxloss._metric import cosine_embedding
from jaxloss._metric import triplet_margin
from jaxloss._ranking import ranking_softmax
from jaxloss._ranking import wmw_auc_loss
from jaxloss._regression import absolute_error
from jaxloss._regression import absolute_percentage_error
from jaxloss._regression import cosine_distance
from jaxloss._regression import gaussian_nll
from jaxloss._regression import huber
from jaxloss._regression import log_cosh
from jaxloss._regression import pairwise_squared_error
from jaxloss._regression import smooth_l1
from jaxloss._regression import squared_error
from jaxloss._regression import squared_log_error
from jaxloss._segmentation import dice
from jaxloss._segmentation import generalized_dice
from jaxloss._segmentation import tversky

# --- large vocabularies ---
from jaxloss._head import HeadStats
from jaxloss._head import fused_linear_cross_entropy
from jaxloss._head import fused_linear_log_probs
from jaxloss._head import sharded_fused_linear_cross_entropy
from jaxloss._head import sharded_fused_linear_log_probs

# --- post-training (preference, policy gradient, distillation) ---
# preference (jaxloss/_preference.py):
from jaxloss._preference import KTOOutput
from jaxloss._preference import ORPOOutput
from jaxloss._preference import PreferenceOutput
from jaxloss._preference import cpo
from jaxloss._preference import dpo
from jaxloss._preference import kto
from jaxloss._preference import kto_kl
from jaxloss._preference import ld_dpo_weights
from jaxloss._preference import orpo
from jaxloss._preference import sequence_log_probs
from jaxloss._preference import simpo

# policy gradient (jaxloss/_policy_gradient.py):
from jaxloss._policy_gradient import PolicyGradientOutput
from jaxloss._policy_gradient import aggregate_token_losses
from jaxloss._policy_gradient import group_advantages
from jaxloss._policy_gradient import grpo
from jaxloss._policy_gradient import k3_kl
from jaxloss._policy_gradient import policy_gradient_token_loss
from jaxloss._policy_gradient import ppo_clip

# distillation (jaxloss/_distillation.py):
from jaxloss._distillation import forward_kl
from jaxloss._distillation import generalized_jsd
from jaxloss._distillation import reverse_kl

# fused over the head (jaxloss/_head):
from jaxloss._head._grpo import fused_linear_grpo
from jaxloss._head._jsd import fused_linear_jsd

# Reductions and wrappers.
from jaxloss._reduce import REDUCTIONS
from jaxloss._reduce import reduce
from jaxloss._wrappers import Loss
from jaxloss._checked import checked
