"""Gallery: the value and the gradient of every loss family, in one picture.

Each column is a family of jaxloss losses: on top its value, below its
gradient (``jax.vmap(jax.value_and_grad(...))``) against the quantity that
drives it: the margin ``y * z`` for classification from logits and for
margin losses, the error ``prediction - target`` for regression, the
distance for contrastive pairs, the log rate for Poisson, the angle for the
cosine distance.

The last column is why jaxloss exists: the gradient of binary cross-entropy
with respect to a probability near 0 (target 1) and near 1 (target 0). Keras
clips the probability to ``[1e-7, 1 - 1e-7]`` with a plain clip, so past the
clip its gradient is exactly 0 and a prediction stuck at 0 or 1 never
learns. :func:`jaxloss.binary_cross_entropy` gives the same values but keeps
the derivative of the formula at the clipped point: finite, with the sign
that pushes the prediction back towards the target.

Needs the ``examples`` extra (matplotlib) and Keras (the ``reference``
extra) with the JAX backend.

Run:  python examples/gallery.py [--out docs/images/gallery.png] [--dpi 150]
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import matplotlib
import numpy as np
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

import jaxloss  # noqa: E402

DEFAULT_OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "images" / "gallery.png"
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
KERAS_COLOR, JAXLOSS_COLOR = "#d62728", "#1f77b4"


def curves(fn, x):
    """Values and derivatives of a scalar function ``fn`` at every point of ``x``."""
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(fn)))(jnp.asarray(x, jnp.float32))
    return np.asarray(value), np.asarray(grad)


def families(n: int):
    """The families drawn: (title, x label, x name, x, [(label, fn, style)], value ylim, grad ylim)."""
    one = jnp.float32(1.0)
    margin = np.linspace(-4.0, 4.0, n)
    gap = np.linspace(-6.0, 6.0, n)
    error = np.linspace(-3.0, 3.0, n)
    distance = np.linspace(0.0, 2.0, n)
    log_rate = np.linspace(-3.0, 2.5, n)
    angle = np.linspace(0.0, np.pi, n)
    onehot = jnp.array([1.0, 0.0, 0.0])

    def three_logits(g):  # the true class leads the two others by the gap g
        return jnp.stack([g, jnp.float32(0.0), jnp.float32(0.0)])

    def unit(theta):  # a prediction at angle theta from the target (1, 0)
        return jnp.stack([jnp.cos(theta), jnp.sin(theta)])

    return [
        (
            "Sigmoid cross-entropy & focal",
            "margin  y·z",
            "m",
            margin,
            [
                ("cross-entropy (γ=0)", lambda m: jaxloss.sigmoid_binary_cross_entropy(m, one), "-"),
                ("focal γ=1", lambda m: jaxloss.sigmoid_focal_loss(m, one, gamma=1.0), "-"),
                ("focal γ=2", lambda m: jaxloss.sigmoid_focal_loss(m, one, gamma=2.0), "-"),
                ("focal γ=5", lambda m: jaxloss.sigmoid_focal_loss(m, one, gamma=5.0), "-"),
            ],
            (0, 4.5),
            (-1.4, 0.1),
        ),
        (
            "Margin losses",
            "margin  y·s",
            "m",
            margin,
            [
                ("hinge", lambda m: jaxloss.hinge(m, one), "-"),
                ("squared hinge", lambda m: jaxloss.squared_hinge(m, one), "-"),
                ("logistic (for scale)", lambda m: jaxloss.sigmoid_binary_cross_entropy(m, one), ":"),
            ],
            (0, 6),
            (-5.5, 0.5),
        ),
        (
            "Softmax cross-entropy (3 classes)",
            "logit gap of the true class",
            "gap",
            gap,
            [
                ("cross-entropy", lambda g: jaxloss.softmax_cross_entropy(three_logits(g), onehot), "-"),
                (
                    "label smoothing 0.1",
                    lambda g: jaxloss.softmax_cross_entropy(three_logits(g), onehot, label_smoothing=0.1),
                    "-",
                ),
                ("poly-1 (ε=1)", lambda g: jaxloss.poly1_cross_entropy(three_logits(g), onehot), "-"),
                ("softmax focal γ=2", lambda g: jaxloss.softmax_focal_loss(three_logits(g), onehot), "-"),
            ],
            (0, 7),
            (-1.3, 0.2),
        ),
        (
            "Regression",
            "error  prediction − target",
            "e",
            error,
            [
                ("squared", lambda e: jaxloss.squared_error(e, 0.0), "-"),
                ("absolute", lambda e: jaxloss.absolute_error(e, 0.0), "-"),
                ("Huber δ=1", lambda e: jaxloss.huber(e, 0.0, delta=1.0), "-"),
                ("log-cosh", lambda e: jaxloss.log_cosh(e, 0.0), "-"),
            ],
            (0, 4),
            (-3.5, 3.5),
        ),
        (
            "Contrastive (margin 1)",
            "distance  d",
            "d",
            distance,
            [
                ("similar pair (y=1)", lambda d: jaxloss.contrastive(d, one), "-"),
                ("dissimilar pair (y=0)", lambda d: jaxloss.contrastive(d, 0.0 * one), "-"),
            ],
            (0, 2),
            (-2.2, 4.2),
        ),
        (
            "Poisson NLL (log input)",
            "log rate  s",
            "s",
            log_rate,
            [
                ("count 0", lambda s: jaxloss.poisson_nll(s, 0.0), "-"),
                ("count 1", lambda s: jaxloss.poisson_nll(s, 1.0), "-"),
                ("count 3", lambda s: jaxloss.poisson_nll(s, 3.0), "-"),
            ],
            (-2, 12),
            (-3.5, 12),
        ),
        (
            "Cosine distance",
            "angle θ to the target (rad)",
            "θ",
            angle,
            [
                ("1 − cos", lambda t: jaxloss.cosine_distance(unit(t), jnp.array([1.0, 0.0])), "-"),
            ],
            (0, 2.1),
            (-0.1, 1.1),
        ),
    ]


def draw_family(ax_value, ax_grad, title, xlabel, xname, x, members, value_lim, grad_lim):
    for color, (label, fn, style) in zip(COLORS, members, strict=False):
        value, grad = curves(fn, x)
        ax_value.plot(x, value, style, color=color, lw=1.8, label=label)
        ax_grad.plot(x, grad, style, color=color, lw=1.8, label=label)
    ax_value.set_title(title)
    ax_value.set_ylabel("loss")
    ax_value.set_ylim(*value_lim)
    ax_value.legend(loc="best", fontsize=8, framealpha=0.85)
    ax_grad.set_title("its gradient", fontsize=10, color="0.3")
    ax_grad.set_ylabel(f"d loss / d {xname}")
    ax_grad.set_xlabel(xlabel)
    ax_grad.set_ylim(*grad_lim)
    ax_grad.axhline(0.0, color="0.6", lw=0.8)
    for ax in (ax_value, ax_grad):
        ax.set_xlim(x[0], x[-1])
        ax.grid(alpha=0.3)


@jax.jit
def keras_bce_grad(p, y):
    """d/dp of ``keras.losses.binary_crossentropy`` for each probability (KERAS_BACKEND=jax)."""
    y = jnp.broadcast_to(jnp.asarray(y, jnp.float32), jnp.shape(p))
    return jax.grad(lambda q: keras.losses.binary_crossentropy(y[:, None], q[:, None]).sum())(p)


@jax.jit
def jaxloss_bce_grad(p, y):
    """d/dp of :func:`jaxloss.binary_cross_entropy` for each probability."""
    y = jnp.broadcast_to(jnp.asarray(y, jnp.float32), jnp.shape(p))
    return jax.grad(lambda q: jaxloss.binary_cross_entropy(q, y).sum())(p)


def draw_clip(ax_low, ax_high, n):
    """Keras's gradient of binary cross-entropy drops to 0 past its clip; jaxloss's does not."""
    # Near 0, target 1: p on a log axis down to 1e-12.
    p = jnp.asarray(np.logspace(-12, -4, n), jnp.float32)
    ax_low.plot(p, jaxloss_bce_grad(p, 1.0), color=JAXLOSS_COLOR, lw=2.2, label="jaxloss.binary_cross_entropy")
    ax_low.plot(p, keras_bce_grad(p, 1.0), "--", color=KERAS_COLOR, lw=2.0, label="keras binary_crossentropy")
    ax_low.set_xscale("log")
    ax_low.set_xlim(1e-12, 1e-4)
    ax_low.set_xlabel("predicted probability  p  (target 1)")
    ax_low.set_title("BCE gradient near p = 0", color="0.1")

    # Near 1, target 0: every float32 value in [1 - 1e-6, 1] (steps of 2**-24).
    p = 1.0 - np.arange(0, 17)[::-1] * 2.0**-24
    p = jnp.asarray(p, jnp.float32)
    x = (1.0 - np.asarray(p, np.float64)) * 1e7  # 1 - p in units of 1e-7
    ax_high.plot(
        x, jaxloss_bce_grad(p, 0.0), "o-", ms=3.5, color=JAXLOSS_COLOR, lw=2.2, label="jaxloss.binary_cross_entropy"
    )
    ax_high.plot(x, keras_bce_grad(p, 0.0), "s--", ms=3.0, color=KERAS_COLOR, lw=2.0, label="keras binary_crossentropy")
    ax_high.set_xlim(-0.2, 10.2)
    ax_high.set_xlabel("1 − p  in units of 1e-7  (target 0; every float32)")
    ax_high.set_title("BCE gradient near p = 1", color="0.1")

    for ax, sign in ((ax_low, -1), (ax_high, 1)):
        ax.set_yscale("symlog", linthresh=10.0)
        ax.set_ylabel("d loss / d p")
        ax.axvline(1e-7 if sign < 0 else 1.0, color="0.4", lw=0.9, ls=":")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right" if sign < 0 else "lower right", fontsize=8, framealpha=0.9)
    ax_low.set_ylim(-1e8, 1e2)
    ax_high.set_ylim(-1e2, 1e8)
    ax_low.annotate(
        "clip 1e-7:\nKeras → 0",
        xy=(1e-7, 0.0),
        xytext=(1.5e-11, -3e2),
        fontsize=8,
        color=KERAS_COLOR,
        arrowprops={"arrowstyle": "->", "color": KERAS_COLOR},
    )
    ax_high.annotate(
        "clip 1 − 1e-7:\nKeras → 0",
        xy=(1.2, 0.0),
        xytext=(3.5, 3e2),
        fontsize=8,
        color=KERAS_COLOR,
        arrowprops={"arrowstyle": "->", "color": KERAS_COLOR},
    )


def save_png(fig, path: pathlib.Path, dpi: int) -> None:
    """Writes ``fig`` as a 256-colour PNG (a third of the size of a full-colour one)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True, dpi=(dpi, dpi))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--points", type=int, default=601, help="points per curve")
    args = parser.parse_args(argv)

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "axes.labelsize": 9.5,
            "legend.handlelength": 2.2,
        }
    )
    fig, axes = plt.subplots(4, 4, figsize=(14, 11.5))
    fams = families(args.points)
    for i, fam in enumerate(fams):
        row, col = 2 * (i // 4), i % 4
        draw_family(axes[row, col], axes[row + 1, col], *fam)
    draw_clip(axes[2, 3], axes[3, 3], args.points)
    fig.suptitle("jaxloss: every loss family, its value (top) and its gradient (below)", fontsize=14, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.975), h_pad=1.2, w_pad=1.0)

    save_png(fig, args.out, args.dpi)
    plt.close(fig)

    near0 = jnp.array([1e-9], jnp.float32)
    near1 = jnp.array([1.0], jnp.float32)
    result = {
        "out": str(args.out),
        "png_bytes": args.out.stat().st_size,
        "families": [fam[0] for fam in fams],
        # d loss / d p at p = 1e-9 with target 1 (past the clip 1e-7).
        "keras_grad_near_0": float(keras_bce_grad(near0, 1.0)[0]) + 0.0,  # + 0.0: -0.0 prints as 0
        "jaxloss_grad_near_0": float(jaxloss_bce_grad(near0, 1.0)[0]),
        # d loss / d p at p = 1 with target 0 (past the clip 1 - 1e-7).
        "keras_grad_near_1": float(keras_bce_grad(near1, 0.0)[0]),
        "jaxloss_grad_near_1": float(jaxloss_bce_grad(near1, 0.0)[0]),
    }
    print(f"wrote {result['out']} ({result['png_bytes'] / 1024:.0f} KiB)")
    print(
        f"d BCE / d p at p=1e-9, target 1: keras {result['keras_grad_near_0']:.4g}, "
        f"jaxloss {result['jaxloss_grad_near_0']:.4g}"
    )
    print(
        f"d BCE / d p at p=1,    target 0: keras {result['keras_grad_near_1']:.4g}, "
        f"jaxloss {result['jaxloss_grad_near_1']:.4g}"
    )
    return result


if __name__ == "__main__":
    main()
