"""The HTTP service: FastAPI routes over an ``InferencePool``.

POST /v1/poses   an image as the raw body or as multipart field ``image``; optional query ``size``
                 -> the JSON ``edgepose predict`` writes for an image (people, keypoints, timings)
GET  /health     liveness and the pool's load
GET  /v1/model   what runs where (backend, device, precision, input size) and the skeleton
GET  /           a browser page: upload a photo or use the webcam, see the skeletons and the JSON

Errors are JSON ``{"error": "..."}``: 400 empty/undecodable image or bad size, 413 over
``max_bytes``, 503 queue full. Nothing a client sends reaches a 500: bad input is caught before or
inside the worker, and a worker survives any failure of a job.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures (Request is imported late).

import asyncio
import logging
import time
from importlib import resources

from edgepose.errors import EdgeposeError, require
from edgepose.serve.images import decode_upload
from edgepose.serve.pool import BadInput, InferencePool, QueueFull

log = logging.getLogger("edgepose.serve")

#: Extra room in a request body for multipart headers around an image of ``max_bytes``.
MULTIPART_SLACK = 64 * 1024
#: Bodies over the limit but under this many times it are read to the end (and dropped) before the 413.
DRAIN_FACTOR = 4


class _TooLarge(Exception):
    pass


def page_html() -> str:
    """The browser page served at ``/``."""
    return resources.files("edgepose.serve").joinpath("page.html").read_text(encoding="utf-8")


def create_app(pool: InferencePool, max_bytes: int = 20 * 1024 * 1024):
    """A FastAPI app serving ``pool``; request bodies (the image) are limited to ``max_bytes``."""
    require("fastapi", "serve", "edgepose serve")
    require("multipart", "serve", "multipart uploads in edgepose serve")
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect

    from edgepose import __version__

    # python-multipart logs each malformed upload; the client already gets a 400 saying so.
    logging.getLogger("multipart").setLevel(logging.ERROR)
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    app = FastAPI(title="edgepose", version=__version__, docs_url="/docs", redoc_url=None)
    started = time.time()
    skeleton = pool.config.skeleton_def
    page = page_html()

    def error(status: int, message: str, **headers) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc):
        return error(400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page)

    @app.get("/health")
    async def health():
        status = pool.status()
        ok = status["alive"] == status["workers"]
        return JSONResponse({"status": "ok" if ok else "degraded", "uptime_s": round(time.time() - started, 1),
                             **status}, status_code=200 if ok else 503)

    @app.get("/v1/model")
    async def model():
        return {
            "model": pool.described,
            "input_size": list(pool.fixed_size) if pool.fixed_size else None,
            "size_query": ("fixed: the model's own input size only" if pool.fixed_size else
                           f"'H' or 'HxW', multiples of {pool.stride} from 64 to 1024"),
            "workers": pool.workers,
            "queue_size": pool.queue_size,
            "max_bytes": max_bytes,
            "max_pixels": pool.max_pixels,
            "micro_batching": False,
            "skeleton": {"name": skeleton.name, "parts": list(skeleton.parts),
                         "limbs": [list(l) for l in skeleton.limbs[: skeleton.render_limbs]],
                         "colors_bgr": [list(c) for c in skeleton.colors]},
            "edgepose": __version__,
        }

    async def read_body(request: Request, limit: int) -> bytes:
        """The body, at most ``limit`` bytes, else ``_TooLarge``. An oversized body is read on and
        dropped up to DRAIN_FACTOR x limit first: answering while the client still sends makes the
        server close a socket with unread data, and the client sees a connection reset instead of 413."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > DRAIN_FACTOR * limit:
            raise _TooLarge  # too much even to drop: answer now, the connection closes
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > DRAIN_FACTOR * limit:
                raise _TooLarge
            if total <= limit:
                chunks.append(chunk)
        if total > limit:
            raise _TooLarge
        return b"".join(chunks)

    async def image_from(request: Request) -> tuple[bytes, str]:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return await read_body(request, max_bytes), "upload"
        body = await read_body(request, max_bytes + MULTIPART_SLACK)

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
        try:
            part = form.get("image")
            if part is None or isinstance(part, str):
                raise BadInput("multipart upload without a file field named 'image'")
            data = await part.read()
            name = part.filename or "upload"
        finally:
            await form.close()
        if len(data) > max_bytes:
            raise _TooLarge
        return data, name

    @app.post("/v1/poses")
    async def poses(request: Request, size: str | None = None):
        try:
            data, name = await image_from(request)
            pool.check_size(size)
            try:  # decoded off the event loop, before the queue: a bad file never waits for a worker
                image = await asyncio.to_thread(decode_upload, data, name, pool.max_pixels)
            except EdgeposeError as e:
                pool.bad_input()
                raise BadInput(str(e)) from None
            del data
            return await asyncio.wrap_future(pool.submit(image, name, size))
        except _TooLarge:
            return error(413, f"the image is larger than this service's limit of {max_bytes} bytes")
        except BadInput as e:
            return error(400, str(e))
        except QueueFull as e:
            return error(503, str(e), **{"Retry-After": "1"})
        except ClientDisconnect:  # nobody is left to read an answer
            return error(400, "the client went away before sending the whole image")

    return app
