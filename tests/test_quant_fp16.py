"""float16 preparation on real photos: the rescaling is exact in float32, and float16 weights of
the rescaled model stay within the export bound where the original's do not.

The float16 rounding is done here with numpy on the Keras weights (float32 compute), which is
what TFLite fp16 and OpenVINO fp16 with f32 inference do on a CPU; tests/test_export_artifacts.py
checks the real files on their runtimes.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import COCO_IMAGES

SIZE = (184, 216)
#: Max |output difference| of an exact transform (float32 rounding only).
EXACT_TOL = 1e-4
#: The export bound for fp16 artifacts (issue #3).
FP16_TOL = 0.05


@pytest.fixture(scope="module")
def setup(pretrained_path):
    from edgepose.models import load_keras
    from edgepose.quant import prepare_for_fp16
    from edgepose.bench.quant_harness import image_files, load_inputs

    model, config = load_keras(pretrained_path, input_size=SIZE)
    inputs = load_inputs(image_files(COCO_IMAGES)[:12], SIZE, config)
    prepared, info = prepare_for_fp16(model)
    return model, prepared, info, inputs


def _maps(model, x):
    return [np.asarray(m) for m in model.predict(x, verbose=0, batch_size=4)]


def _with_float16_weights(model):
    from edgepose.quant.fp16 import to_float16
    from edgepose.quant.graph import rebuild

    return rebuild(model, weights={layer.name: [to_float16(w) for w in layer.get_weights()]
                                   for layer in model.layers if layer.get_weights()})


def _max_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b))


def test_rescaling_is_exact(setup):
    model, prepared, info, inputs = setup
    assert info["exact"] and info["steps"][0]["layers"] > 0
    assert _max_diff(_maps(model, inputs), _maps(prepared, inputs)) <= EXACT_TOL


def test_float16_weights_stay_within_bound(setup):
    model, prepared, _, inputs = setup
    ref = _maps(model, inputs)
    plain = _max_diff(ref, _maps(_with_float16_weights(model), inputs))
    rescaled = _max_diff(ref, _maps(_with_float16_weights(prepared), inputs))
    assert rescaled <= FP16_TOL, f"float16 weights of the rescaled model: max abs diff {rescaled}"
    assert rescaled < plain, (rescaled, plain)
