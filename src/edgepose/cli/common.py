"""Options shared by several modes."""

from __future__ import annotations

import argparse


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model/--backend/--device/--stages/--size, read by ``edgepose.load``."""
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="FILE", help="model file: .keras, .xml (OpenVINO), .tflite, .onnx or a "
                   "SavedModel folder (default: the pretrained mobilenet_thin)")
    g.add_argument("--backend", help="keras, tensorflow, openvino, litert, onnxruntime or opencv (default: by file suffix; .onnx: onnxruntime, else opencv)")
    g.add_argument("--device", help="device for the backend, e.g. CPU, GPU, NPU, AUTO (OpenVINO)")
    g.add_argument("--stages", type=int, metavar="K", help="run only the first K refinement stages (Keras models, 1..6)")
    g.add_argument("--size", metavar="HxW", help="network input size, e.g. 368x432; a single number sets the height "
                   "and the width follows each image (default 432; exported models use their own fixed size)")
    g.add_argument("--threads", type=int, metavar="N", help="inference threads (backends that allow it)")
    g.add_argument("--augment", nargs="?", const="default", metavar="RECIPE", help="test-time augmentation, maps "
                   "averaged before decoding: flip and scales of the input height, e.g. flip,1,0.75 "
                   "(alone: the recipe chosen on the tuning photos, flip,1,0.75,0.5: 6 passes)")


def load_kwargs_from_args(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``edgepose.load`` the model options ask for (threads excepted)."""
    return {"model": args.model, "backend": args.backend, "device": args.device, "stages": args.stages,
            "size": args.size, "augment": getattr(args, "augment", None)}


def load_from_args(args: argparse.Namespace):
    import edgepose

    options = {}
    if getattr(args, "threads", None):
        options["threads"] = args.threads
    return edgepose.load(**load_kwargs_from_args(args), **options)
