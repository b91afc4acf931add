"""Videos with known motion made from annotated photos: the ground truth of the tracking benchmark.

Each clip is a list of BGR frames plus, for each frame, where every annotated person's COCO-17
keypoints are in it (the photo's annotation moved by the same transform as the pixels):

- ``pan``: a window of the photo sliding across it (a camera pan).
- ``zoom``: a window shrinking around the main person (a zoom in), resized to a fixed frame size.
- ``occlusion``: a pan with blank grey frames in its middle (the people vanish and come back).
- ``crossing``: two people, cut from two photos, walking past each other on a grey background;
  the second one passes in front of the first (its hidden keypoints are not visible).
- ``still``: the photo, unmoving, with fresh camera noise on every frame (for jitter).

    clips = make_clips(images_dir, annotations, ["000000000790.jpg"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgepose.image_io import read_image

#: the frame rate the clips are declared at
CLIP_FPS = 25.0
#: a ground-truth person counts in a frame if this many of its keypoints are visible in it
MIN_VISIBLE = 4
GREY = 114


@dataclass
class Clip:
    """A clip with its ground truth.

    frames: BGR uint8 [h, w, 3] each. gt: per frame, {annotation id: float [17, 3] COCO-17 x, y, v
    in frame pixels, v = 0 where not visible}, for the people with >= 10 labelled keypoints.
    areas: per frame, {annotation id: area in pixels^2}. ignore: per frame, boxes float [N, 4]
    (x0, y0, x1, y1 in frame pixels) of the other annotated people and crowds: a prediction there
    that matches no ground-truth person is neither right nor wrong.
    transforms: per frame, the 2x3 affine map from photo to frame pixels (None for blank frames
    and composites). occlusions: how many times the clip hides its people.
    """

    name: str
    kind: str
    frames: list[np.ndarray]
    gt: list[dict[int, np.ndarray]]
    areas: list[dict[int, float]]
    transforms: list[np.ndarray | None] = field(default_factory=list)
    ignore: list[np.ndarray] = field(default_factory=list)
    occlusions: int = 0
    fps: float = CLIP_FPS


def people_of(annotations: dict, file_name: str, min_keypoints: int = 10) -> list[dict]:
    """The annotated people of one photo with at least ``min_keypoints`` labelled keypoints."""
    image = next(im for im in annotations["images"] if im["file_name"] == file_name)
    return [a for a in annotations["annotations"] if a["image_id"] == image["id"] and not a.get("iscrowd")
            and a["num_keypoints"] >= min_keypoints]


def others_of(annotations: dict, file_name: str, people: list[dict]) -> np.ndarray:
    """Boxes float [N, 4] (x0, y0, x1, y1, photo pixels) of the photo's annotations not in ``people``."""
    image = next(im for im in annotations["images"] if im["file_name"] == file_name)
    ids = {a["id"] for a in people}
    boxes = [a["bbox"] for a in annotations["annotations"] if a["image_id"] == image["id"] and a["id"] not in ids]
    return np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float64).reshape(-1, 4)


