"""The HTTP service and its browser page, above the estimator (``edgepose serve``).

>>> from edgepose.serve import InferencePool, create_app
>>> pool = InferencePool(lambda: edgepose.load("pose_int8.tflite"), workers=1)
>>> app = create_app(pool, max_bytes=20 << 20)        # run it with uvicorn
"""

from edgepose.serve.app import create_app
from edgepose.serve.pool import BadInput, InferencePool, QueueFull

__all__ = ["BadInput", "InferencePool", "QueueFull", "create_app"]
