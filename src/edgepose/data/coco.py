"""COCO person-keypoint annotations as COCO-18 arrays, with the masks of unlabelled people.

A ``CocoKeypoints`` reads a COCO ``person_keypoints_*.json`` once, checks that it is one and that
its images are on disk, and serves per image:

- ``keypoints(i)``: float32 [P, 18, 3] as x, y in original-image pixels (COCO convention: pixel
  centres at integer coordinates) and v in {0, 1, 2} (not labelled, labelled occluded, visible),
  COCO-18 order, the neck (index 1) the midpoint of both shoulders when both are labelled;
- ``ignore_mask(i)``: uint8 [h, w], 1 where the loss must be ignored: crowd regions and people
  that have a segmentation but no labelled keypoint (``num_keypoints == 0``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.skeleton import COCO17_FROM_COCO18, COCO18

NECK = COCO18.part_index("neck")
R_SHOULDER = COCO18.part_index("right_shoulder")
L_SHOULDER = COCO18.part_index("left_shoulder")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageRecord:
    """One image and its person annotations (raw COCO dicts, category person only)."""

    image_id: int
    path: Path
    height: int
    width: int
    annotations: tuple[dict, ...]


def coco17_to_coco18(kp17: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints [..., 17, 3] (x, y, v) to COCO-18 [..., 18, 3] with the neck added.

    The neck is the midpoint of the shoulders when both have v > 0; its v is the smaller of theirs
    (a neck is only "visible" when both shoulders are). Unlabelled parts are (0, 0, 0).
    """
    kp17 = np.asarray(kp17, dtype=np.float32)
    out = np.zeros(kp17.shape[:-2] + (COCO18.num_parts, 3), dtype=np.float32)
    out[..., list(COCO17_FROM_COCO18), :] = kp17
    rs, ls = out[..., R_SHOULDER, :], out[..., L_SHOULDER, :]
    both = (rs[..., 2] > 0) & (ls[..., 2] > 0)
    neck = np.zeros_like(rs)
    neck[..., :2] = 0.5 * (rs[..., :2] + ls[..., :2])
    neck[..., 2] = np.minimum(rs[..., 2], ls[..., 2])
    out[..., NECK, :] = np.where(both[..., None], neck, 0.0)
    out[out[..., 2] <= 0] = 0.0
    return out


def _fail(path: Path, what: str) -> EdgeposeError:
    return EdgeposeError(
        f"{path} is not a COCO person-keypoints annotation file: {what}. "
        "Expected JSON with 'images' (id, file_name, height, width) and 'annotations' "
        "(image_id, keypoints of 17 x, y, v triples, num_keypoints, iscrowd)."
    )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise EdgeposeError(f"annotation file {path} does not exist")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"it is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise _fail(path, f"the top level is a {type(data).__name__}, not an object")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise _fail(path, f"it has no '{key}' list")
    return data


class CocoKeypoints:
    """The person-keypoint annotations of one COCO file, checked against an image folder.

    images_dir: folder holding the ``file_name`` of every image.
    annotations: the COCO JSON file.
    only_with_people: keep only images with at least one person that has a labelled keypoint.
    files: keep only the images with these file names (e.g. ``edgepose.eval.split.TUNING``).
    """

    def __init__(
        self, images_dir: str | Path, annotations: str | Path, *, only_with_people: bool = True,
        files: Iterable[str] | None = None,
    ) -> None:
        self.images_dir = Path(images_dir)
        self.annotations_path = Path(annotations)
        if not self.images_dir.is_dir():
            raise EdgeposeError(f"image folder {self.images_dir} does not exist")
        data = _read_json(self.annotations_path)
        person_cats = {
            c.get("id") for c in data.get("categories", []) if isinstance(c, dict) and c.get("name") == "person"
        }
        by_image: dict[int, list[dict]] = {}
        for n, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann:
                raise _fail(self.annotations_path, f"annotation #{n} has no image_id")
            if person_cats and ann.get("category_id") not in person_cats:
                continue
            kp = ann.get("keypoints")
            if not isinstance(kp, list) or len(kp) != 51:
                raise _fail(
                    self.annotations_path,
                    f"annotation #{n} (id {ann.get('id')}) has no 'keypoints' list of 51 numbers",
                )
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
        keep = None if files is None else frozenset(files)
        records: list[ImageRecord] = []
        missing: list[str] = []
        for n, img in enumerate(data["images"]):
            if not isinstance(img, dict) or not {"id", "file_name"} <= img.keys():
                raise _fail(self.annotations_path, f"image #{n} has no id or file_name")
            if keep is not None and img["file_name"] not in keep:
                continue
            anns = tuple(by_image.get(int(img["id"]), ()))
            if only_with_people and not any(
                a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0) for a in anns
            ):
                continue
            path = self.images_dir / img["file_name"]
            if not path.is_file():
                missing.append(img["file_name"])
                continue
            records.append(
                ImageRecord(int(img["id"]), path, int(img.get("height", 0)), int(img.get("width", 0)), anns)
            )
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise EdgeposeError(
                f"{len(missing)} of {len(missing) + len(records)} images named in "
                f"{self.annotations_path} are missing from {self.images_dir}: {shown}"
            )
        if not records:
            raise EdgeposeError(f"{self.annotations_path} has no image with a labelled person")
        self.records: tuple[ImageRecord, ...] = tuple(records)
        self._masks: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.records)

    def keypoints(self, i: int) -> np.ndarray:
        """float32 [P, 18, 3] of the people with labelled keypoints (x, y px; v 0/1/2)."""
        anns = [a for a in self.records[i].annotations if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0)]
        if not anns:
            return np.zeros((0, COCO18.num_parts, 3), np.float32)
        kp17 = np.asarray([a["keypoints"] for a in anns], np.float32).reshape(-1, 17, 3)
        return coco17_to_coco18(kp17)

    def ignore_mask(self, i: int, hw: tuple[int, int]) -> np.ndarray:
        """uint8 [h, w]: 1 on crowd regions and on people without labelled keypoints.

        hw: the decoded image's (height, width), which wins over the JSON's when they differ.
        Cached per image (the masks are small and pycocotools is the slow part).
        """
        with self._lock:
            cached = self._masks.get(i)
        if cached is not None and cached.shape == tuple(hw):
            return cached
        from pycocotools import mask as mask_utils

        h, w = hw
        out = np.zeros((h, w), np.uint8)
        for a in self.records[i].annotations:
            if not (a.get("iscrowd", 0) or a.get("num_keypoints", 0) == 0):
                continue
            seg = a.get("segmentation")
            if not seg:
                continue
            if isinstance(seg, list):  # polygons
                polys = [p for p in seg if len(p) >= 6]
                if not polys:
                    continue
                rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            elif isinstance(seg.get("counts"), list):  # uncompressed RLE (crowds)
                rle = mask_utils.frPyObjects(seg, *seg["size"])
            else:
                rle = seg
            m = mask_utils.decode(rle)
            if m.shape != (h, w):
                import cv2

                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
            out |= m.astype(np.uint8)
        with self._lock:
            self._masks[i] = out
        return out


def list_images(images_dir: str | Path) -> list[Path]:
    """Image files directly inside a folder (unlabelled photos for distillation), sorted."""
    d = Path(images_dir)
    if not d.is_dir():
        raise EdgeposeError(f"image folder {d} does not exist")
    paths = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EdgeposeError(f"image folder {d} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths
