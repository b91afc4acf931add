"""`edgepose export` with no --size: the default size (chosen from the frontier, docs/frontier.md)
keeps the accuracy of `edgepose predict`'s default on photos it was not chosen on."""

from __future__ import annotations

import pytest

from conftest import COCO_ANNOTATIONS, COCO_IMAGES

#: `edgepose predict`'s default (the Keras model, 432 tall, width following each photo, 6 stages)
#: on the evaluation part of the split (28 COCO photos): AP 28.9, measured with
#: `edgepose.eval.validate(..., part="evaluation")` on the full coco_sample (the same 28 photos as tests/data).
PREDICT_DEFAULT_EVALUATION_AP = 28.9


@pytest.mark.slow
def test_default_export_scores_at_least_the_predict_default(pretrained_path, tmp_path, capsys):
    import edgepose
    from edgepose.artifact import read_config
    from edgepose.cli import main
    from edgepose.eval.coco import validate
    from edgepose.eval.split import EVALUATION
    from edgepose.export.source import DEFAULT_SIZE

    out = tmp_path / "default.xml"
    assert main(["export", "--format", "openvino", "--output", str(out)]) == 0
    config = read_config(out)
    assert config.input_size == DEFAULT_SIZE and config.stages == 6 and config.precision == "fp32"
    result = validate(edgepose.load(out), COCO_IMAGES, COCO_ANNOTATIONS, progress=False, part="evaluation")
    assert result["images"] == len([f for f in EVALUATION if (COCO_IMAGES / f).exists()]) == 28
    ap = 100 * result["metrics"]["AP"]
    assert ap >= PREDICT_DEFAULT_EVALUATION_AP, f"default export AP {ap:.1f} on the evaluation part"
