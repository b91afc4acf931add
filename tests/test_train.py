"""Training on real coco_sample photos: masked loss, a short run, kill + resume, distillation,
strategies, and the errors a user meets. Small inputs (64-128 px) and few steps keep it short."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from edgepose.errors import EdgeposeError
from edgepose.train.callbacks import optimizer_step
from edgepose.models import build_model, get_preset, load_keras, read_config
from edgepose.train import (
    EuclideanLoss,
    build_training_model,
    distill,
    distillation_error,
    load_checkpoint,
    read_checkpoint_info,
    train,
)

DATA = Path(__file__).resolve().parent / "data"
COCO_DIR = DATA / "coco_sample"
IMAGES, ANNOTATIONS = COCO_DIR / "images", COCO_DIR / "person_keypoints.json"
CALIBRATION = DATA / "calibration"
PRESET = "thin_w050"


def real_batch(size: int = 64) -> np.ndarray:
    paths = sorted(IMAGES.iterdir())[:2]
    return np.stack([cv2.resize(cv2.imread(str(p)), (size, size)).astype(np.float32) for p in paths])


def test_masked_region_has_zero_loss_and_zero_gradient():
    rng = np.random.default_rng(0)
    mask = np.ones((2, 8, 8, 19), np.float32)
    mask[:, 2:6, 1:5] = 0.0
    target = rng.uniform(0, 1, mask.shape).astype(np.float32)
    pred = tf.Variable(rng.uniform(0, 1, mask.shape).astype(np.float32))
    loss_fn = EuclideanLoss()
    with tf.GradientTape() as tape:
        loss = loss_fn(target * mask, pred * mask)  # what the training model computes
    grad = tape.gradient(loss, pred).numpy()
    assert np.all(grad[mask == 0] == 0.0)
    assert np.all(grad[mask == 1] != 0.0)
    expected = 0.5 * np.sum(((pred.numpy() - target) * mask) ** 2) / 2  # sum / batch / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # anything inside the masked region, in the prediction or the target, changes nothing
    pred2 = np.where(mask == 0, 1e3, pred.numpy())
    target2 = np.where(mask == 0, -7.0, target)
    assert float(loss_fn(target2 * mask, pred2 * mask)) == float(loss)


def test_training_model_ignores_targets_under_the_mask():
    """End to end: targets that differ only under the mask give the same loss and weight gradients."""
    config = get_preset(PRESET)
    model = build_training_model(config)
    x = real_batch(64)
    masks = np.ones((2, 8, 8, 1), np.float32)
    masks[0, :4] = 0.0
    inputs = {"image": x, "paf_mask": np.repeat(masks, 38, -1), "heatmap_mask": np.repeat(masks, 19, -1)}
    rng = np.random.default_rng(1)
    t1 = [rng.uniform(0, 1, (2, 8, 8, c)).astype(np.float32) for c in (19, 38) * config.stages]
    t2 = [np.where(masks == 0, rng.uniform(5, 9, t.shape), t).astype(np.float32) for t in t1]
    loss_fn = EuclideanLoss()
    results = []
    for targets in (t1, t2):
        masked = [t * np.repeat(masks, t.shape[-1], -1) for t in targets]  # as the pipeline does
        with tf.GradientTape() as tape:
            outs = model(inputs, training=True)
            loss = tf.add_n([loss_fn(t, o) for t, o in zip(masked, outs)])
        results.append((float(loss), tape.gradient(loss, model.trainable_weights)))
    assert results[0][0] == results[1][0]
    for g1, g2 in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(g1.numpy(), g2.numpy())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A short from-scratch run on all of coco_sample (augmented, 128x128)."""
    out = tmp_path_factory.mktemp("train")
    train(IMAGES, ANNOTATIONS, PRESET, epochs=3, out_dir=out, input_size=128, batch_size=4,
          steps_per_epoch=6, lr=2e-3, warmup_steps=0, verbose=0)
    return out


