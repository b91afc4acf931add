"""Training: the masked Euclidean loss at every stage, resumable checkpoints, distillation.

    from edgepose.train import train, distill
    model_path = train("coco/train2017", "person_keypoints_train2017.json", "thin_w050", epochs=10)
    student = distill(teacher_path, "photos/", "thin_w050", epochs=10)
"""

from edgepose.train.checkpoint import TrainState, load_checkpoint, read_checkpoint_info, save_checkpoint
from edgepose.train.cli import add_distill_arguments, add_train_arguments, cli_distill, cli_train
from edgepose.train.distill import distill, distillation_error
from edgepose.train.loss import EuclideanLoss
from edgepose.train.model import build_training_model, inference_model
from edgepose.train.trainer import export_checkpoint, train

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
