"""tf.distribute strategies by name: one device, MirroredStrategy, MultiWorkerMirroredStrategy.

``multiworker`` reads the cluster from ``TF_CONFIG`` (JSON: ``{"cluster": {"worker": [...]},
"task": {"type": "worker", "index": i}}``); without it, it runs as a single local worker. It must
be created before TensorFlow runs any op in the process (a TensorFlow rule), so ``train`` and
``distill`` create it first.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from edgepose.errors import EdgeposeError

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str | None = None) -> tf.distribute.Strategy:
    """The strategy called ``name``: None/"default" (one device), "mirrored", "multiworker"."""
    key = (name or "default").lower().replace("-", "").replace("_", "")
    if key in ("default", "none", "onedevice"):
        return tf.distribute.get_strategy()
    if key == "mirrored":
        return tf.distribute.MirroredStrategy()
    if key in ("multiworker", "multiworkermirrored"):
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as e:
            raise EdgeposeError(
                f"cannot start MultiWorkerMirroredStrategy ({e}); it must be created before "
                "TensorFlow runs anything else in the process"
            ) from e
    raise EdgeposeError(f"unknown distribution strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints and logs (worker 0, or the only process)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and not has_chief


def describe(strategy: tf.distribute.Strategy) -> str:
    """e.g. "MirroredStrategy (1 replica)"."""
    return f"{type(strategy).__name__} ({strategy.num_replicas_in_sync} replica" + (
        "s)" if strategy.num_replicas_in_sync != 1 else ")"
    )
