"""The examples run end to end (with small sizes) and reach their result.

Needs the ``examples`` extra (flax, optax, scikit-learn, matplotlib, tqdm).
"""

import contextlib
import io
import re

import numpy as np
import pytest

from tests.examples._load import load_example

LOSS_NAMES = ("cross_entropy", "label_smoothing", "focal")


def _run(name, argv):
    """Runs ``examples/<name>.py``'s ``main(argv)``; returns (result, stdout)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        result = load_example(name).main(argv)
    return result, stdout.getvalue()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    png = tmp_path_factory.mktemp("digits") / "curves.png"
    result, out = _run("train_digits", ["--epochs", "8", "--seed", "0", "--out", str(png)])
    return result, out, png


def test_train_digits_reaches_accuracy(digits):
    result, out, _ = digits
    assert result["loss"] == "cross_entropy"
    assert result["test_accuracy"] >= 0.95
    printed = re.findall(r"^test accuracy: (\d\.\d{4})$", out, flags=re.MULTILINE)
    assert printed == [f"{result['test_accuracy']:.4f}"]


def test_train_digits_losses_decrease(digits):
    result, _, _ = digits
    assert [row["loss"] for row in result["comparison"]] == list(LOSS_NAMES)
    for row in result["comparison"]:
        curve = row["train_loss_curve"]
        assert len(curve) == 8 and np.all(np.isfinite(curve))
        assert curve[-1] < 0.5 * curve[0], row["loss"]
        assert row["train_loss"] == curve[-1]
        assert row["test_accuracy"] >= 0.93, row
        assert row["seconds"] > 0


def test_train_digits_prints_comparison_table(digits):
    result, out, _ = digits
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["loss", "final"])
    rows = [line.split() for line in lines[header + 2 : header + 5]]
    assert [row[0] for row in rows] == list(LOSS_NAMES)
    for row, expected in zip(rows, result["comparison"], strict=True):
        assert float(row[1]) == pytest.approx(expected["train_loss"], abs=1e-4)
        assert float(row[2]) == pytest.approx(expected["test_accuracy"], abs=1e-4)
    # The main run is the cross-entropy row.
    assert result["comparison"][0]["test_accuracy"] == result["test_accuracy"]


def test_train_digits_writes_png(digits):
    result, out, png = digits
    assert result["png"] == str(png)
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in out


def test_train_digits_other_loss_without_comparison(tmp_path):
    png = tmp_path / "unused.png"
    result, out = _run("train_digits", ["--loss", "focal", "--epochs", "3", "--no-compare", "--out", str(png)])
    assert result["loss"] == "focal" and result["comparison"] == [] and result["png"] is None
    assert result["test_accuracy"] >= 0.9
    assert result["train_loss"][-1] < result["train_loss"][0]
    assert not png.exists() and "final train loss" not in out


def test_train_digits_rejects_unknown_loss():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        load_example("train_digits").main(["--loss", "hinge"])


def test_per_example_gradients():
    result, out = _run("per_example_gradients", ["--steps", "60", "--noise", "0.5"])
    assert result["equal"]
    assert result["max_abs_diff"] < 1e-6 and result["row_diff"] < 1e-6
    assert result["norms"].shape == (569,) and np.all(result["norms"] > 0)
    assert result["loss_after"] < 0.5 * result["loss_before"]
    assert result["accuracy"] >= 0.95
    assert "grad of mean loss" in out
