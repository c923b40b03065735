"""The core functions behind the PyTorch losses equal torch 2.13 (CPU, reduction='none').

Each case runs the jaxloss core function and ``torch.nn.functional`` on the
same float64 inputs (class/feature dimension moved last for jaxloss), then
compares the values (rtol 1e-5) and the gradients of a random weighted sum
with respect to every float input (rtol 1e-4), on random and edge inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F

import jaxloss

RNG = np.random.default_rng(2013)
N, C, D = 6, 5, 4


def _normal(*shape, scale=1.0):
    return RNG.normal(size=shape) * scale


def _compare(ours, theirs, floats, others=(), *, value_atol=1e-7):
    """``ours(*floats, *others)`` (jax) vs ``theirs(*tensors, *others)`` (torch), values and gradients."""
    with jax.enable_x64(True):
        xs = [jnp.asarray(x, jnp.float64) for x in floats]
        js = [jnp.asarray(o) if isinstance(o, np.ndarray) else o for o in others]
        value = ours(*xs, *js)
        cot = RNG.random(np.shape(value)) + 0.5
        grads = jax.grad(lambda *a: jnp.sum(ours(*a, *js) * cot), argnums=tuple(range(len(xs))))(*xs)
    ts = [torch.tensor(np.asarray(x, np.float64), requires_grad=True) for x in floats]
    tos = [torch.tensor(o) if isinstance(o, np.ndarray) else o for o in others]
    want = theirs(*ts, *tos)
    (want * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(np.asarray(value), want.detach().numpy(), rtol=1e-5, atol=value_atol)
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(np.asarray(g), t.grad.numpy(), rtol=1e-4, atol=1e-9)


def _labels(n, c, ignore=()):
    y = RNG.integers(0, c, n)
    y[list(ignore)] = -100
    return y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, -100])
def test_nll(weighted, ignore):
    lp = np.log(RNG.dirichlet(np.ones(C), N))
    y = _labels(N, C, [1, 4] if ignore is not None else ())
    w = RNG.random(C) + 0.2 if weighted else None
    tw = None if w is None else torch.tensor(w)
    _compare(
        lambda x, y: jaxloss.nll(x, y, class_weights=w, ignore_index=ignore),
        lambda x, y: F.nll_loss(x, y, weight=tw, ignore_index=-100 if ignore is None else ignore, reduction="none"),
        [lp],
        [y],
    )


def test_nll_class_axis_1_and_int8():
    lp = np.log(RNG.dirichlet(np.ones(C), (N, 3))).transpose(0, 2, 1)  # [N, C, 3], torch's layout
    y = RNG.integers(0, C, (N, 3))
    _compare(
        lambda x, y: jaxloss.nll(x, y.astype(jnp.int8), axis=1),
        lambda x, y: F.nll_loss(x, y, reduction="none"),
        [lp],
        [y],
    )


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(full):
    mu, t = _normal(N, C), _normal(N, C)
    var = RNG.random((N, C)) + 0.1
    var[0, :3] = [0.0, 1e-8, 1e-6]  # below and at the clamp: gradient of the formula at eps
    _compare(
        lambda m, t, v: jaxloss.gaussian_nll(m, t, v, full=full),
        lambda m, t, v: F.gaussian_nll_loss(m, t, v, full=full, reduction="none"),
        [mu, t, var],
    )


def test_gaussian_nll_homoscedastic():
    mu, t = _normal(N, C), _normal(N, C)
    var = RNG.random(N) + 0.1
    _compare(
        lambda m, t, v: jaxloss.gaussian_nll(m, t, v[:, None], eps=1e-3),
        lambda m, t, v: F.gaussian_nll_loss(m, t, v, eps=1e-3, reduction="none"),
        [mu, t, var],
    )


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
def test_smooth_l1(beta):
    p, t = _normal(N, C, scale=2.0), _normal(N, C)
    p[0, :4] = t[0, :4] + np.array([0.0, beta, -beta, 1e-9])  # at 0 and at the switch point
    _compare(
        lambda p, t: jaxloss.smooth_l1(p, t, beta=beta),
        lambda p, t: F.smooth_l1_loss(p, t, beta=beta, reduction="none"),
        [p, t],
    )


def test_soft_margin():
    s = _normal(N, C, scale=3.0)
    y = RNG.choice([-1.0, 1.0], (N, C))
    _compare(jaxloss.soft_margin, lambda s, y: F.soft_margin_loss(s, y, reduction="none"), [s], [y])


@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin(weighted):
    s = _normal(N, C, scale=3.0)
    y = RNG.integers(0, 2, (N, C)).astype(np.float64)
    y[0] = RNG.random(C)  # soft targets
    w = RNG.random(C) + 0.2 if weighted else None
    tw = None if w is None else torch.tensor(w)
    _compare(
        lambda s, y: jaxloss.multilabel_soft_margin(s, y, class_weights=w),
        lambda s, y: F.multilabel_soft_margin_loss(s, y, weight=tw, reduction="none"),
        [s],
        [y],
    )


def test_multilabel_margin():
    s = _normal(N, C)
    y = np.full((N, C), -1, np.int64)
    y[0, :3] = [3, 0, 1]
    y[1, :2] = [2, 2]  # a class listed twice counts twice
    y[2, :] = [0, 1, 2, 3, 4]  # every class a target: 0
    y[3, :2] = [4, -1]
    y[3, 3] = 1  # after the first -1: not a target
    y[4, 0] = 1
    s[4, 1] = s[4, 0] - 1.0  # margins of exactly 0 (derivative 0 in torch's kernel)
    s[4, 0] = s[4, 1] + 1.0
    y[5, :4] = [1, 2, 3, 4]
    _compare(jaxloss.multilabel_margin, lambda s, y: F.multilabel_margin_loss(s, y, reduction="none"), [s], [y])


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin(p, margin, weighted):
    s = _normal(N, C)
    y = _labels(N, C)
    s[0, (y[0] + 1) % C] = s[0, y[0]] - margin  # a margin of exactly 0
    w = RNG.random(C) + 0.2 if weighted else None
    tw = None if w is None else torch.tensor(w)
    _compare(
        lambda s, y: jaxloss.multi_margin(s, y.astype(jnp.uint8), p=p, margin=margin, class_weights=w),
        lambda s, y: F.multi_margin_loss(s, y, p=p, margin=margin, weight=tw, reduction="none"),
        [s],
        [y],
    )


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking(margin):
    a, b = _normal(N), _normal(N)
    y = RNG.choice([-1.0, 1.0], N)
    b[0] = a[0] + margin * y[0]  # a margin of exactly 0: torch's clamp_min passes the gradient
    _compare(
        lambda a, b: jaxloss.margin_ranking(a, b, jnp.asarray(y), margin=margin),
        lambda a, b: F.margin_ranking_loss(a, b, torch.tensor(y), margin=margin, reduction="none"),
        [a, b],
    )


@pytest.mark.parametrize("margin", [1.0, 0.2])
def test_hinge_embedding(margin):
    x = np.abs(_normal(N, C))
    x[0, 0] = margin  # exactly at the margin
    y = RNG.choice([-1.0, 1.0], (N, C))
    y[0, 0] = -1.0
    y[1, :2] = [0.0, 0.5]  # other labels: both pieces, as torch
    _compare(
        lambda x, y: jaxloss.hinge_embedding(x, y, margin=margin),
        lambda x, y: F.hinge_embedding_loss(x, y, margin=margin, reduction="none"),
        [x],
        [y],
    )


@pytest.mark.parametrize("margin", [0.0, 0.3, -0.2])
def test_cosine_embedding(margin):
    a, b = _normal(N, D), _normal(N, D)
    a[0] = 0.0  # a zero vector
    b[1] = 0.0
    a[3] = b[3] = 0.0  # both zero: cosine 0
    a[2] = 1e3 * RNG.normal(size=D)
    y = RNG.choice([-1.0, 1.0], N)
    y[:3] = [1.0, -1.0, -1.0]
    _compare(
        lambda a, b: jaxloss.cosine_embedding(a, b, jnp.asarray(y), margin=margin),
        lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor(y), margin=margin, reduction="none"),
        [a, b],
    )


@pytest.mark.parametrize(
    ("p", "eps", "swap"), [(2.0, 1e-6, False), (1.0, 1e-6, True), (3.0, 1e-3, False), (2.0, 0.0, True)]
)
def test_triplet_margin(p, eps, swap):
    a, pos, neg = _normal(N, D), _normal(N, D), _normal(N, D)
    neg[0] = a[0] + 5.0  # far negative: loss 0
    _compare(
        lambda a, x, y: jaxloss.triplet_margin(a, x, y, margin=0.7, p=p, eps=eps, swap=swap),
        lambda a, x, y: F.triplet_margin_loss(a, x, y, margin=0.7, p=p, eps=eps, swap=swap, reduction="none"),
        [a, pos, neg],
    )


def test_triplet_margin_with_distance_fn():
    a, pos, neg = _normal(N, D), _normal(N, D), _normal(N, D)

    def ours_d(u, v):
        return 1.0 - jnp.sum(u * v, -1) / jnp.sqrt(jnp.sum(u * u, -1) * jnp.sum(v * v, -1))

    def theirs_d(u, v):
        return 1.0 - F.cosine_similarity(u, v, eps=0.0)

    _compare(
        lambda a, x, y: jaxloss.triplet_margin(a, x, y, margin=0.2, distance_fn=ours_d, swap=True),
        lambda a, x, y: F.triplet_margin_with_distance_loss(
            a, x, y, distance_function=theirs_d, margin=0.2, swap=True, reduction="none"
        ),
        [a, pos, neg],
    )


def test_triplet_margin_equals_optax():
    a, pos, neg = (RNG.normal(size=(N, D)).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(
        jaxloss.triplet_margin(a, pos, neg, margin=0.5, eps=0.0),
        optax.losses.triplet_margin_loss(a, pos, neg, margin=0.5, eps=0.0),
        rtol=1e-6,
    )

    def optax_distance(u, v):  # optax's eps sits inside the root
        return jnp.sqrt(jnp.sum(jnp.square(u - v), -1) + 1e-6)

    np.testing.assert_allclose(
        jaxloss.triplet_margin(a, pos, neg, distance_fn=optax_distance),
        optax.losses.triplet_margin_loss(a, pos, neg),
        rtol=1e-6,
    )