def test_short_training_lowers_the_loss(trained):
    rows = (trained / "log.csv").read_text().splitlines()
    header, values = rows[0].split(","), [r.split(",") for r in rows[1:]]
    losses = [float(v[header.index("loss")]) for v in values]
    assert len(losses) == 3
    assert losses[-1] < 0.8 * losses[0], losses  # measured: see the report
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
    model, config = load_keras(trained / "model.keras")
    assert config.preset == PRESET and config.input_mean == 127.5
    assert model.output_names == ["heatmaps", "pafs"]
    best_cfg, best_state = read_checkpoint_info(trained / "checkpoints" / "best.keras")
    assert best_state.best == pytest.approx(min(losses), rel=1e-5)
    _, _, state = load_checkpoint(trained / "checkpoints" / "last.keras")
    assert (state.epoch, state.step, state.iterations) == (3, 0, 18)


def test_training_checkpoint_loads_with_plain_keras(trained):
    """The checkpoint is a normal .keras file: keras.saving.load_model restores model, loss and
    optimizer once edgepose.train is imported (it registers EuclideanLoss)."""
    model = keras.saving.load_model(trained / "checkpoints" / "last.keras")
    assert isinstance(model.loss, EuclideanLoss)
    assert optimizer_step(model) == 18
    assert sorted(model.input) == ["heatmap_mask", "image", "paf_mask"] or len(model.inputs) == 3


def test_unknown_preset_fails_clearly(tmp_path):
    with pytest.raises(EdgeposeError, match="unknown model preset 'thin_w05'.*Did you mean 'thin_w050'"):
        train(IMAGES, ANNOTATIONS, "thin_w05", epochs=1, out_dir=tmp_path)


def test_checkpoint_from_another_preset_fails_clearly(trained):
    with pytest.raises(EdgeposeError, match="is from another model: preset='thin_w050' \\(asked 'lightweight'\\)"):
        train(IMAGES, ANNOTATIONS, "lightweight", epochs=4, out_dir=trained, resume=True, input_size=128)


def test_existing_run_is_not_overwritten(trained):
    with pytest.raises(EdgeposeError, match="already holds a training run"):
        train(IMAGES, ANNOTATIONS, PRESET, epochs=4, out_dir=trained, input_size=128)


def test_bad_teacher_fails_clearly(tmp_path):
    with pytest.raises(EdgeposeError, match="cannot use .* as a teacher"):
        distill(ANNOTATIONS, CALIBRATION, PRESET, epochs=1, out_dir=tmp_path)


KILL_SCRIPT = """
import sys
from edgepose.train import train
train({images!r}, {annotations!r}, {preset!r}, epochs=3, out_dir={out!r}, input_size=64, batch_size=2,
      steps_per_epoch=5, save_every_steps=1, strategy="multiworker", warmup_steps=0, verbose=0)
"""


