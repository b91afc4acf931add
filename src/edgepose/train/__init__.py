"""Training: the masked Euclidean loss at every stage, resumable checkpoints, distillation.

    from edgepose.train import train, distill
    model_path = train("coco/train2017", "person_keypoints_train2017.json", "thin_w050", epochs=10)
    student = distill(teacher_path, "photos/", "thin_w050", epochs=10)
"""

import importlib

# Names are imported on first use, so that `edgepose --help` does not load TensorFlow.
# (Importing edgepose.train.loss registers EuclideanLoss with Keras; load_checkpoint does that.)
_WHERE = {
    "TrainState": "checkpoint", "load_checkpoint": "checkpoint", "read_checkpoint_info": "checkpoint",
    "save_checkpoint": "checkpoint",
    "add_distill_arguments": "cli", "add_train_arguments": "cli", "cli_distill": "cli", "cli_train": "cli",
    "distill": "distillation", "distillation_error": "distillation",
    "EuclideanLoss": "loss",
    "build_training_model": "model", "inference_model": "model",
    "export_checkpoint": "trainer", "train": "trainer",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"edgepose.train.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgepose.train' has no attribute {name!r}")


__all__ = [
    "EuclideanLoss",
    "TrainState",
    "add_distill_arguments",
    "add_train_arguments",
    "build_training_model",
    "cli_distill",
    "cli_train",
    "distill",
    "distillation_error",
    "export_checkpoint",
    "inference_model",
    "load_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
    "train",
]
