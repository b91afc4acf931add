"""``edgepose distill``: train a smaller student on a teacher's maps from unlabelled photos."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose distill --images my_photos/ --preset thin_w050              teacher: the pretrained model
  edgepose distill --teacher big.keras --images my_photos/ --preset lightweight --epochs 20
"""


def add_parser(sub, name: str) -> None:
    from edgepose.train.cli import add_distill_arguments, cli_distill

    p = sub.add_parser(name, help="distil a smaller model from a teacher on unlabelled photos",
                       description="Train a student preset to reproduce a teacher's heatmaps and PAFs on "
                       "photos without labels; the student exports like any edgepose model.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_distill_arguments(p)
    p.set_defaults(run=cli_distill)