def test_sigkill_then_resume_continues_at_the_same_optimizer_step(tmp_path):
    """Train in a subprocess (MultiWorkerMirroredStrategy, TF_CONFIG of one worker), SIGKILL it once it
    is into the second epoch, then resume here (MirroredStrategy, one CPU device)."""
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.keras"
    script = KILL_SCRIPT.format(images=str(IMAGES), annotations=str(ANNOTATIONS), preset=PRESET, out=str(out))
    with socket.socket() as sock:  # a free port for the one-worker cluster
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    cluster = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(cluster))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if last.exists():
                _, state = read_checkpoint_info(last)
                if state.iterations >= 7:
                    break
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.05)
        else:
            pytest.fail("the training subprocess made no checkpoint in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # whatever the kill interrupted, last.keras is a whole checkpoint
    _, at_kill = read_checkpoint_info(last)
    model, _, state = load_checkpoint(last)
    assert optimizer_step(model) == state.iterations == at_kill.iterations
    assert state.epoch * 5 + state.step == state.iterations  # position and step count agree
    assert 7 <= at_kill.iterations < 15

    train(IMAGES, ANNOTATIONS, PRESET, epochs=3, out_dir=out, input_size=64, batch_size=2, steps_per_epoch=5,
          resume=True, strategy="mirrored", verbose=0)
    _, final = read_checkpoint_info(last)
    assert final.run["resumes"] == [{"epoch": at_kill.epoch, "step": at_kill.step, "iterations": at_kill.iterations}]
    assert (final.epoch, final.step, final.iterations) == (3, 0, 15)  # no step lost or repeated
    assert not [p for p in last.parent.iterdir() if ".part" in p.name]
    assert read_config(out / "model.keras").preset == PRESET


def test_distillation_lowers_student_teacher_error(tmp_path):
    from edgepose.data.coco import list_images
    from edgepose.models import ensure_default_model

    teacher_path = ensure_default_model()
    teacher, teacher_cfg = load_keras(teacher_path)
    paths = list_images(CALIBRATION)
    out = distill(teacher_path, CALIBRATION, PRESET, epochs=2, out_dir=tmp_path, input_size=128, batch_size=4,
                  steps_per_epoch=6, lr=2e-3, warmup_steps=0, verbose=0)
    student, student_cfg = load_keras(out)
    keras.utils.set_random_seed(0)
    untrained_cfg = student_cfg
    untrained = build_model(untrained_cfg)
    before = distillation_error(untrained, untrained_cfg, teacher, teacher_cfg, paths, (128, 128))
    after = distillation_error(student, student_cfg, teacher, teacher_cfg, paths, (128, 128))
    assert after["heatmaps"] < 0.5 * before["heatmaps"], (before, after)
    assert after["pafs"] < before["pafs"], (before, after)
    # a normal edgepose model: its config inside, the inference outputs, any input size
    assert read_config(out) == student_cfg and student_cfg.preset == PRESET
    assert student.output_names == ["heatmaps", "pafs"]
    assert [tuple(o.shape) for o in student(np.zeros((1, 96, 64, 3), np.float32))] == [(1, 12, 8, 19), (1, 12, 8, 38)]
    from edgepose.export import export  # the exporters take the student as it is

    result = export(out, "tflite", "fp32", size=(128, 128), output=tmp_path / "student.tflite")
    assert result.path.is_file() and result.config.preset == PRESET and result.config.input_mean == 127.5


def test_init_imported_reports_matching_layers():
    """--init imported fills the layers whose names and shapes match the pretrained model."""
    from edgepose.models import ensure_default_model
    from edgepose.train.trainer import initialise

    ensure_default_model()
    logs: list[str] = []
    lightweight = build_training_model(get_preset("lightweight"))
    report = initialise(lightweight, "imported", logs.append)
    assert "Conv2d_0" in report["matched"] and "MConv_Stage1_L2_5_pointwise" in report["matched"]
    assert report["unmatched"] and all(n.startswith("MConv_Stage2") for n in report["unmatched"])
    assert logs and f"initialised {len(report['matched'])} of" in logs[0]
    thin = build_training_model(get_preset(PRESET))  # half width: no shape matches
    report = initialise(thin, "imported", logs.append)
    assert report["matched"] == [] and len(report["unmatched"]) > 50


def test_cli_arguments_map_to_train_and_distill():
    import argparse

    from edgepose.train import add_distill_arguments, add_train_arguments
    from edgepose.train.cli import _shared

    p = argparse.ArgumentParser()
    add_train_arguments(p)
    args = p.parse_args(["--images", str(IMAGES), "--annotations", str(ANNOTATIONS), "--init", "imported",
                         "--size", "256x192", "--strategy", "mirrored", "--resume", "--save-every", "50"])
    kw = _shared(args)
    assert kw["init"] == "imported" and kw["input_size"] == "256x192" and kw["strategy"] == "mirrored"
    assert kw["resume"] and kw["save_every_steps"] == 50 and args.preset == PRESET
    d = argparse.ArgumentParser()
    add_distill_arguments(d)
    args = d.parse_args(["--images", str(CALIBRATION), "--epochs", "3"])
    assert args.teacher is None and _shared(args)["strategy"] is None and args.epochs == 3
