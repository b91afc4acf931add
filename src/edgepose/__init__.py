"""edgepose: multi-person pose estimation (OpenPose-style part affinity fields) on edge hardware."""

__version__ = "0.1.0"


def load(*args, **kwargs):
    """Opens a model as a ``PoseEstimator``; see ``edgepose.estimator.load``."""
    from edgepose.estimator import load as _load

    return _load(*args, **kwargs)


__all__ = ["__version__", "load"]
