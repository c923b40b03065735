"""The examples that need Keras run end to end (small sizes) and hold their claims.

``examples/gallery.py`` draws every loss family and the gradient of binary
cross-entropy past Keras's clip; ``examples/port_from_keras.py`` checks the
Keras twins against Keras. Needs the ``reference`` extra (Keras, JAX backend,
set by ``tests/examples/conftest.py``) and the ``examples`` extra (matplotlib).
"""

import math

import numpy as np

from tests.examples._load import load_example


def test_gallery_draws_and_shows_keras_gradient_vanishing_past_the_clip(tmp_path, capsys):
    out = tmp_path / "images" / "gallery.png"
    result = load_example("gallery").main(["--out", str(out), "--dpi", "40", "--points", "41"])

    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["png_bytes"] == len(data) > 10_000
    assert len(result["families"]) == 7
    assert "wrote" in capsys.readouterr().out

    # Near p = 0 with target 1 (p = 1e-9, past the clip 1e-7): Keras's gradient
    # is exactly 0; jaxloss's is the derivative of -log(p) at the clip, -1/1e-7,
    # negative so that gradient descent raises p towards the target.
    assert result["keras_grad_near_0"] == 0.0
    ours = result["jaxloss_grad_near_0"]
    assert math.isfinite(ours) and ours < 0
    np.testing.assert_allclose(ours, -1.0 / np.float32(1e-7), rtol=1e-5)

    # Near p = 1 with target 0 (p = 1 exactly): Keras 0; jaxloss the derivative
    # of -log(1 - p) at p = float32(1 - 1e-7), positive.
    assert result["keras_grad_near_1"] == 0.0
    ours = result["jaxloss_grad_near_1"]
    assert math.isfinite(ours) and ours > 0
    np.testing.assert_allclose(ours, 1.0 / (1.0 - float(np.float32(1.0 - 1e-7))), rtol=1e-5)


def test_port_from_keras_twins_equal_keras(capsys):
    module = load_example("port_from_keras")
    result = module.main(["--batch", "16", "--seed", "1"])
    out = capsys.readouterr().out

    model = result["model"]
    assert model["rel_diff"] <= 1e-6
    for key in ("jaxloss.compat.keras", "core"):
        np.testing.assert_allclose(model[key], model["keras"], rtol=1e-6)
    assert model["keras"] > 0

    assert [r["loss"].split("(")[0] for r in result["rows"]] == [case[0] for case in module.CASES]
    for row in result["rows"]:
        np.testing.assert_allclose(row["jaxloss"], row["keras"], rtol=1e-6, err_msg=row["loss"])
        assert row["grad_diff"] <= 1e-5, row
    assert result["max_rel_diff"] <= 1e-6

    assert "from keras.losses import CategoricalCrossentropy" in out
    assert "from jaxloss.compat.keras import CategoricalCrossentropy" in out
    assert "jaxloss.softmax_cross_entropy" in out
