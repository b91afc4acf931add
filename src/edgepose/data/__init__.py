"""Training data: COCO annotations -> COCO-18 keypoints, ground-truth maps and masks,
augmentation, and tf.data pipelines.

``coco``, ``groundtruth`` and ``augment`` are numpy only; ``pipeline`` imports TensorFlow.
"""

from edgepose.data.augment import AugmentConfig
from edgepose.data.coco import CocoKeypoints, coco17_to_coco18, list_images

__all__ = ["AugmentConfig", "CocoKeypoints", "coco17_to_coco18", "list_images"]
