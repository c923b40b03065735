"""jaxloss.compat.torch against torch 2.13 CPU: values, gradients, errors and signatures."""

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

RNG = np.random.default_rng(0)
REDUCTIONS = ("none", "mean", "sum")
VALUE_RTOL, GRAD_RTOL = 1e-5, 1e-4


def _t(x):
    return None if x is None else torch.tensor(np.asarray(x))


def _compare(ours, theirs, arrays, diff=(0,), *, kwargs=None, finite_grads=True):
    """Values (rtol 1e-5) and gradients (rtol 1e-4) of ``ours(*arrays, **kwargs)`` vs torch, in float64.

    Gradients are those of ``sum(out * cotangent)`` for a fixed random
    cotangent, with respect to the arrays at positions ``diff``.
    """
    kwargs = kwargs or {}
    with jax.enable_x64(True):
        j_args = [jnp.asarray(a) for a in arrays]
        j_kwargs = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
        out = np.asarray(ours(*j_args, **j_kwargs))
        cot = RNG.normal(size=out.shape)

        def scalar(*d):
            full = list(j_args)
            for i, v in zip(diff, d, strict=True):
                full[i] = v
            return jnp.sum(ours(*full, **j_kwargs) * cot)

        grads = jax.grad(scalar, argnums=tuple(range(len(diff))))(*[j_args[i] for i in diff]) if diff else ()
    t_args = [_t(a) for a in arrays]
    for i in diff:
        t_args[i].requires_grad_(True)
    t_kwargs = {k: (_t(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    t_out = theirs(*t_args, **t_kwargs)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=VALUE_RTOL, atol=1e-12)
    assert out.dtype == np.float64
    if diff:
        (t_out * torch.tensor(cot)).sum().backward()
        for g, i in zip(grads, diff, strict=True):
            if finite_grads:
                assert np.all(np.isfinite(np.asarray(g)))
            np.testing.assert_allclose(np.asarray(g), t_args[i].grad.numpy(), rtol=GRAD_RTOL, atol=1e-10)


# --------------------------------------------------------------------------
# cross_entropy
# --------------------------------------------------------------------------

N, C, D1 = 6, 5, 3
LOGITS = RNG.normal(size=(N, C)) * 2
LOGITS_3D = RNG.normal(size=(N, C, D1)) * 2
LABELS = RNG.integers(0, C, N)
LABELS[[1, 4]] = -100
LABELS_3D = RNG.integers(0, C, (N, D1))
LABELS_3D[0, 1] = LABELS_3D[3, 2] = -100
PROBS = np.asarray(jax.nn.softmax(jnp.asarray(RNG.normal(size=(N, C))), axis=1)).astype(np.float64)
PROBS_3D = np.asarray(jax.nn.softmax(jnp.asarray(RNG.normal(size=(N, C, D1))), axis=1)).astype(np.float64)
CLASS_W = RNG.random(C) + 0.25
TARGETS = {
    "indices": (LOGITS, LABELS),
    "indices_3d": (LOGITS_3D, LABELS_3D),
    "probs": (LOGITS, PROBS),
    "probs_3d": (LOGITS_3D, PROBS_3D),
    "unbatched": (LOGITS[0], np.asarray(LABELS[0])),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy(reduction, target, weighted, smoothing):
    kwargs = {"reduction": reduction, "label_smoothing": smoothing, "weight": CLASS_W if weighted else None}
    _compare(F.cross_entropy, TF.cross_entropy, TARGETS[target], kwargs=kwargs)
    if smoothing == 0.0:
        return  # the class once per layout, weight and reduction
    loss = F.CrossEntropyLoss(**kwargs)
    _compare(loss, torch.nn.CrossEntropyLoss(**{**kwargs, "weight": _t(kwargs["weight"])}), TARGETS[target])


def test_cross_entropy_other_ignore_index_and_integer_dtypes():
    labels = LABELS.copy()
    labels[labels == -100] = 2
    for dtype in (np.int64, np.int32, np.uint8, np.int8):
        with jax.enable_x64(True):
            ours = F.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(labels.astype(dtype)), ignore_index=2)
        theirs = TF.cross_entropy(_t(LOGITS), _t(labels), ignore_index=2)
        np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=VALUE_RTOL)


def test_cross_entropy_float32_numpy_inputs_and_jit():
    logits = LOGITS_3D.astype(np.float32)
    ours = jax.jit(F.cross_entropy)(logits, LABELS_3D)
    assert ours.dtype == jnp.float32
    np.testing.assert_allclose(ours, TF.cross_entropy(_t(logits), _t(LABELS_3D)).numpy(), rtol=VALUE_RTOL)


def test_cross_entropy_everything_ignored_gives_zero():
    # torch: nan (0 / 0); the twins: 0, the convention of jaxloss.reduce.
    out = F.cross_entropy(LOGITS.astype(np.float32), np.full(N, -100))
    assert float(out) == 0.0
    assert np.isnan(TF.cross_entropy(_t(LOGITS), _t(np.full(N, -100))).item())


@pytest.mark.parametrize(
    ("size_average", "reduce", "expected"),
    [(None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none"), (True, None, "mean")],
)
def test_legacy_size_average_reduce(size_average, reduce, expected):
    legacy = {"size_average": size_average, "reduce": reduce}
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        ours = F.cross_entropy(LOGITS, LABELS, **legacy)
    np.testing.assert_allclose(ours, F.cross_entropy(LOGITS, LABELS, reduction=expected), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = TF.cross_entropy(_t(LOGITS), _t(LABELS), **legacy)
    np.testing.assert_allclose(ours, theirs.numpy().astype(np.float32), rtol=VALUE_RTOL)
    cases = [
        (F.binary_cross_entropy, TF.binary_cross_entropy, (PROBS, PROBS[::-1].copy())),
        (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, (LOGITS, PROBS)),
        (F.kl_div, TF.kl_div, (np.log(PROBS), PROBS[::-1].copy())),
        (F.poisson_nll_loss, TF.poisson_nll_loss, (LOGITS, PROBS)),
        (F.mse_loss, TF.mse_loss, (LOGITS, PROBS)),
        (F.l1_loss, TF.l1_loss, (LOGITS, PROBS)),
    ]
    for ours_fn, torch_fn, arrays in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _compare(ours_fn, torch_fn, arrays, kwargs=legacy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls, t_cls in [(F.MSELoss, torch.nn.MSELoss), (F.CrossEntropyLoss, torch.nn.CrossEntropyLoss)]:
            arrays = (LOGITS, PROBS) if cls is F.MSELoss else (LOGITS, LABELS)
            _compare(cls(**legacy), t_cls(**legacy), arrays)


# --------------------------------------------------------------------------
# binary and elementwise losses
# --------------------------------------------------------------------------

P = RNG.uniform(0.02, 0.98, (N, C))
Y = RNG.uniform(0.0, 1.0, (N, C))
Y[0, :2] = [0.0, 1.0]
ELEM_W = RNG.random((N, C)) + 0.1
POS_W = RNG.random(C) + 0.5


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "row", "full"])
def test_binary_cross_entropy(reduction, weight):
    w = {None: None, "row": CLASS_W, "full": ELEM_W}[weight]
    kwargs = {"reduction": reduction, "weight": w}
    _compare(F.binary_cross_entropy, TF.binary_cross_entropy, (P, Y), diff=(0, 1), kwargs=kwargs)
    _compare(F.BCELoss(**kwargs), torch.nn.BCELoss(**{**kwargs, "weight": _t(w)}), (P, Y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "row"])
@pytest.mark.parametrize("pos_weight", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weight, pos_weight):
    kwargs = {
        "reduction": reduction,
        "weight": None if weight is None else CLASS_W,
        "pos_weight": POS_W if pos_weight else None,
    }
    arrays = (LOGITS * 10, Y)
    _compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, arrays, (0, 1), kwargs=kwargs)
    t_kwargs = {k: (_t(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    _compare(F.BCEWithLogitsLoss(**kwargs), torch.nn.BCEWithLogitsLoss(**t_kwargs), arrays)


@pytest.mark.parametrize("reduction", (*REDUCTIONS, "batchmean"))
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    target = PROBS.copy()
    if not log_target:
        target[0, 0] = 0.0  # a zero target gives 0, with a finite gradient
    target = np.log(target) if log_target else target
    arrays = (np.log(PROBS[::-1].copy()), target)
    kwargs = {"reduction": reduction, "log_target": log_target}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(F.kl_div, TF.kl_div, arrays, diff=(0,), kwargs=kwargs)
        _compare(F.KLDivLoss(**kwargs), torch.nn.KLDivLoss(**kwargs), arrays)
    # torch warns that "mean" is not the KL divergence; so do the twins (and only then).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.kl_div(*arrays, **kwargs)
    assert any("'batchmean' divides only" in str(w.message) for w in caught) == (reduction == "mean")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(reduction, log_input, full):
    counts = RNG.integers(0, 6, (N, C)).astype(np.float64)
    inputs = LOGITS if log_input else np.exp(LOGITS)
    kwargs = {"reduction": reduction, "log_input": log_input, "full": full, "eps": 1e-6}
    _compare(F.poisson_nll_loss, TF.poisson_nll_loss, (inputs, counts), kwargs=kwargs)
    _compare(F.PoissonNLLLoss(**kwargs), torch.nn.PoissonNLLLoss(**kwargs), (inputs, counts))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "huber_loss_delta"])
def test_regression(reduction, weighted, name):
    fn_name = name.replace("_delta", "")
    kwargs = {"reduction": reduction, "weight": ELEM_W if weighted else None}
    if name == "huber_loss_delta":
        kwargs["delta"] = 0.4
    arrays = (LOGITS, Y)
    _compare(getattr(F, fn_name), getattr(TF, fn_name), arrays, diff=(0, 1), kwargs=kwargs)
    if not weighted:
        cls = {"mse_loss": "MSELoss", "l1_loss": "L1Loss", "huber_loss": "HuberLoss"}[fn_name]
        options = {k: v for k, v in kwargs.items() if k != "weight"}
        _compare(getattr(F, cls)(**options), getattr(torch.nn, cls)(**options), arrays)


# --------------------------------------------------------------------------
# ctc_loss
# --------------------------------------------------------------------------

T, B, K, S = 12, 4, 6, 5
CTC_X = RNG.normal(size=(T, B, K))
CTC_TARGETS = RNG.integers(1, K, (B, S))
CTC_TARGETS[1, 1] = CTC_TARGETS[1, 2]  # a repeat needs a blank between
IN_LEN = np.array([12, 9, 7, 12])
TGT_LEN = np.array([5, 4, 0, 3])


def _ctc(module, fn_name, **kwargs):
    def run(x, targets, in_len, tgt_len):
        lib = jax.nn if module is F else torch
        lp = lib.log_softmax(x, axis=-1) if module is F else torch.log_softmax(x, dim=-1)
        return getattr(module, fn_name)(lp, targets, in_len, tgt_len, **kwargs)

    return run


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss(reduction, concatenated):
    targets = np.concatenate([CTC_TARGETS[i, :n] for i, n in enumerate(TGT_LEN)]) if concatenated else CTC_TARGETS
    arrays = (CTC_X, targets, IN_LEN, TGT_LEN)
    _compare(_ctc(F, "ctc_loss", reduction=reduction), _ctc(TF, "ctc_loss", reduction=reduction), arrays)
    ours = F.CTCLoss(blank=0, reduction=reduction)
    theirs = torch.nn.CTCLoss(blank=0, reduction=reduction)
    _compare(
        lambda x, *a: ours(jax.nn.log_softmax(x, axis=-1), *a),
        lambda x, *a: theirs(torch.log_softmax(x, dim=-1), *a),
        arrays,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss_zero_infinity_and_blank(reduction):
    in_len = np.array([12, 2, 7, 12])  # row 1: 4 labels (one repeat) cannot fit in 2 frames
    targets = np.where(CTC_TARGETS == 3, 0, CTC_TARGETS)  # blank=3: class 3 is not a label
    arrays = (CTC_X, targets, in_len, TGT_LEN)
    kwargs = {"reduction": reduction, "zero_infinity": True, "blank": 3}
    _compare(_ctc(F, "ctc_loss", **kwargs), _ctc(TF, "ctc_loss", **kwargs), arrays)
    # Without zero_infinity the impossible row is inf, as in torch (values only).
    kwargs["zero_infinity"] = False
    with jax.enable_x64(True):
        ours = np.asarray(_ctc(F, "ctc_loss", **kwargs)(*[jnp.asarray(a) for a in arrays]))
    theirs = _ctc(TF, "ctc_loss", **kwargs)(*[_t(a) for a in arrays]).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=VALUE_RTOL)
    assert np.isinf(ours).any()


def test_ctc_loss_unbatched():
    arrays = (CTC_X[:, 0], CTC_TARGETS[0, :4], np.asarray(10), np.asarray(4))
    _compare(_ctc(F, "ctc_loss", reduction="none"), _ctc(TF, "ctc_loss", reduction="none"), arrays)


# --------------------------------------------------------------------------
# linear_cross_entropy
# --------------------------------------------------------------------------

HID, VOCAB = 4, 7
HIDDEN = RNG.normal(size=(N, HID))
HEAD = RNG.normal(size=(VOCAB, HID))
BIAS = RNG.normal(size=VOCAB)
HEAD_LABELS = RNG.integers(0, VOCAB, N)
HEAD_LABELS[2] = -100
HEAD_W = RNG.random(VOCAB) + 0.25
HEAD_PROBS = np.asarray(jax.nn.softmax(jnp.asarray(RNG.normal(size=(N, VOCAB))), axis=-1)).astype(np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_linear_cross_entropy(reduction, weighted, bias, smoothing):
    kwargs = {"reduction": reduction, "weight": HEAD_W if weighted else None, "label_smoothing": smoothing}
    if bias:
        kwargs["linear_bias"] = BIAS
    _compare(F.linear_cross_entropy, TF.linear_cross_entropy, (HIDDEN, HEAD, HEAD_LABELS), (0, 1), kwargs=kwargs)
    if smoothing == 0.0:
        return  # the class once per weight, bias and reduction
    options = {k: v for k, v in kwargs.items() if k != "linear_bias"}
    ours = F.LinearCrossEntropyLoss(**options, options=torch.nn.LinearCrossEntropyOptions())

    def torch_loss(x, w, y):
        t_opts = {k: (_t(v) if isinstance(v, np.ndarray) else v) for k, v in options.items()}
        return TF.linear_cross_entropy(x, w, y, linear_bias=_t(kwargs.get("linear_bias")), **t_opts)

    _compare(lambda x, w, y: ours(x, w, y, _as_jnp(kwargs.get("linear_bias"))), torch_loss, (HIDDEN, HEAD, HEAD_LABELS))


def _as_jnp(x):
    return None if x is None else jnp.asarray(x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_cross_entropy_probability_targets_and_unbatched(reduction):
    kwargs = {"reduction": reduction, "weight": HEAD_W, "linear_bias": BIAS}
    _compare(F.linear_cross_entropy, TF.linear_cross_entropy, (HIDDEN, HEAD, HEAD_PROBS), (0, 1), kwargs=kwargs)
    arrays = (HIDDEN[0], HEAD, np.asarray(HEAD_LABELS[0]))
    _compare(F.linear_cross_entropy, TF.linear_cross_entropy, arrays, (0, 1), kwargs={"reduction": reduction})


# --------------------------------------------------------------------------
# errors where torch errors
# --------------------------------------------------------------------------

X32 = LOGITS.astype(np.float32)


def _both_raise(ours, theirs, ours_error=ValueError, match=None):
    with pytest.raises(ours_error, match=match):
        ours()
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        theirs()


def test_errors_where_torch_errors():
    x, t_x = X32, _t(X32)
    short = LABELS[:4]
    _both_raise(lambda: F.cross_entropy(x, short), lambda: TF.cross_entropy(t_x, _t(short)), match="`target`")
    _both_raise(
        lambda: F.cross_entropy(x, LABELS, weight=np.ones(3)),
        lambda: TF.cross_entropy(t_x, _t(LABELS), weight=torch.ones(3)),
        match="`weight`",
    )
    _both_raise(
        lambda: F.cross_entropy(x, LABELS, label_smoothing=1.5),
        lambda: TF.cross_entropy(t_x, _t(LABELS), label_smoothing=1.5),
        match="`label_smoothing`",
    )
    for name in ("cross_entropy", "mse_loss", "kl_div", "huber_loss"):
        target = LABELS if name == "cross_entropy" else X32
        _both_raise(
            lambda n=name, y=target: getattr(F, n)(x, y, reduction="avg"),
            lambda n=name, y=target: getattr(TF, n)(t_x, _t(y), reduction="avg"),
            match="`reduction`",
        )
    _both_raise(
        lambda: F.mse_loss(X32, X32, reduction="batchmean"),
        lambda: TF.mse_loss(t_x, t_x, reduction="batchmean"),
        match="`reduction`",
    )
    p = P.astype(np.float32)
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        _both_raise(
            lambda n=name: getattr(F, n)(p, p[:, :1]), lambda n=name: getattr(TF, n)(_t(p), _t(p[:, :1])), match="size"
        )
    for name in ("mse_loss", "l1_loss", "huber_loss"):
        _both_raise(
            lambda n=name: getattr(F, n)(X32, X32, weight=np.ones(C, np.float32)),
            lambda n=name: getattr(TF, n)(t_x, t_x, weight=torch.ones(C, dtype=torch.float32)),
            match="`weight`",
        )
    _both_raise(
        lambda: F.linear_cross_entropy(HIDDEN, HEAD[:, :3], HEAD_LABELS),
        lambda: TF.linear_cross_entropy(_t(HIDDEN), _t(HEAD[:, :3]), _t(HEAD_LABELS)),
        match="in_features",
    )
    _both_raise(
        lambda: F.linear_cross_entropy(HIDDEN, HEAD, HEAD_PROBS, ignore_index=-100),
        lambda: TF.linear_cross_entropy(_t(HIDDEN), _t(HEAD), _t(HEAD_PROBS), ignore_index=-100),
        match="`ignore_index`",
    )
    _both_raise(
        lambda: F.linear_cross_entropy(HIDDEN, HEAD, HEAD_LABELS, linear_bias=BIAS[:3]),
        lambda: TF.linear_cross_entropy(_t(HIDDEN), _t(HEAD), _t(HEAD_LABELS), linear_bias=_t(BIAS[:3])),
        match="`linear_bias`",
    )
    lp = jax.nn.log_softmax(CTC_X.astype(np.float32))
    t_lp = _t(np.asarray(lp))
    _both_raise(
        lambda: F.ctc_loss(lp, CTC_TARGETS, IN_LEN, TGT_LEN, blank=K),
        lambda: TF.ctc_loss(t_lp, _t(CTC_TARGETS), _t(IN_LEN), _t(TGT_LEN), blank=K),
        match="`blank`",
    )
    too_long = IN_LEN + 1
    _both_raise(
        lambda: F.ctc_loss(lp, CTC_TARGETS, too_long, TGT_LEN),
        lambda: TF.ctc_loss(t_lp, _t(CTC_TARGETS), _t(too_long), _t(TGT_LEN)),
        match="`input_lengths`",
    )
    _both_raise(
        lambda: F.ctc_loss(lp, CTC_TARGETS, IN_LEN, TGT_LEN + 1),
        lambda: TF.ctc_loss(t_lp, _t(CTC_TARGETS), _t(IN_LEN), _t(TGT_LEN + 1)),
        match="`target_lengths`",
    )


def test_size_mismatch_raises_where_torch_warns():
    for name in ("mse_loss", "l1_loss", "huber_loss"):
        with pytest.warns(UserWarning, match="target size"):
            getattr(TF, name)(_t(X32), _t(X32[:, :1]))
        with pytest.raises(ValueError, match="`target` of size"):
            getattr(F, name)(X32, X32[:, :1])


def test_core_errors_use_torch_names():
    with pytest.raises(TypeError, match="`input`"):
        F.cross_entropy(np.zeros((2, 3), np.int32), np.array([0, 1]))
    with pytest.raises(TypeError, match="`target`"):
        F.cross_entropy(X32, np.zeros(N, np.float32))
    with pytest.raises(ValueError, match="`eps`"):
        F.poisson_nll_loss(X32, X32, log_input=False, eps=-1.0)
    with pytest.raises(TypeError, match="`log_probs`"):
        F.ctc_loss(np.zeros((3, 1, 2), np.int32), np.array([[1]]), np.array([3]), np.array([1]))


def test_checked_reads_twin_roles():
    logits = jnp.zeros((2, 3))
    for fn in (F.cross_entropy, F.CrossEntropyLoss()):
        assert float(jaxloss.checked(fn)(logits, jnp.array([0, -100]))) == pytest.approx(np.log(3))
        with pytest.raises(jax.errors.JaxRuntimeError, match="`target`"):
            jaxloss.checked(fn)(logits, jnp.array([0, 7]))
    # The instance's own ignore_index is an option of the check.
    assert np.isfinite(float(jaxloss.checked(F.CrossEntropyLoss(ignore_index=7))(logits, jnp.array([0, 7]))))
    with pytest.raises(jax.errors.JaxRuntimeError, match="`input`"):
        jaxloss.checked(F.BCELoss())(jnp.array([1.5]), jnp.array([1.0]))
    with pytest.raises(jax.errors.JaxRuntimeError, match="`weight`"):
        jaxloss.checked(F.mse_loss)(jnp.ones(2), jnp.ones(2), weight=jnp.array([1.0, -1.0]))
    # Every class binds through its call's signature, also a hand-written one.
    lp = jax.nn.log_softmax(jnp.zeros((3, 1, 2)))
    ctc_args = (lp, jnp.array([[1]]), jnp.array([3]), jnp.array([1]))
    assert float(jaxloss.checked(F.CTCLoss())(*ctc_args)) == pytest.approx(-np.log(0.75), rel=1e-6)
    head = (jnp.ones((2, 3)), jnp.zeros((4, 3)), jnp.array([0, -100]))
    assert float(jaxloss.checked(F.LinearCrossEntropyLoss())(*head)) == pytest.approx(np.log(4), rel=1e-6)
    with pytest.raises(jax.errors.JaxRuntimeError, match="`linear_weight`"):
        jaxloss.checked(F.LinearCrossEntropyLoss())(head[0], jnp.full((4, 3), jnp.nan), head[2])
    # A loss object is usable inside jit.
    ce = F.CrossEntropyLoss(weight=jnp.ones(3))
    assert float(jax.jit(ce)(logits, jnp.array([0, 1]))) == pytest.approx(np.log(3), rel=1e-6)


def test_classes_are_frozen_with_config():
    loss = F.CrossEntropyLoss(ignore_index=3, label_smoothing=0.1)
    with pytest.raises(AttributeError):
        loss.reduction = "sum"  # type: ignore[misc]
    config = loss.get_config()
    assert config["ignore_index"] == 3 and config["label_smoothing"] == 0.1
    again = F.CrossEntropyLoss.from_config(config)
    np.testing.assert_array_equal(again(X32, LABELS), loss(X32, LABELS))
    with pytest.raises(TypeError):
        F.LinearCrossEntropyLoss("mean")  # keyword-only, as torch's options


# --------------------------------------------------------------------------
# nll, smooth L1 and margin losses
# --------------------------------------------------------------------------

LOG_PROBS = torch.log_softmax(_t(LOGITS), dim=1).numpy()  # float64
LOG_PROBS_3D = torch.log_softmax(_t(LOGITS_3D), dim=1).numpy()
NLL_TARGETS = {
    "indices": (LOG_PROBS, LABELS),
    "indices_3d": (LOG_PROBS_3D, LABELS_3D),
    "unbatched": (LOG_PROBS[0], np.asarray(LABELS[0])),
}
SIGNS = np.where(RNG.random((N, C)) < 0.5, -1.0, 1.0)
PAIR_SIGNS = np.where(RNG.random(N) < 0.5, -1.0, 1.0)
EMB1, EMB2 = RNG.normal(size=(N, C)), RNG.normal(size=(N, C))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", sorted(NLL_TARGETS))
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, target, weighted):
    kwargs = {"reduction": reduction, "weight": CLASS_W if weighted else None}
    _compare(F.nll_loss, TF.nll_loss, NLL_TARGETS[target], kwargs=kwargs)
    loss = F.NLLLoss(**kwargs)
    _compare(loss, torch.nn.NLLLoss(**{**kwargs, "weight": _t(kwargs["weight"])}), NLL_TARGETS[target])


def test_nll_loss_other_ignore_index():
    labels = LABELS.copy()
    labels[labels == -100] = 2
    for kwargs in ({"ignore_index": 2}, {"ignore_index": 2, "weight": CLASS_W}):
        _compare(F.nll_loss, TF.nll_loss, (LOG_PROBS, labels), kwargs=kwargs)
        t_kwargs = {**kwargs, "weight": _t(kwargs.get("weight"))}
        _compare(F.NLLLoss(**kwargs), torch.nn.NLLLoss(**t_kwargs), (LOG_PROBS, labels))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_loss(reduction, beta):
    kwargs = {"reduction": reduction, "beta": beta}
    _compare(F.smooth_l1_loss, TF.smooth_l1_loss, (LOGITS, Y), diff=(0, 1), kwargs=kwargs)
    _compare(F.SmoothL1Loss(**kwargs), torch.nn.SmoothL1Loss(**kwargs), (LOGITS, Y), diff=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("broadcast", [False, True])
def test_soft_margin_loss(reduction, broadcast):
    arrays = (LOGITS * 10, SIGNS[:, :1].copy() if broadcast else SIGNS)
    _compare(F.soft_margin_loss, TF.soft_margin_loss, arrays, kwargs={"reduction": reduction})
    _compare(F.SoftMarginLoss(reduction=reduction), torch.nn.SoftMarginLoss(reduction=reduction), arrays)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [None, 0.3])
def test_margin_ranking_loss(reduction, margin):
    kwargs = {"reduction": reduction} if margin is None else {"reduction": reduction, "margin": margin}
    arrays = (LOGITS, Y, SIGNS)
    _compare(F.margin_ranking_loss, TF.margin_ranking_loss, arrays, diff=(0, 1), kwargs=kwargs)
    _compare(F.MarginRankingLoss(**kwargs), torch.nn.MarginRankingLoss(**kwargs), arrays, diff=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [None, 0.5])
def test_hinge_embedding_loss(reduction, margin):
    kwargs = {"reduction": reduction} if margin is None else {"reduction": reduction, "margin": margin}
    arrays = (np.abs(LOGITS), SIGNS)
    _compare(F.hinge_embedding_loss, TF.hinge_embedding_loss, arrays, kwargs=kwargs)
    _compare(F.HingeEmbeddingLoss(**kwargs), torch.nn.HingeEmbeddingLoss(**kwargs), arrays)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [None, 0.2])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cosine_embedding_loss(reduction, margin, unbatched):
    kwargs = {"reduction": reduction} if margin is None else {"reduction": reduction, "margin": margin}
    arrays = (EMB1, EMB2, PAIR_SIGNS)
    if unbatched:
        arrays = (EMB1[1], EMB2[1], np.asarray(-1.0))
    _compare(F.cosine_embedding_loss, TF.cosine_embedding_loss, arrays, diff=(0, 1), kwargs=kwargs)
    _compare(F.CosineEmbeddingLoss(**kwargs), torch.nn.CosineEmbeddingLoss(**kwargs), arrays, diff=(0, 1))


@pytest.mark.parametrize(
    ("size_average", "reduce", "expected"), [(None, False, "none"), (False, None, "sum"), (True, True, "mean")]
)
def test_legacy_size_average_reduce_new_twins(size_average, reduce, expected):
    legacy = {"size_average": size_average, "reduce": reduce}
    cases = [
        ("nll_loss", "NLLLoss", (LOG_PROBS, LABELS)),
        ("smooth_l1_loss", "SmoothL1Loss", (LOGITS, Y)),
        ("soft_margin_loss", "SoftMarginLoss", (LOGITS, SIGNS)),
        ("margin_ranking_loss", "MarginRankingLoss", (LOGITS, Y, SIGNS)),
        ("hinge_embedding_loss", "HingeEmbeddingLoss", (np.abs(LOGITS), SIGNS)),
        ("cosine_embedding_loss", "CosineEmbeddingLoss", (EMB1, EMB2, PAIR_SIGNS)),
    ]
    for fn, cls, arrays in cases:
        with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
            ours = getattr(F, fn)(*arrays, **legacy)
        np.testing.assert_allclose(ours, getattr(F, fn)(*arrays, reduction=expected), rtol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _compare(getattr(F, fn), getattr(TF, fn), arrays, kwargs=legacy)
            _compare(getattr(F, cls)(**legacy), getattr(torch.nn, cls)(**legacy), arrays)


def test_new_twins_errors_where_torch_errors():
    lp, t_lp = LOG_PROBS.astype(np.float32), _t(LOG_PROBS.astype(np.float32))
    _both_raise(lambda: F.nll_loss(lp, LABELS[:4]), lambda: TF.nll_loss(t_lp, _t(LABELS[:4])), match="`target`")
    _both_raise(
        lambda: F.nll_loss(lp, LABELS, weight=np.ones(3)),
        lambda: TF.nll_loss(t_lp, _t(LABELS), weight=torch.ones(3)),
        match="`weight`",
    )
    x, t_x = X32, _t(X32)
    _both_raise(
        lambda: F.smooth_l1_loss(x, x, beta=-1.0), lambda: TF.smooth_l1_loss(t_x, t_x, beta=-1.0), match="`beta`"
    )
    signs = SIGNS.astype(np.float32)
    for name in ("nll_loss", "smooth_l1_loss", "soft_margin_loss", "hinge_embedding_loss"):
        first, target = (lp, LABELS) if name == "nll_loss" else (x, signs)
        _both_raise(
            lambda n=name, a=first, y=target: getattr(F, n)(a, y, reduction="avg"),
            lambda n=name, a=first, y=target: getattr(TF, n)(_t(a), _t(y), reduction="avg"),
            match="`reduction`",
        )
    for name in ("soft_margin_loss", "hinge_embedding_loss"):
        _both_raise(
            lambda n=name: getattr(F, n)(x, signs[:, :2]),
            lambda n=name: getattr(TF, n)(t_x, _t(signs[:, :2])),
            match="`target`",
        )
    _both_raise(
        lambda: F.margin_ranking_loss(x, x, signs[0]),
        lambda: TF.margin_ranking_loss(t_x, t_x, _t(signs[0])),
        match="dimensions",
    )
    _both_raise(
        lambda: F.margin_ranking_loss(x, x[:, :2], signs),
        lambda: TF.margin_ranking_loss(t_x, _t(x[:, :2]), _t(signs)),
        match="`input2`",
    )
    pair = PAIR_SIGNS.astype(np.float32)
    _both_raise(
        lambda: F.cosine_embedding_loss(x, x, pair[:2]),
        lambda: TF.cosine_embedding_loss(t_x, t_x, _t(pair[:2])),
        match="`target`",
    )
    _both_raise(
        lambda: F.cosine_embedding_loss(x, x[0], pair),
        lambda: TF.cosine_embedding_loss(t_x, _t(x[0]), _t(pair)),
        match="`input2`",
    )
    _both_raise(
        lambda: F.cosine_embedding_loss(x, x, signs),
        lambda: TF.cosine_embedding_loss(t_x, t_x, _t(signs)),
        match="`target`",
    )
    _both_raise(
        lambda: F.cosine_embedding_loss(x, x, pair, reduction="avg"),
        lambda: TF.cosine_embedding_loss(t_x, t_x, _t(pair), reduction="avg"),
        match="`reduction`",
    )
    with pytest.raises(TypeError, match="`input`"):
        F.nll_loss(np.zeros((2, 3), np.int32), np.array([0, 1]))
    with pytest.raises(ValueError, match="`target` of size"):
        F.smooth_l1_loss(x, x[:, :1])


def test_checked_reads_nll_loss_roles():
    lp = jnp.log(jnp.full((2, 3), 1 / 3))
    for fn in (F.nll_loss, F.NLLLoss()):
        assert float(jaxloss.checked(fn)(lp, jnp.array([0, -100]))) == pytest.approx(np.log(3), rel=1e-6)
        with pytest.raises(jax.errors.JaxRuntimeError, match="`target`"):
            jaxloss.checked(fn)(lp, jnp.array([0, 7]))
    assert np.isfinite(float(jaxloss.checked(F.NLLLoss(ignore_index=7))(lp, jnp.array([0, 7]))))
    loss = F.MarginRankingLoss(margin=0.5)
    assert loss.get_config()["margin"] == 0.5
    with pytest.raises(AttributeError):
        loss.margin = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------

FUNCTIONS = [
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "ctc_loss",
    "linear_cross_entropy",
    "nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "multilabel_soft_margin_loss",
    "multilabel_margin_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
CLASSES = [
    "CrossEntropyLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "PoissonNLLLoss",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "CTCLoss",
    "LinearCrossEntropyLoss",
    "NLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "CosineEmbeddingLoss",
    "GaussianNLLLoss",
    "MultiLabelSoftMarginLoss",
    "MultiLabelMarginLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]
# Documented differences: LinearCrossEntropyLoss holds no parameters.
NOT_TAKEN = {"LinearCrossEntropyLoss": {"in_features", "num_classes", "out_features", "bias", "device", "dtype"}}


def _params(obj, drop=()):
    sig = inspect.signature(obj)
    return [(n, p.kind, p.default) for n, p in sig.parameters.items() if n not in drop and n != "self"]


@pytest.mark.parametrize("name", FUNCTIONS + CLASSES)
def test_signatures_match_torch(name):
    theirs = getattr(TF, name, None) or getattr(torch.nn, name)
    assert _params(getattr(F, name)) == _params(theirs, NOT_TAKEN.get(name, ()))
    assert name in F.__all__


@pytest.mark.parametrize("name", CLASSES)
def test_call_signatures(name):
    params = list(inspect.signature(getattr(F, name).__call__).parameters)[1:]
    if name == "LinearCrossEntropyLoss":
        assert params == ["input", "linear_weight", "target", "linear_bias"]
        return
    theirs = list(inspect.signature(getattr(torch.nn, name).forward).parameters)[1:]
    if name == "PoissonNLLLoss":
        theirs[0] = "input"  # torch calls it log_input, like the option
    assert params == theirs
