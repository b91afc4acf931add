"""``edgepose serve``: poses over HTTP (FastAPI + uvicorn), with a browser page at /."""

from __future__ import annotations

import argparse
import socket
import sys

from edgepose.cli.common import add_model_options, load_from_args

EXAMPLES = """examples:
  edgepose serve                                   the pretrained model on http://127.0.0.1:8000/
  edgepose serve --model pose_int8.tflite --workers 2 --port 8080
  edgepose serve --host 0.0.0.0                    reachable from other machines (no authentication!)

  curl --data-binary @photo.jpg http://127.0.0.1:8000/v1/poses          raw body
  curl -F image=@photo.jpg 'http://127.0.0.1:8000/v1/poses?size=368'     multipart, network 368 tall
  curl http://127.0.0.1:8000/health ; curl http://127.0.0.1:8000/v1/model

POST /v1/poses answers with the JSON `edgepose predict` writes for an image; errors are
{"error": "..."} with 400 (empty or undecodable image, bad size), 413 (over --max-bytes) or
503 (all workers busy and the queue full; retry).
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="serve poses over HTTP, with a browser page",
                       description="Serve poses over HTTP: POST an image to /v1/poses and get the JSON "
                       "`edgepose predict` writes; open / in a browser to upload a photo or use the webcam.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(p)
    s = p.add_argument_group("service")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="inference workers, each with its own copy of the model (default: %(default)s)")
    s.add_argument("--queue", type=int, default=None, metavar="N",
                   help="requests that may wait for a worker before new ones get 503 (default: 4 per worker)")
    s.add_argument("--max-bytes", type=int, default=20 * 1024 * 1024, metavar="B",
                   help="largest image accepted, in bytes; bigger ones get 413 (default: %(default)s)")
    s.add_argument("--max-pixels", type=int, default=40_000_000, metavar="P",
                   help="largest picture accepted, width x height, checked before decoding (default: %(default)s)")
    s.add_argument("--log-requests", action="store_true", help="print one line per request")
    p.set_defaults(run=run)


def _check_port(host: str, port: int) -> None:
    from edgepose.errors import EdgeposeError

    if not 0 <= port <= 65535:
        raise EdgeposeError(f"--port {port}: not a TCP port (0..65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise EdgeposeError(f"--host {host}: cannot be resolved ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise EdgeposeError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from edgepose.errors import EdgeposeError, require

    require("fastapi", "serve", "edgepose serve")
    uvicorn = require("uvicorn", "serve", "edgepose serve")
    from edgepose.serve import InferencePool, create_app

    if args.max_bytes < 1:
        raise EdgeposeError(f"--max-bytes must be positive, got {args.max_bytes}")
    if args.max_pixels < 1:
        raise EdgeposeError(f"--max-pixels must be positive, got {args.max_pixels}")
    _check_port(args.host, args.port)
    queue = 4 * args.workers if args.queue is None else args.queue
    print(f"loading the model for {args.workers} worker(s)...", file=sys.stderr, flush=True)
    pool = InferencePool(lambda: load_from_args(args), workers=args.workers, queue_size=queue,
                         max_pixels=args.max_pixels)
    app = create_app(pool, max_bytes=args.max_bytes)
    d = pool.described
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(f"edgepose serve: {d['backend']} {d['precision']} on {d['device']}, {args.workers} worker(s), "
          f"queue {queue}; http://{where}:{args.port}/  (Ctrl-C stops)", file=sys.stderr, flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: other machines can reach this service and it has no "
              "authentication", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.log_requests else "warning",
                    access_log=args.log_requests, timeout_keep_alive=5,
                    # Open connections beyond this get uvicorn's own 503: request bodies are read into
                    # memory before the queue is asked, so their number must be bounded too.
                    limit_concurrency=max(64, 8 * (args.workers + queue)))
    finally:
        pool.close()
    return 0
