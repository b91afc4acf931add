"""COCO keypoint evaluation."""

from edgepose.eval.coco import CocoKeypoints, coco_image_id, evaluate_coco, validate

__all__ = ["CocoKeypoints", "coco_image_id", "evaluate_coco", "validate"]
