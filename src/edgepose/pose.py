"""Result types: one ``Pose`` per person, with converters to COCO-17 and OpenPose JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.skeleton import COCO17_FROM_COCO18, COCO18, Skeleton


@dataclass(frozen=True, eq=False)
class Pose:
    """One person.

    keypoints: float32 [K, 3] as x, y in original-image pixels and score in 0..1, K = 18 for
        COCO-18; a part that was not found is (0, 0, 0).
    score: person score in 0..1 (mean of its part and limb scores, OpenPose style).
    track_id: the person's identity across the frames of a video (``edgepose.track``), None on
        single images and untracked video.
    """

    keypoints: np.ndarray
    score: float
    skeleton: Skeleton = COCO18
    track_id: int | None = None

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.shape != (self.skeleton.num_parts, 3):
            raise ValueError(f"keypoints must be [{self.skeleton.num_parts}, 3], got {kp.shape}")
        kp.setflags(write=False)
        object.__setattr__(self, "keypoints", kp)

    @property
    def found(self) -> np.ndarray:
        """bool [K]: which parts were detected."""
        return self.keypoints[:, 2] > 0

    @property
    def num_parts(self) -> int:
        return int(self.found.sum())

    def bbox(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the detected keypoints, in pixels."""
        pts = self.keypoints[self.found, :2]
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))

    def to_coco17(self) -> np.ndarray:
        """float32 [17, 3] in COCO order: x, y, v with v = 2 for found parts and 0 otherwise."""
        kp = self.keypoints[list(COCO17_FROM_COCO18)].copy()
        kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
        kp[kp[:, 2] == 0, :2] = 0.0
        return kp

    def to_coco_result(self, image_id: int) -> dict:
        """One entry of a COCO keypoint-results list."""
        return {
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 2) for v in self.to_coco17().ravel()],
            "score": round(float(self.score), 5),
        }

    def to_openpose(self) -> dict:
        """One entry of OpenPose's ``people`` list: ``pose_keypoints_2d`` as flat x, y, c."""
        pid = -1 if self.track_id is None else int(self.track_id)
        return {"person_id": [pid], "pose_keypoints_2d": [round(float(v), 3) for v in self.keypoints.ravel()]}

    def to_dict(self) -> dict:
        names = self.skeleton.parts
        tracked = {} if self.track_id is None else {"track_id": int(self.track_id)}
        return {
            **tracked,
            "score": round(float(self.score), 5),
            "keypoints": {
                names[i]: [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                for i, (x, y, s) in enumerate(self.keypoints)
                if s > 0
            },
        }
