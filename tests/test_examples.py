"""The examples run end to end (with small sizes) and reach their result.

Needs the ``examples`` extra (optax).
"""

import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_trains(capsys):
    accuracy = _load("quickstart").main(["--steps", "200", "--log-every", "100"])
    out = capsys.readouterr().out
    assert accuracy >= 0.95
    losses = [float(line.split("loss")[1].split()[0]) for line in out.splitlines() if line.startswith("step")]
    assert losses[-1] < 0.5 * losses[0]
