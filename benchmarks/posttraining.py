"""Benchmarks of the post-training losses over the head: a GRPO step and a distillation step.

Both at B=8 sequences of T=512 tokens (N=4096), D=512, V=32768, float32,
``[D, V]`` kernels; each program is one jitted forward + backward call
returning the loss and its gradients with respect to the policy's (the
student's) ``hidden`` and ``weight``:

* **GRPO step** (``loss_type="dapo"``, ``beta=0.04``, so the reference
  model's log-probs take part): the reference model's per-token log-probs
  (its own hidden states and kernel, no gradient), then the policy's, then
  the loss.

  - materialised: ``jax.nn.log_softmax(hidden @ weight)`` gathered at the
    sampled tokens, for the reference and the policy, then
    :func:`jaxloss.grpo`;
  - fused: :func:`jaxloss.fused_linear_log_probs` for the reference (under
    ``stop_gradient``) and :func:`jaxloss.fused_linear_grpo` for the policy;
  - floor: the matmuls alone (the reference's logits, the policy's logits
    and its two gradient matmuls from an ``[N, V]`` cotangent).

* **Distillation step** (generalized JSD, ``beta=0.5``, a teacher of hidden
  size 768): the per-token divergence of the student's from the teacher's
  distribution, averaged over the completion tokens (``jaxloss.reduce``).

  - materialised: both heads' logits, then :func:`jaxloss.generalized_jsd`;
  - fused: :func:`jaxloss.fused_linear_jsd`;
  - floor: the matmuls alone (both heads' logits, the student's two
    gradient matmuls).

"temp MiB" is XLA's ``compile().memory_analysis().temp_size_in_bytes``.
Every program of a section is compiled and run once (the largest
differences against the materialised one are printed), then the timed runs
alternate between the programs; the minimum and the median of ``--repeats``
runs are printed and the ratios use the medians. The machine, the versions
and the load average at the start and the end are printed; a run that
starts at a load average of 0.5 or more is flagged as not a figure. The
targets (fused temp <= 10 % of the materialised, fused time <= 1.1x) end
the output as PASS/FAIL lines.

Run:

    python benchmarks/posttraining.py
    python benchmarks/posttraining.py --quick      # tiny shapes: a smoke test, not figures
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from large_vocab import (  # noqa: E402
    Measured,
    _load_text,
    _ratio,
    _verdict,
    differences,
    is_quiet,
    load_average,
    measure,
    print_load_end,
    print_machine,
    print_table,
)

import jaxloss  # noqa: E402

TIME_TARGET = 1.10  # fused median time / materialised median time
TEMP_TARGET = 0.10  # fused temp / materialised temp
AGREEMENT = 1e-4  # largest relative difference of the value and the gradients, float32
GRPO_OPTIONS = {"loss_type": "dapo", "beta": 0.04, "epsilon": 0.2}
JSD_BETA = 0.5


@dataclasses.dataclass(frozen=True)
class Shapes:
    batch: int
    seq: int
    dim: int
    teacher_dim: int
    vocab: int
    repeats: int


FULL = Shapes(8, 512, 512, 768, 32768, 5)
QUICK = Shapes(2, 64, 64, 96, 2048, 2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes (a smoke test; not figures)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per program (default 5; 2 with --quick)")
    p.add_argument("--sections", default="grpo,jsd", help="comma-separated: grpo, jsd")
    return p.parse_args(argv)


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


def _normal(key, shape, scale=1.0):
    return jax.random.normal(key, shape, jnp.float32) * scale


def grpo_inputs(s: Shapes, seed=0):
    ks = jax.random.split(jax.random.key(seed), 8)
    b, t, d, v = s.batch, s.seq, s.dim, s.vocab
    hidden = _normal(ks[0], (b, t, d))
    weight = _normal(ks[1], (d, v), 1 / np.sqrt(d))
    ref_hidden = hidden + _normal(ks[2], (b, t, d), 0.05)
    ref_weight = weight + _normal(ks[3], (d, v), 0.05 / np.sqrt(d))
    labels = jax.random.randint(ks[4], (b, t), 0, v)
    # Completion lengths between T/2 and T: a realistic mask.
    lengths = jax.random.randint(ks[5], (b,), t // 2, t + 1)
    mask = jnp.arange(t)[None, :] < lengths[:, None]
    advantages = _normal(ks[6], (b,))
    # The sampling policy's log-probs: the current ones, perturbed (off-policy steps).
    lp = jnp.take_along_axis(jax.nn.log_softmax(hidden @ weight), labels[..., None], -1)[..., 0]
    old = lp + _normal(ks[7], (b, t), 0.05)
    return hidden, weight, ref_hidden, ref_weight, labels, old, advantages, mask


def _gathered(hidden, weight, labels):
    logp = jax.nn.log_softmax(hidden @ weight, axis=-1)
    return jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]


def materialised_grpo(hidden, weight, ref_hidden, ref_weight, labels, old, adv, mask):
    def loss(h, w):
        ref = jax.lax.stop_gradient(_gathered(ref_hidden, ref_weight, labels))
        return jaxloss.grpo(_gathered(h, w, labels), old, adv, where=mask, ref_log_probs=ref, **GRPO_OPTIONS)

    return jax.value_and_grad(loss, argnums=(0, 1))(hidden, weight)


def fused_grpo(hidden, weight, ref_hidden, ref_weight, labels, old, adv, mask):
    def loss(h, w):
        ref = jax.lax.stop_gradient(jaxloss.fused_linear_log_probs(ref_hidden, ref_weight, labels))
        return jaxloss.fused_linear_grpo(h, w, labels, old, adv, where=mask, ref_log_probs=ref, **GRPO_OPTIONS)

    return jax.value_and_grad(loss, argnums=(0, 1))(hidden, weight)


def floor_grpo(hidden, weight, ref_hidden, ref_weight, labels, old, adv, mask):
    del labels, old, adv, mask
    ref_logits = ref_hidden @ ref_weight
    logits = hidden @ weight  # stands in for the [N, V] cotangent
    value = jnp.sum(logits[..., 0]) + jnp.sum(ref_logits[..., 0])
    return value, (logits @ weight.T, jnp.einsum("btd,btv->dv", hidden, logits))


def jsd_inputs(s: Shapes, seed=1):
    ks = jax.random.split(jax.random.key(seed), 5)
    b, t, d, dt, v = s.batch, s.seq, s.dim, s.teacher_dim, s.vocab
    hidden = _normal(ks[0], (b, t, d))
    weight = _normal(ks[1], (d, v), 1 / np.sqrt(d))
    t_hidden = _normal(ks[2], (b, t, dt))
    t_weight = _normal(ks[3], (dt, v), 1 / np.sqrt(dt))
    lengths = jax.random.randint(ks[4], (b,), t // 2, t + 1)
    mask = jnp.arange(t)[None, :] < lengths[:, None]
    return hidden, weight, t_hidden, t_weight, mask


def materialised_jsd(hidden, weight, t_hidden, t_weight, mask):
    def loss(h, w):
        teacher = jax.lax.stop_gradient(t_hidden @ t_weight)
        per_token = jaxloss.generalized_jsd(h @ w, teacher, beta=JSD_BETA)
        return jaxloss.reduce(per_token, where=mask, reduction="mean")

    return jax.value_and_grad(loss, argnums=(0, 1))(hidden, weight)


def fused_jsd(hidden, weight, t_hidden, t_weight, mask):
    def loss(h, w):
        per_token = jaxloss.fused_linear_jsd(h, w, t_hidden, t_weight, beta=JSD_BETA)
        return jaxloss.reduce(per_token, where=mask, reduction="mean")

    return jax.value_and_grad(loss, argnums=(0, 1))(hidden, weight)


def floor_jsd(hidden, weight, t_hidden, t_weight, mask):
    del mask
    t_logits = t_hidden @ t_weight
    logits = hidden @ weight
    value = jnp.sum(logits[..., 0]) + jnp.sum(t_logits[..., 0])
    return value, (logits @ weight.T, jnp.einsum("btd,btv->dv", hidden, logits))


# --------------------------------------------------------------------------


SECTIONS = {
    "grpo": (
        "GRPO step (dapo, beta=0.04: policy + reference log-probs)",
        grpo_inputs,
        {"materialised": materialised_grpo, "floor": floor_grpo, "fused": fused_grpo},
    ),
    "jsd": (
        f"distillation step (generalized JSD, beta={JSD_BETA})",
        jsd_inputs,
        {"materialised": materialised_jsd, "floor": floor_jsd, "fused": fused_jsd},
    ),
}


def run_section(name: str, s: Shapes, repeats: int) -> dict:
    title, make, programs = SECTIONS[name]
    inputs = make(s)
    extra = f", teacher D={s.teacher_dim}" if name == "jsd" else ""
    print(
        f"\n== {title}: B={s.batch} T={s.seq} (N={s.batch * s.seq}) D={s.dim}{extra} V={s.vocab}, float32 "
        f"[D, V] kernels, {repeats} alternating runs each",
        flush=True,
    )
    results: dict[str, Measured] = measure(programs, inputs, repeats)
    print_table(results)
    (dv, dh, dw), rel = differences(results["fused"].out, results["materialised"].out)
    print(
        f"max |diff| fused vs materialised: value {dv:.3e}, d hidden {dh:.3e}, d weight {dw:.3e} "
        f"(relative to the largest entry: {rel:.2e})"
    )
    mat, fused, fl = results["materialised"], results["fused"], results["floor"]
    return {
        "name": name,
        "time": fused.median / mat.median,
        "time_min": fused.min / mat.min,
        "floor": fused.median / fl.median,
        "temp": _ratio(fused.temp, mat.temp),
        "agreement": rel,
    }


def print_summary(rows: list[dict], load_start) -> None:
    print("\n== Summary: targets")
    if not is_quiet(load_start):
        print(f"** NOT A FIGURE: the run started at load {_load_text(load_start)}; the time verdicts do not count **")
    for r in rows:
        name = f"{r['name']:5s}"
        print(
            f"{_verdict(r['time'] <= TIME_TARGET)} {name} time fused / materialised = {r['time']:.3f} "
            f"(median; {r['time_min']:.3f} by the minimum; {r['floor']:.2f}x the matmul floor), "
            f"target <= {TIME_TARGET:.2f}"
        )
        if r["temp"] is None:
            print(f"{_verdict(None)} {name} temp fused / materialised: XLA reports no memory analysis")
        else:
            print(
                f"{_verdict(r['temp'] <= TEMP_TARGET)} {name} temp fused / materialised = {r['temp']:.2%}, "
                f"target <= {TEMP_TARGET:.0%}"
            )
        print(
            f"{_verdict(r['agreement'] <= AGREEMENT)} {name} agreement with materialised: largest relative "
            f"difference {r['agreement']:.2e}, target <= {AGREEMENT:.0e}"
        )


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    s = QUICK if args.quick else FULL
    repeats = args.repeats if args.repeats is not None else s.repeats
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    for x in sections:
        if x not in SECTIONS:
            raise SystemExit(f"--sections: unknown section {x!r}; choose from {sorted(SECTIONS)}")
    load_start = load_average()
    print_machine(load_start, args.quick)
    rows = [run_section(x, s, repeats) for x in sections]
    print_summary(rows, load_start)
    print_load_end(load_start)
    return rows


if __name__ == "__main__":
    main()
