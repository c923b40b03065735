"""``benchmarks/large_vocab.py`` runs end to end in its ``--quick`` mode (tiny shapes).

A smoke test of the script, not of its figures: no time is asserted. The head
table must print every section, its header and a summary in which the fused
head agrees with the materialised one; the sweep must write its CSV (the fused
head's temp memory below the materialised one's at every point) and its PNG.
Run as a subprocess from another folder, as a user runs it. Needs optax,
jax-cce (the ``reference`` extra) and matplotlib (``examples``): the
``benchmark`` extra.
"""

import csv
import pathlib
import subprocess
import sys

import jaxloss

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "large_vocab.py"
HEADER = "program            min s  median s  x materialised  x floor   temp MiB  temp x materialised"


def _run(args, cwd):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_head_table_quick(tmp_path):
    out = _run([], tmp_path)
    assert out.startswith("machine: ")
    assert "load average at the start: " in out and "load average at the end: " in out
    for section in ("== float32-DV ", "== float32-VD ", "== bfloat16-DV ", "== log-probs "):
        assert section in out, section
    assert out.count(HEADER) == 4
    summary = out.split("== Summary: targets", 1)[1]
    for config in ("float32-DV", "float32-VD", "bfloat16-DV"):
        assert f"[PASS] {config:12s} agreement with materialised" in summary, summary
        assert f"{config:12s} time fused / materialised = " in summary
        assert f"{config:12s} temp fused / materialised = " in summary
        assert (
            f"[PASS] {config:12s} fused faster than jax-cce" in summary
            or f"[FAIL] {config:12s} fused faster than jax-cce" in summary
        )
    if hasattr(jaxloss, "fused_linear_log_probs"):
        assert f"[PASS] {'log-probs':12s} agreement with materialised" in summary, summary
    else:
        assert f"[n/a ] {'log-probs':12s} not run: jaxloss has no fused_linear_log_probs" in summary


def test_sweep_quick_writes_csv_and_png(tmp_path):
    out_dir = tmp_path / "sweep"
    out = _run(["--sweep", "--out", str(out_dir)], tmp_path)
    assert "== sweep: float32-DV" in out
    assert "fused temp at N=1024 / at N=256 (V=2048) = " in out
    with open(out_dir / "head_sweep.csv", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    # N in (128, 256, 512, 1024) at V=2048 and V in (2048, ..., 16384) at N=256: 7 points.
    points = {(int(r["tokens"]), int(r["vocab"])) for r in rows}
    assert points == {(128, 2048), (256, 2048), (512, 2048), (1024, 2048), (256, 4096), (256, 8192), (256, 16384)}
    for r in rows:
        assert r["dim"] == "64" and r["dtype"] == "float32" and r["weight_layout"] == "DV"
        assert 0 < int(r["fused_temp_bytes"]) < int(r["materialised_temp_bytes"]), r
        for key in ("materialised_min_s", "materialised_median_s", "fused_min_s", "fused_median_s"):
            assert float(r[key]) > 0
    png = (out_dir / "head_sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_posttraining_quick(tmp_path):
    """``benchmarks/posttraining.py --quick``: both sections, the table and a summary that agrees."""
    script = ROOT / "benchmarks" / "posttraining.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--repeats", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("machine: ") and "load average at the end: " in out
    assert "== GRPO step " in out and "== distillation step " in out
    assert out.count(HEADER) == 2
    summary = out.split("== Summary: targets", 1)[1]
    for name in ("grpo", "jsd"):
        assert f"[PASS] {name:5s} agreement with materialised" in summary, summary
        assert f"{name:5s} time fused / materialised = " in summary
        assert f"{name:5s} temp fused / materialised = " in summary
