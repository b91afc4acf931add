"""COCO keypoint AP with pycocotools, on any estimator."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgepose.errors import EdgeposeError

METRIC_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def coco_image_id(path: str | Path) -> int | None:
    """The COCO image id in a file name such as ``000000000139.jpg`` (the last run of digits)."""
    digits = re.findall(r"\d+", Path(path).stem)
    return int(digits[-1]) if digits else None


@dataclass
class CocoKeypoints:
    """A COCO person-keypoints annotation file, checked on load."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> "CocoKeypoints":
        path = Path(path)
        if not path.exists():
            raise EdgeposeError(f"{path}: no such annotation file")
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EdgeposeError(f"{path}: not a JSON file ({e})") from None
        missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
        if missing:
            raise EdgeposeError(f"{path}: not a COCO annotation file (missing {', '.join(missing)})")
        if not any("keypoints" in c for c in data["categories"]):
            raise EdgeposeError(f"{path}: has no person-keypoints category; a COCO person_keypoints file is needed")
        return cls(path, data)

    def images(self) -> list[dict[str, Any]]:
        return list(self.data["images"])


def evaluate_coco(results: list[dict], annotations: CocoKeypoints, image_ids: list[int] | None = None) -> dict[str, float]:
    """COCO keypoint metrics of a results list, over ``image_ids`` (default: every image).

    Returns AP, AP50, AP75, APm, APl, AR, ... as fractions 0..1 (pycocotools' stats).
    """
    from edgepose.errors import require

    COCO = require("pycocotools.coco", "eval", "COCO keypoint AP").COCO
    COCOeval = require("pycocotools.cocoeval", "eval", "COCO keypoint AP").COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = annotations.data
        gt.createIndex()
        if not results:
            return {k: 0.0 for k in METRIC_NAMES}
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(METRIC_NAMES, ev.stats)}


def _where_they_are(images_dir: Path, names: list[str]) -> str:
    """"; they are in <subfolder>: pass --images <subfolder>" when a folder inside holds some of them
    (COCO's own layout, or a dataset folder whose photos sit in images/); else ""."""
    for sub in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        if any((sub / name).exists() for name in names[:100]):
            return f"; they are in {sub}: pass --images {sub}"
    return ""


def validate(
    estimator,
    images_dir: str | Path,
    annotations: str | Path,
    *,
    progress: bool = True,
    on_result: Callable[[Path, Any], None] | None = None,
    part: str | None = None,
) -> dict[str, Any]:
    """Runs ``estimator`` on every annotated image found in ``images_dir``; COCO metrics.

    ``part`` ("tuning" or "evaluation", see :mod:`edgepose.eval.split`) restricts the run to one part
    of the project's fixed split; None takes every annotated image.

    Returns {"metrics": {...}, "images": n, "missing": [...], "failed": [(file, message)],
    "results": [...COCO results...], "timings_ms": median per step}.
    """
    from tqdm import tqdm

    from edgepose.image_io import read_image

    ann = CocoKeypoints.load(annotations)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise EdgeposeError(f"{images_dir}: no such folder of images")
    from edgepose.eval.split import files_of

    keep = files_of(part)
    todo, missing = [], []
    for im in ann.images():
        if keep is not None and im["file_name"] not in keep:
            continue
        p = images_dir / im["file_name"]
        (todo if p.exists() else missing).append((im["id"], p) if p.exists() else im["file_name"])
    if not todo:
        where = f" of the {part} part" if part else ""
        raise EdgeposeError(f"none of the {len(missing)} annotated images{where} is in {images_dir}"
                            + _where_they_are(images_dir, missing))
    results: list[dict] = []
    failed: list[tuple[str, str]] = []
    done_ids: list[int] = []
    timings: dict[str, list[float]] = {}
    for image_id, path in tqdm(todo, desc="val", unit="img", disable=not progress, leave=False):
        try:
            image = read_image(path, apply_exif=False)
        except EdgeposeError as e:
            failed.append((str(path), str(e)))
            continue
        pred = estimator.predict(image)
        for k, v in pred.timings_ms.items():
            timings.setdefault(k, []).append(v)
        results.extend(p.to_coco_result(image_id) for p in pred.poses)
        done_ids.append(image_id)
        if on_result:
            on_result(path, pred)
    metrics = evaluate_coco(results, ann, done_ids)
    return {
        "metrics": metrics,
        "images": len(done_ids),
        "missing": missing,
        "failed": failed,
        "results": results,
        "timings_ms": {k: float(np.median(v)) for k, v in timings.items()},
    }
