"""jaxloss.compat.torch's Gaussian NLL, multi-label/multi-class margin and triplet twins against torch 2.13 CPU.

Values (rtol 1e-5) and gradients (rtol 1e-4) in float64, on random and edge
inputs, under every reduction and the legacy ``size_average``/``reduce``;
the errors where torch errors; the signatures.
"""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxloss
from jaxloss.compat import torch as F
from tests.reference.test_compat_torch import _both_raise, _compare, _params, _t

RNG = np.random.default_rng(7)
REDUCTIONS = ("none", "mean", "sum")
N, C, D = 6, 4, 5

X = RNG.normal(size=(N, C))
X3 = RNG.normal(size=(N, 3, C))


def _legacy_cases():
    return [(None, False, "none"), (False, None, "sum"), (True, True, "mean"), (None, True, "mean")]


# --------------------------------------------------------------------------
# gaussian_nll_loss
# --------------------------------------------------------------------------

MEAN, TARGET = RNG.normal(size=(N, D)), RNG.normal(size=(N, D))
VAR_AT_CLAMP = RNG.random((N, D)) + 0.1
VAR_AT_CLAMP[0, :3] = [1e-6, 1e-8, 0.0]  # at, below and far below the eps clamp
VAR_AT_CLAMP[3, 1] = 1e-6
GAUSS = {
    "heteroscedastic": (MEAN, TARGET, RNG.random((N, D)) + 0.1),
    "var_one_dim_short": (MEAN, TARGET, RNG.random(N) + 0.1),
    "var_last_dim_1": (MEAN, TARGET, RNG.random((N, 1)) + 0.1),
    "var_first_dim_1": (MEAN, TARGET, RNG.random((1, D)) + 0.1),
    "var_middle_dim_1": (X3, RNG.normal(size=X3.shape), RNG.random((N, 1, C)) + 0.1),
    "var_at_eps_clamp": (MEAN, TARGET, VAR_AT_CLAMP),
    "target_broadcasts": (MEAN, TARGET[0], RNG.random((N, D)) + 0.1),
    "unbatched": (MEAN[0], TARGET[0], RNG.random(D) + 0.1),
    "unbatched_var_scalar": (MEAN[0], TARGET[0], np.asarray(0.7)),
    "scalar": (np.asarray(0.3), np.asarray(-0.4), np.asarray(0.6)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(GAUSS))
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(reduction, case, full):
    kwargs = {"reduction": reduction, "full": full}
    arrays = GAUSS[case]
    _compare(F.gaussian_nll_loss, TF.gaussian_nll_loss, arrays, diff=(0, 1, 2), kwargs=kwargs)
    _compare(F.GaussianNLLLoss(**kwargs), torch.nn.GaussianNLLLoss(**kwargs), arrays, diff=(0, 1, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var", [0.5, 1e-6, 0.0])
def test_gaussian_nll_loss_float_var(reduction, var):
    kwargs = {"reduction": reduction, "eps": 1e-4}
    _compare(
        lambda x, t: F.gaussian_nll_loss(x, t, var, **kwargs),
        lambda x, t: TF.gaussian_nll_loss(x, t, var, **kwargs),
        (MEAN, TARGET),
        diff=(0, 1),
    )


def test_gaussian_nll_loss_gradient_passes_the_clamp():
    # Below eps the variance's gradient is the formula's derivative at eps, not 0 (torch's no_grad clamp).
    with jax.enable_x64(True):
        g = jax.grad(lambda v: F.gaussian_nll_loss(jnp.array([1.0]), jnp.array([0.0]), v, reduction="sum"))(
            jnp.array([1e-8])
        )
    eps = 1e-6
    np.testing.assert_allclose(g, [0.5 / eps - 0.5 / eps**2], rtol=1e-12)


# --------------------------------------------------------------------------
# multilabel_soft_margin_loss
# --------------------------------------------------------------------------

MULTI_HOT = (RNG.random((N, C)) > 0.5).astype(np.float64)
MLSM = {
    "multi_hot": (X, MULTI_HOT),
    "soft": (X, RNG.random((N, C))),
    "unbatched": (X[0], MULTI_HOT[0]),
    "leading_dims": (X3, (RNG.random(X3.shape) > 0.5).astype(np.float64)),
    "target_broadcasts": (X, MULTI_HOT[0]),
    "large_scores": (X * 40.0, MULTI_HOT),
}
CLASS_W = RNG.random(C) + 0.25


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(MLSM))
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss(reduction, case, weighted):
    kwargs = {"reduction": reduction, "weight": CLASS_W if weighted else None}
    arrays = MLSM[case]
    _compare(F.multilabel_soft_margin_loss, TF.multilabel_soft_margin_loss, arrays, diff=(0, 1), kwargs=kwargs)
    ours = F.MultiLabelSoftMarginLoss(**kwargs)
    theirs = torch.nn.MultiLabelSoftMarginLoss(**{**kwargs, "weight": _t(kwargs["weight"])})
    _compare(ours, theirs, arrays, diff=(0, 1))


# --------------------------------------------------------------------------
# multilabel_margin_loss
# --------------------------------------------------------------------------

# Lists of target classes ended by -1: a full row, an empty (all -1) row, a repeated class,
# entries after the terminator that must be ignored, and a row with no terminator.
ML_TARGET = np.array([[3, 0, -1, 1], [-1, -1, -1, -1], [2, 2, -1, 0], [0, 1, 2, 3], [1, -1, 3, 3], [2, 0, 1, -1]])
# Integer scores: score[3] - score[2] == 1 exactly, so a hinge sits exactly at its margin.
EXACT = np.array([[0.0, 1.0, 2.0, 3.0], [0.5, 1.5, -0.5, 0.5]])
MLM = {
    "batched": (X, ML_TARGET),
    "unbatched": (X[0], ML_TARGET[0]),
    "unbatched_all_minus_one": (X[1], ML_TARGET[1]),
    "all_minus_one": (X[:3], np.full((3, C), -1)),
    "margin_exactly_hit": (EXACT, np.array([[3, -1, 0, 0], [1, 3, -1, 2]])),
    "large_scores": (X * 50.0, ML_TARGET),
    "scalar": (np.asarray(0.7), np.asarray(0)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(MLM))
def test_multilabel_margin_loss(reduction, case):
    arrays = MLM[case]
    kwargs = {"reduction": reduction}
    _compare(F.multilabel_margin_loss, TF.multilabel_margin_loss, arrays, kwargs=kwargs)
    _compare(F.MultiLabelMarginLoss(**kwargs), torch.nn.MultiLabelMarginLoss(**kwargs), arrays)


def test_multilabel_margin_loss_any_integer_dtype_and_nan_out_of_range():
    for dtype in (np.int8, np.int32, np.uint8):
        target = ML_TARGET.astype(dtype) if dtype != np.uint8 else np.where(ML_TARGET < 0, 0, ML_TARGET)
        reference = F.multilabel_margin_loss(X.astype(np.float32), target.astype(np.int64), reduction="none")
        np.testing.assert_allclose(F.multilabel_margin_loss(X.astype(np.float32), target, reduction="none"), reference)
    bad = ML_TARGET.copy()
    bad[0, 0] = C  # torch raises for it; here that example is nan
    out = np.asarray(F.multilabel_margin_loss(X.astype(np.float32), bad, reduction="none"))
    assert np.isnan(out[0]) and np.all(np.isfinite(out[1:]))


# --------------------------------------------------------------------------
# multi_margin_loss
# --------------------------------------------------------------------------

LABELS = RNG.integers(0, C, N)
MM = {
    "batched": (X, LABELS),
    "unbatched_target_scalar": (X[0], np.asarray(LABELS[0])),
    "unbatched_target_1": (X[0], LABELS[:1]),
    "batch_of_one_target_scalar": (X[:1], np.asarray(LABELS[0])),
    "margin_exactly_hit": (EXACT, np.array([3, 1])),
    "large_scores": (X * 50.0, LABELS),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(MM))
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize(("margin", "weighted"), [(1.0, False), (0.5, True), (-0.3, False)])
def test_multi_margin_loss(reduction, case, p, margin, weighted):
    kwargs = {"reduction": reduction, "p": p, "margin": margin, "weight": CLASS_W if weighted else None}
    arrays = MM[case]
    _compare(F.multi_margin_loss, TF.multi_margin_loss, arrays, kwargs=kwargs)
    _compare(
        F.MultiMarginLoss(**kwargs), torch.nn.MultiMarginLoss(**{**kwargs, "weight": _t(kwargs["weight"])}), arrays
    )


def test_multi_margin_loss_float_p_and_scalar_input():
    _compare(F.multi_margin_loss, TF.multi_margin_loss, (X, LABELS), kwargs={"p": 2.0})
    # A scalar input is a single class: torch gives 0.
    for reduction in REDUCTIONS:
        _compare(
            F.multi_margin_loss, TF.multi_margin_loss, (np.asarray(0.4), np.asarray(0)), kwargs={"reduction": reduction}
        )


# --------------------------------------------------------------------------
# triplet_margin_loss
# --------------------------------------------------------------------------

A, P, NEG = RNG.normal(size=(N, D)), RNG.normal(size=(N, D)), RNG.normal(size=(N, D))
A3, P3, N3 = (RNG.normal(size=(2, 3, D)) for _ in range(3))
ZEROS = np.zeros((3, D))
# Integer vectors (p=1 or 2, eps=0): d(a, p) = 1, d(a, n) = 2 (d(p, n) = 3), so 1 + 1 - 2 is exactly 0.
EXACT_A, EXACT_P, EXACT_N = np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[-2.0, 0.0]])
TRIPLETS = {
    "batched": (A, P, NEG),
    "unbatched": (A[0], P[0], NEG[0]),
    "leading_dims": (A3, P3, N3),
    "positive_broadcasts": (A, P[:1], NEG),
    "anchor_broadcasts": (A[:1], P, NEG),
    "anchor_equals_positive": (A, A.copy(), NEG),
    "zero_vectors": (ZEROS, ZEROS.copy(), ZEROS.copy()),
    "zero_anchor_positive": (ZEROS, ZEROS.copy(), NEG[:3]),
    "scalars": (np.asarray(0.3), np.asarray(1.1), np.asarray(-0.4)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(TRIPLETS))
@pytest.mark.parametrize("p", [1, 2, 3])
# swap and eps paired (each value of each once), not crossed: the grid stays small.
@pytest.mark.parametrize(("swap", "eps"), [(False, 1e-6), (True, 0.0), (True, 1e-6)])
def test_triplet_margin_loss(reduction, case, p, swap, eps):
    kwargs = {"reduction": reduction, "p": p, "swap": swap, "eps": eps, "margin": 0.7}
    arrays = TRIPLETS[case]
    _compare(F.triplet_margin_loss, TF.triplet_margin_loss, arrays, diff=(0, 1, 2), kwargs=kwargs)
    _compare(F.TripletMarginLoss(**kwargs), torch.nn.TripletMarginLoss(**kwargs), arrays, diff=(0, 1, 2))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_loss_margin_exactly_hit(p, swap):
    arrays = (EXACT_A, EXACT_P, EXACT_N)
    with jax.enable_x64(True):
        assert float(F.triplet_margin_loss(*arrays, p=p, eps=0.0, swap=swap)) == 0.0
    for reduction in REDUCTIONS:
        kwargs = {"reduction": reduction, "p": p, "eps": 0.0, "swap": swap}
        _compare(F.triplet_margin_loss, TF.triplet_margin_loss, arrays, diff=(0, 1, 2), kwargs=kwargs)


# --------------------------------------------------------------------------
# triplet_margin_with_distance_loss
# --------------------------------------------------------------------------


def _cosine_distance_jnp(u, v):
    return 1.0 - jnp.sum(u * v, axis=-1) / (jnp.linalg.norm(u, axis=-1) * jnp.linalg.norm(v, axis=-1))


def _cosine_distance_torch(u, v):
    return 1.0 - (u * v).sum(dim=-1) / (u.norm(dim=-1) * v.norm(dim=-1))


def _l1_jnp(u, v):
    return jnp.sum(jnp.abs(u - v), axis=-1)


def _l1_torch(u, v):
    return (u - v).abs().sum(dim=-1)


DISTANCES = {
    "default": (None, None),
    "cosine": (_cosine_distance_jnp, _cosine_distance_torch),
    "l1": (_l1_jnp, _l1_torch),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("distance", sorted(DISTANCES))
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("case", ["batched", "unbatched", "leading_dims", "positive_broadcasts"])
def test_triplet_margin_with_distance_loss(reduction, distance, swap, case):
    ours_fn, theirs_fn = DISTANCES[distance]
    options = {"reduction": reduction, "swap": swap, "margin": 0.5}
    arrays = TRIPLETS[case]
    _compare(
        lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, distance_function=ours_fn, **options),
        lambda a, p, n: TF.triplet_margin_with_distance_loss(a, p, n, distance_function=theirs_fn, **options),
        arrays,
        diff=(0, 1, 2),
    )
    ours = F.TripletMarginWithDistanceLoss(distance_function=ours_fn, **options)
    theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=theirs_fn, **options)
    _compare(ours, theirs, arrays, diff=(0, 1, 2))


def test_triplet_margin_with_distance_loss_default_is_triplet_margin_loss():
    with jax.enable_x64(True):
        for case in ("batched", "zero_vectors", "scalars"):
            arrays = TRIPLETS[case]
            np.testing.assert_allclose(
                F.triplet_margin_with_distance_loss(*arrays, swap=True, reduction="none"),
                F.triplet_margin_loss(*arrays, swap=True, reduction="none"),
                rtol=1e-15,
            )
    _compare(
        F.triplet_margin_with_distance_loss,
        TF.triplet_margin_with_distance_loss,
        TRIPLETS["zero_vectors"],
        diff=(0, 1, 2),
    )


# --------------------------------------------------------------------------
# legacy size_average / reduce
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("size_average", "reduce", "expected"), _legacy_cases())
def test_legacy_size_average_reduce(size_average, reduce, expected):
    legacy = {"size_average": size_average, "reduce": reduce}
    cases = [
        ("multilabel_soft_margin_loss", "MultiLabelSoftMarginLoss", (X, MULTI_HOT), (0, 1)),
        ("multilabel_margin_loss", "MultiLabelMarginLoss", (X, ML_TARGET), (0,)),
        ("multi_margin_loss", "MultiMarginLoss", (X, LABELS), (0,)),
        ("triplet_margin_loss", "TripletMarginLoss", (A, P, NEG), (0, 1, 2)),
    ]
    for fn, cls, arrays, diff in cases:
        with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
            ours = getattr(F, fn)(*arrays, **legacy)
        np.testing.assert_allclose(ours, getattr(F, fn)(*arrays, reduction=expected), rtol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The legacy arguments win over `reduction`, as in torch.
            kwargs = {**legacy, "reduction": "sum" if expected != "sum" else "none"}
            _compare(getattr(F, fn), getattr(TF, fn), arrays, diff=diff, kwargs=kwargs)
            _compare(getattr(F, cls)(**legacy), getattr(torch.nn, cls)(**legacy), arrays, diff=diff)


# --------------------------------------------------------------------------
# errors where torch errors
# --------------------------------------------------------------------------


def _t32(x):
    return torch.tensor(np.asarray(x, np.float32))


def test_gaussian_nll_loss_errors():
    x, t_x = MEAN.astype(np.float32), _t32(MEAN)
    for var in (np.ones((N, 2)), np.ones((1, 1)), np.asarray(1.0), np.ones((N, D, 1)), np.ones(D)):
        _both_raise(
            lambda v=var: F.gaussian_nll_loss(x, x, v.astype(np.float32)),
            lambda v=var: TF.gaussian_nll_loss(t_x, t_x, _t32(v)),
            match="`var` of size",
        )
    _both_raise(lambda: F.gaussian_nll_loss(x, x, -0.5), lambda: TF.gaussian_nll_loss(t_x, t_x, -0.5), match="`var`")
    _both_raise(
        lambda: F.gaussian_nll_loss(x, x, 1.0, reduction="avg"),
        lambda: TF.gaussian_nll_loss(t_x, t_x, 1.0, reduction="avg"),
        match="`reduction`",
    )
    with pytest.raises(ValueError, match="`eps`"):
        F.gaussian_nll_loss(x, x, 1.0, eps=0.0)
    with pytest.raises(TypeError, match="`input`"):
        F.gaussian_nll_loss(np.ones((2, 3), np.int32), x[:2, :3], 1.0)
    # A negative entry of a var array is a check on the data: jaxloss.checked makes it.
    with pytest.raises(ValueError, match="negative"):
        TF.gaussian_nll_loss(t_x, t_x, -torch.ones(N, D))
    with pytest.raises(jax.errors.JaxRuntimeError, match="`var`"):
        jaxloss.checked(F.gaussian_nll_loss)(x, x, -np.ones((N, D), np.float32))
    with pytest.raises(jax.errors.JaxRuntimeError, match="`var`"):
        jaxloss.checked(F.GaussianNLLLoss())(x, x, -np.ones((N, D), np.float32))


def test_multilabel_losses_errors():
    x, t_x = X.astype(np.float32), _t32(X)
    y = MULTI_HOT.astype(np.float32)
    _both_raise(
        lambda: F.multilabel_soft_margin_loss(x, y[:, :2]),
        lambda: TF.multilabel_soft_margin_loss(t_x, _t32(y[:, :2])),
        match="`target`",
    )
    _both_raise(
        lambda: F.multilabel_soft_margin_loss(x, y, weight=np.ones(2, np.float32)),
        lambda: TF.multilabel_soft_margin_loss(t_x, _t32(y), weight=torch.ones(2)),
        match="`weight`",
    )
    _both_raise(
        lambda: F.multilabel_soft_margin_loss(np.float32(1.0), np.float32(1.0)),
        lambda: TF.multilabel_soft_margin_loss(torch.tensor(1.0), torch.tensor(1.0)),
        match="`input`",
    )
    _both_raise(
        lambda: F.multilabel_soft_margin_loss(x, y, reduction="avg"),
        lambda: TF.multilabel_soft_margin_loss(t_x, _t32(y), reduction="avg"),
        match="`reduction`",
    )
    x3 = X3.astype(np.float32)
    _both_raise(
        lambda: F.multilabel_margin_loss(x3, np.zeros(x3.shape, np.int64)),
        lambda: TF.multilabel_margin_loss(_t32(x3), torch.zeros(x3.shape, dtype=torch.long)),
        match="`input`",
    )
    _both_raise(
        lambda: F.multilabel_margin_loss(x, ML_TARGET[:, :2]),
        lambda: TF.multilabel_margin_loss(t_x, _t(ML_TARGET[:, :2])),
        match="`target` of size",
    )
    _both_raise(
        lambda: F.multilabel_margin_loss(x[0], ML_TARGET[:1]),
        lambda: TF.multilabel_margin_loss(t_x[0], _t(ML_TARGET[:1])),
        match="`target` of size",
    )
    _both_raise(
        lambda: F.multilabel_margin_loss(x, ML_TARGET, reduction="avg"),
        lambda: TF.multilabel_margin_loss(t_x, _t(ML_TARGET), reduction="avg"),
        match="`reduction`",
    )
    _both_raise(
        lambda: F.multilabel_margin_loss(x, ML_TARGET.astype(np.float32)),
        lambda: TF.multilabel_margin_loss(t_x, _t32(ML_TARGET)),
        ours_error=TypeError,
        match="`target`",
    )


def test_multi_margin_loss_errors():
    x, t_x = X.astype(np.float32), _t32(X)
    x3 = X3.astype(np.float32)
    _both_raise(
        lambda: F.multi_margin_loss(x3, LABELS[:, None].repeat(3, 1)),
        lambda: TF.multi_margin_loss(_t32(x3), _t(LABELS[:, None].repeat(3, 1))),
        match="`input`",
    )
    for target in (LABELS[:3], LABELS[:, None], LABELS[:2]):
        first = x if target.shape != (2,) else x[0]
        _both_raise(
            lambda a=first, y=target: F.multi_margin_loss(a, y),
            lambda a=first, y=target: TF.multi_margin_loss(_t32(a), _t(y)),
            match="`target`",
        )
    _both_raise(
        lambda: F.multi_margin_loss(x, LABELS, p=3), lambda: TF.multi_margin_loss(t_x, _t(LABELS), p=3), match="`p`"
    )
    _both_raise(
        lambda: F.multi_margin_loss(x, LABELS, weight=np.ones((1, C), np.float32)),
        lambda: TF.multi_margin_loss(t_x, _t(LABELS), weight=torch.ones(1, C)),
        match="`weight`",
    )
    _both_raise(
        lambda: F.multi_margin_loss(x, LABELS, weight=np.ones(2, np.float32)),
        lambda: TF.multi_margin_loss(t_x, _t(LABELS), weight=torch.ones(2)),
        match="`weight`",
    )
    _both_raise(
        lambda: F.multi_margin_loss(x, LABELS, reduction="avg"),
        lambda: TF.multi_margin_loss(t_x, _t(LABELS), reduction="avg"),
        match="`reduction`",
    )
    _both_raise(
        lambda: F.multi_margin_loss(x, LABELS.astype(np.float32)),
        lambda: TF.multi_margin_loss(t_x, _t32(LABELS)),
        ours_error=TypeError,
        match="`target`",
    )
    _both_raise(lambda: F.MultiMarginLoss(p=3), lambda: torch.nn.MultiMarginLoss(p=3), match="`p`")
    _both_raise(
        lambda: F.MultiMarginLoss(weight=jnp.ones((1, C))),
        lambda: torch.nn.MultiMarginLoss(weight=torch.ones(1, C)),
        match="`weight`",
    )
    # A class index out of range: torch raises, here nan, and jaxloss.checked raises.
    bad = LABELS.copy()
    bad[2] = C
    with pytest.raises(RuntimeError):
        TF.multi_margin_loss(t_x, _t(bad))
    assert np.isnan(np.asarray(F.multi_margin_loss(x, bad, reduction="none"))[2])
    for fn in (F.multi_margin_loss, F.MultiMarginLoss()):
        with pytest.raises(jax.errors.JaxRuntimeError, match="`target`"):
            jaxloss.checked(fn)(x, bad)
        assert np.isfinite(float(jaxloss.checked(fn)(x, LABELS)))


def test_triplet_losses_errors():
    a, t_a = A.astype(np.float32), _t32(A)
    for fn in ("triplet_margin_loss", "triplet_margin_with_distance_loss"):
        for margin in (0.0, -1.0):
            _both_raise(
                lambda f=fn, m=margin: getattr(F, f)(a, a, a, margin=m),
                lambda f=fn, m=margin: getattr(TF, f)(t_a, t_a, t_a, margin=m),
                match="`margin`",
            )
        _both_raise(
            lambda f=fn: getattr(F, f)(a, a[0], a), lambda f=fn: getattr(TF, f)(t_a, t_a[0], t_a), match="dimensions"
        )
        _both_raise(
            lambda f=fn: getattr(F, f)(a, a[:, :2], a),
            lambda f=fn: getattr(TF, f)(t_a, t_a[:, :2], t_a),
            match="broadcast",
        )
        _both_raise(
            lambda f=fn: getattr(F, f)(a, a, a, reduction="avg"),
            lambda f=fn: getattr(TF, f)(t_a, t_a, t_a, reduction="avg"),
            match="`reduction`",
        )
    with pytest.raises(TypeError, match="`distance_function`"):
        F.triplet_margin_with_distance_loss(a, a, a, distance_function=3)
    with pytest.raises(TypeError):
        TF.triplet_margin_with_distance_loss(t_a, t_a, t_a, distance_function=3)
    with pytest.raises(ValueError, match="`distance_function`"):
        F.triplet_margin_with_distance_loss(a, a, a, distance_function=lambda u, v: jnp.sum(u - v, -1, keepdims=True))
    with pytest.raises(TypeError, match="`anchor`"):
        F.triplet_margin_loss(np.ones((2, 3), np.int32), a[:2, :3], a[:2, :3])
    with pytest.raises(ValueError, match="`p`"):
        F.triplet_margin_loss(a, a, a, p=0)
    for cls in ("TripletMarginLoss", "TripletMarginWithDistanceLoss"):
        _both_raise(
            lambda c=cls: getattr(F, c)(margin=0.0), lambda c=cls: getattr(torch.nn, c)(margin=0.0), match="`margin`"
        )


# --------------------------------------------------------------------------
# classes: frozen, jit, float32
# --------------------------------------------------------------------------


def test_classes_are_frozen_jittable_and_keep_float32():
    loss = F.TripletMarginWithDistanceLoss(distance_function=_l1_jnp, margin=0.5)
    assert loss.get_config() == {"distance_function": _l1_jnp, "margin": 0.5, "swap": False, "reduction": "mean"}
    assert F.TripletMarginWithDistanceLoss.from_config(loss.get_config()).margin == 0.5
    with pytest.raises(AttributeError):
        loss.margin = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        F.TripletMarginWithDistanceLoss(_l1_jnp)  # keyword-only, as in torch
    with pytest.raises(TypeError):
        F.GaussianNLLLoss(True)  # keyword-only, as in torch
    a, p, n = (x.astype(np.float32) for x in (A, P, NEG))
    expected = TF.triplet_margin_with_distance_loss(
        _t32(a), _t32(p), _t32(n), distance_function=_l1_torch, margin=0.5
    ).item()
    got = jax.jit(loss)(a, p, n)
    assert got.dtype == jnp.float32
    assert float(got) == pytest.approx(expected, rel=1e-6)
    x = X.astype(np.float32)
    cases = [
        (F.GaussianNLLLoss(), (MEAN.astype(np.float32), TARGET.astype(np.float32), np.ones(N, np.float32))),
        (F.MultiLabelSoftMarginLoss(weight=jnp.asarray(CLASS_W, jnp.float32)), (x, MULTI_HOT.astype(np.float32))),
        (F.MultiLabelMarginLoss(), (x, ML_TARGET.astype(np.int32))),
        (F.MultiMarginLoss(p=2), (x, LABELS.astype(np.int8))),
        (F.TripletMarginLoss(swap=True), (a, p, n)),
    ]
    for obj, arrays in cases:
        out = jax.jit(obj)(*arrays)
        assert out.dtype == jnp.float32 and out.shape == ()
        np.testing.assert_allclose(out, obj(*arrays), rtol=1e-6)


# --------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------

FUNCTIONS = [
    "gaussian_nll_loss",
    "multilabel_soft_margin_loss",
    "multilabel_margin_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
CLASSES = [
    "GaussianNLLLoss",
    "MultiLabelSoftMarginLoss",
    "MultiLabelMarginLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


@pytest.mark.parametrize("name", FUNCTIONS + CLASSES)
def test_signatures_match_torch(name):
    theirs = getattr(TF, name, None) or getattr(torch.nn, name)
    assert _params(getattr(F, name)) == _params(theirs)
    assert name in F.__all__


@pytest.mark.parametrize("name", CLASSES)
def test_call_signatures(name):
    ours = list(inspect.signature(getattr(F, name).__call__).parameters)[1:]
    assert ours == list(inspect.signature(getattr(torch.nn, name).forward).parameters)[1:]
