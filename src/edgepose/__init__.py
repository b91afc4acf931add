"""edgepose: multi-person pose estimation (OpenPose-style part affinity fields) on edge hardware."""

__version__ = "0.1.0"
