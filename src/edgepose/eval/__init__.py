"""COCO keypoint evaluation."""

from edgepose.eval.coco import CocoKeypoints, coco_image_id, evaluate_coco, validate
from edgepose.eval.oks import match_people, oks

__all__ = ["CocoKeypoints", "coco_image_id", "evaluate_coco", "match_people", "oks", "validate"]
