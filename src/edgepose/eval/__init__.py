"""COCO keypoint evaluation.

The names below load on first use, so that importing ``edgepose.eval.split`` (the part names every
``--part`` option offers) costs a command line's start-up nothing.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "CocoKeypoints": "edgepose.eval.coco", "coco_image_id": "edgepose.eval.coco",
    "evaluate_coco": "edgepose.eval.coco", "validate": "edgepose.eval.coco",
    "match_people": "edgepose.eval.oks", "oks": "edgepose.eval.oks",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'edgepose.eval' has no attribute {name!r}")
