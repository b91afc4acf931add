"""``edgepose train``: train a pose network on COCO keypoints (masked L2 on every stage)."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose train --images coco/train2017 --annotations person_keypoints_train2017.json --preset thin_w050
  edgepose train --images coco/train2017 --annotations kp.json --preset mobilenet_thin --init imported --epochs 5
  edgepose train ... --out runs/train --resume          continue an interrupted run where it stopped
  edgepose train --images ../shared/data/coco_sample/images --annotations ../shared/data/coco_sample/person_keypoints.json \
      --preset mobilenet_thin --init imported --part tuning --val-part tuning evaluation --epochs 4
                       fine-tune on the tuning part; COCO AP of both parts every epoch, best by tuning AP
  edgepose train ... --init imported --part tuning-a --val-part tuning-b tuning-a --steps-per-epoch 2 --lr 5e-6
                       judge a setting inside the tuning part: train on one fold, score the other
"""


def add_parser(sub, name: str) -> None:
    from edgepose.train.cli import add_train_arguments, cli_train

    p = sub.add_parser(name, help="train a model on COCO person keypoints",
                       description="Train a preset with the masked Euclidean loss sum((x-y)^2)/batch/2 on every "
                       "stage's heatmaps and PAFs; the whole model is checkpointed every epoch.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(p)
    p.set_defaults(run=cli_train)