def _move_boxes(boxes: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes through a scale + translation ``m``."""
    out = boxes.copy()
    out[:, [0, 2]] = boxes[:, [0, 2]] * m[0, 0] + m[0, 2]
    out[:, [1, 3]] = boxes[:, [1, 3]] * m[1, 1] + m[1, 2]
    return out


def _kp(ann: dict) -> np.ndarray:
    return np.asarray(ann["keypoints"], np.float64).reshape(17, 3)


def _move(kp: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """COCO-17 keypoints through affine ``m``; v = 0 for unlabelled or outside the frame [h, w]."""
    out = kp.copy()
    out[:, :2] = kp[:, :2] @ m[:, :2].T + m[:, 2]
    h, w = size
    inside = (out[:, 0] >= 0) & (out[:, 0] < w) & (out[:, 1] >= 0) & (out[:, 1] < h)
    out[:, 2] = np.where((kp[:, 2] > 0) & inside, kp[:, 2], 0)
    out[out[:, 2] == 0, :2] = 0
    return out


def _frame_gt(anns: list[dict], m: np.ndarray, size: tuple[int, int]) -> tuple[dict, dict]:
    gt, areas = {}, {}
    scale2 = abs(np.linalg.det(m[:, :2]))
    for a in anns:
        kp = _move(_kp(a), m, size)
        if (kp[:, 2] > 0).sum() >= MIN_VISIBLE:
            gt[a["id"]] = kp
            areas[a["id"]] = float(a["area"]) * scale2
    return gt, areas


def _warped(image: np.ndarray, anns: list[dict], ms: list[np.ndarray], size: tuple[int, int], name: str, kind: str,
            others: np.ndarray | None = None) -> Clip:
    h, w = size
    others = np.zeros((0, 4)) if others is None else others
    frames, gts, areas, ignore = [], [], [], []
    for m in ms:
        frames.append(cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=(GREY, GREY, GREY)))
        g, a = _frame_gt(anns, m, size)
        gts.append(g)
        areas.append(a)
        ignore.append(_move_boxes(others, m))
    return Clip(name, kind, frames, gts, areas, list(ms), ignore)


def pan(image: np.ndarray, anns: list[dict], name: str, frames: int = 20, travel: float = 0.3,
        others: np.ndarray | None = None) -> Clip:
    """A window of 70 % x 90 % of the photo sliding by ``travel`` of its width (and a little down)."""
    h, w = image.shape[:2]
    ch, cw = int(h * 0.9), int(w * (1.0 - travel))
    ms = []
    for i in range(frames):
        x = (w - cw) * i / (frames - 1)
        y = (h - ch) * i / (frames - 1)
        ms.append(np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]]))
    return _warped(image, anns, ms, (ch, cw), f"{name}:pan", "pan", others)


def zoom(image: np.ndarray, anns: list[dict], name: str, frames: int = 20, factor: float = 1.6,
         others: np.ndarray | None = None) -> Clip:
    """A zoom in by ``factor`` towards the largest annotated person, at the photo's size."""
    h, w = image.shape[:2]
    main = max(anns, key=lambda a: a["area"])
    bx, by, bw, bh = main["bbox"]
    cx, cy = bx + bw / 2, by + bh / 2
    ms = []
    for i in range(frames):
        s = factor ** (i / (frames - 1))
        # photo point (cx, cy) drifts to the frame centre as the zoom grows
        k = i / (frames - 1)
        px, py = cx + (w / 2 - cx) * (1 - k), cy + (h / 2 - cy) * (1 - k)
        ms.append(np.array([[s, 0.0, w / 2 - s * px], [0.0, s, h / 2 - s * py]]))
    return _warped(image, anns, ms, (h, w), f"{name}:zoom", "zoom", others)


def occlusion(image: np.ndarray, anns: list[dict], name: str, frames: int = 20, blank: int = 6,
              others: np.ndarray | None = None) -> Clip:
    """A pan whose ``blank`` middle frames are uniform grey: everyone vanishes, then comes back."""
    clip = pan(image, anns, name, frames, others=others)
    start = (frames - blank) // 2
    for i in range(start, start + blank):
        clip.frames[i] = np.full_like(clip.frames[i], GREY)
        clip.gt[i], clip.areas[i], clip.transforms[i], clip.ignore[i] = {}, {}, None, np.zeros((0, 4))
    clip.name, clip.kind, clip.occlusions = f"{name}:occlusion", "occlusion", 1
    return clip


def still(image: np.ndarray, anns: list[dict], name: str, frames: int = 20, noise: float = 8.0, seed: int = 0,
          others: np.ndarray | None = None) -> Clip:
    """The photo unmoving, with Gaussian camera noise (``noise`` grey levels std) on every frame."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    clip = _warped(image, anns, [m] * frames, (h, w), f"{name}:still", "still", others)
    clip.frames = [np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8) for _ in range(frames)]
    return clip


def _person_patch(image: np.ndarray, ann: dict, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The person's box (+15 % margin) cut out and scaled to ``height``; and the photo->patch map."""
    h, w = image.shape[:2]
    bx, by, bw, bh = ann["bbox"]
    mx, my = 0.15 * bw, 0.15 * bh
    x0, y0 = int(max(0, bx - mx)), int(max(0, by - my))
    x1, y1 = int(min(w, bx + bw + mx)), int(min(h, by + bh + my))
    s = height / (y1 - y0)
    patch = cv2.resize(image[y0:y1, x0:x1], (max(1, round((x1 - x0) * s)), height), interpolation=cv2.INTER_AREA)
    return patch, np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]])


def crossing(image_a: np.ndarray, ann_a: dict, image_b: np.ndarray, ann_b: dict, name: str, frames: int = 24,
             size: tuple[int, int] = (480, 800), others_a: np.ndarray | None = None,
             others_b: np.ndarray | None = None) -> Clip:
    """Person A walks left to right, person B right to left in front of A; grey background.
    others_a/b: boxes of other annotated people in the two photos (ignored where they show)."""
    h, w = size
    ph = int(h * 0.8)
    pa, ma = _person_patch(image_a, ann_a, ph)
    pb, mb = _person_patch(image_b, ann_b, ph)
    y = (h - ph) // 2
    clip = Clip(f"{name}:crossing", "crossing", [], [], [], [], occlusions=1)
    for i in range(frames):
        k = i / (frames - 1)
        xa = int(round(k * (w - pa.shape[1])))
        xb = int(round((1 - k) * (w - pb.shape[1])))
        frame = np.full((h, w, 3), GREY, np.uint8)
        frame[y:y + ph, xa:xa + pa.shape[1]] = pa
        frame[y:y + ph, xb:xb + pb.shape[1]] = pb
        gt, areas, ignore = {}, {}, []
        for ann, m0, x, patch, others in ((ann_a, ma, xa, pa, others_a), (ann_b, mb, xb, pb, others_b)):
            m = m0 + np.array([[0, 0, x], [0, 0, y]])
            if others is not None and len(others):
                boxes = _move_boxes(others, m)
                boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], x, x + patch.shape[1])
                boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], y, y + ph)
                ignore.append(boxes)
            kp = _move(_kp(ann), m, size)
            if ann is ann_a:  # hidden behind B's patch
                hidden = (kp[:, 0] >= xb) & (kp[:, 0] < xb + pb.shape[1])
                kp[hidden, 2] = 0
                kp[hidden, :2] = 0
            if (kp[:, 2] > 0).sum() >= MIN_VISIBLE:
                gt[ann["id"]] = kp
                areas[ann["id"]] = float(ann["area"]) * m0[0, 0] ** 2
        clip.frames.append(frame)
        clip.gt.append(gt)
        clip.areas.append(areas)
        clip.transforms.append(None)
        clip.ignore.append(np.concatenate(ignore) if ignore else np.zeros((0, 4)))
    return clip


def make_clips(images: Path, annotations: dict, file_names: list[str], *, frames: int = 20,
               kinds: tuple[str, ...] = ("pan", "zoom", "occlusion", "still", "crossing")) -> list[Clip]:
    """The clips of each photo (``kinds``), and crossings of consecutive pairs of photos."""
    photos = []
    for name in file_names:
        anns = people_of(annotations, name)
        if anns:
            photos.append((name, read_image(Path(images) / name, apply_exif=False), anns))
    clips = []
    makers = {"pan": pan, "zoom": zoom, "occlusion": occlusion, "still": still}
    for name, image, anns in photos:
        stem = Path(name).stem
        others = others_of(annotations, name, anns)
        clips.extend(makers[k](image, anns, stem, frames, others=others) for k in kinds if k in makers)
    if "crossing" in kinds:
        for (na, ia, aa), (nb, ib, ab) in zip(photos[0::2], photos[1::2]):
            a = max(aa, key=lambda x: x["area"])
            b = max(ab, key=lambda x: x["area"])
            clips.append(crossing(ia, a, ib, b, f"{Path(na).stem}+{Path(nb).stem}", frames + 4,
                                  others_a=others_of(annotations, na, [a]), others_b=others_of(annotations, nb, [b])))
    return clips
