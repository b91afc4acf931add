"""Load test for ``edgepose serve``: good photos mixed with bad files, at several concurrencies,
against a server on 127.0.0.1; then a soak of many requests with the server's memory (RSS) sampled.

    python -m edgepose.bench.serve_load --images DIR --model pose_int8.tflite \\
        --concurrency 1,2,4,8,16,32 --requests 300 --soak 10000 --json load.json

It starts the server itself (``edgepose serve`` in a subprocess on a free port of 127.0.0.1) unless
``--url`` names one already running on this machine; a remote URL is refused. Requests are bounded
in count and each run in time (``--max-seconds``). Prints Markdown tables: per concurrency the
throughput, p50/p99 latency of good photos and of bad files, and the responses by status code; for
the soak the RSS every ``--soak/10`` requests. Exits non-zero if any response was a 5xx other than
503 (queue full), a bad file got anything but 400/413, or the server died.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One request body: ``kind`` is "good" or the name of a bad-file kind."""

    kind: str
    name: str
    data: bytes


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width`` x ``height`` pixels."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def bad_files(photo: bytes, max_bytes: int, seed: int = 0) -> list[Sample]:
    """Bad uploads made from one good JPEG: empty, truncated, text, random bytes behind a JPEG
    header, a PNG that claims 100000x100000 pixels, and one byte over ``max_bytes``."""
    rng = random.Random(seed)
    junk = bytes(rng.getrandbits(8) for _ in range(4096))
    return [
        Sample("empty", "empty.jpg", b""),
        Sample("truncated", "truncated.jpg", photo[: len(photo) * 2 // 5]),
        Sample("text", "notes.txt", b"this is not an image\n" * 40),
        Sample("corrupt", "corrupt.jpg", photo[:200] + junk + b"\xff\xd9"),
        Sample("bomb", "bomb.png", png_bomb()),
        Sample("huge", "huge.jpg", b"\xff\xd8\xff" + os.urandom(max_bytes - 2)),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class RunResult:
    concurrency: int
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    good_ms: list[float] = field(default_factory=list)
    bad_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # client-side: connection errors, timeouts
    people: dict[str, set[int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


async def run_load(url: str, samples: list[Sample], total: int, concurrency: int, max_seconds: float,
                   timeout: float = 120.0, seed: int = 0, on_done=None) -> RunResult:
    """Sends ``total`` requests drawn in turn from ``samples`` with ``concurrency`` in flight."""
    import httpx

    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    result = RunResult(concurrency, 0.0)
    next_i = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        async def one_worker() -> None:
            nonlocal next_i
            while next_i < total and time.perf_counter() < deadline:
                s = samples[order[next_i % len(order)]]
                next_i += 1
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/poses", content=s.data,
                                          headers={"Content-Type": "application/octet-stream"})
                    status = r.status_code
                    body = r.json()
                except (httpx.TransportError, ValueError) as e:
                    result.errors[f"{type(e).__name__} ({s.kind})"] += 1
                    continue
                ms = (time.perf_counter() - t) * 1e3
                result.statuses[status] += 1
                result.by_kind.setdefault(s.kind, Counter())[status] += 1
                if s.kind == "good" and status == 200:
                    result.good_ms.append(ms)
                    result.people.setdefault(s.name, set()).add(len(body["people"]))
                elif s.kind != "good":
                    result.bad_ms.append(ms)
                if on_done is not None:
                    on_done()

        t0 = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - t0
    return result


def _pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.0f}" if values else "-"


def load_table(results: list[RunResult]) -> str:
    codes = sorted({c for r in results for c in r.statuses})
    head = ("| concurrency | requests | req/s | photos/s | p50 ms (photo) | p99 ms (photo) | p50 ms (bad) "
            "| p99 ms (bad) | " + " | ".join(str(c) for c in codes) + " | client errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        lines.append(
            f"| {r.concurrency} | {r.count} | {r.count / r.seconds:.1f} | {len(r.good_ms) / r.seconds:.1f} "
            f"| {_pct(r.good_ms, 50)} | {_pct(r.good_ms, 99)} | {_pct(r.bad_ms, 50)} | {_pct(r.bad_ms, 99)} | "
            + " | ".join(str(r.statuses.get(c, 0)) for c in codes) + f" | {sum(r.errors.values())} |")
    return "\n".join(lines)


def kinds_table(results: list[RunResult]) -> str:
    kinds: dict[str, Counter] = {}
    for r in results:
        for k, c in r.by_kind.items():
            kinds.setdefault(k, Counter()).update(c)
    lines = ["| input | responses by status |", "|---|---|"]
    for k, c in sorted(kinds.items()):
        lines.append(f"| {k} | " + ", ".join(f"{code}: {n}" for code, n in sorted(c.items())) + " |")
    return "\n".join(lines)


def problems(results: list[RunResult]) -> list[str]:
    """What breaks the service's promises: a 5xx other than 503, a bad file not answered 400/413,
    a photo whose people count changed between requests, a client-side connection error."""
    out = []
    for r in results:
        for code, n in r.statuses.items():
            if code >= 500 and code != 503:
                out.append(f"concurrency {r.concurrency}: {n} x {code}")
        for kind, c in r.by_kind.items():
            wrong = {code: n for code, n in c.items() if kind != "good" and code not in (400, 413)}
            if wrong:
                out.append(f"concurrency {r.concurrency}: bad file '{kind}' answered {wrong}")
        for name, counts in r.people.items():
            if len(counts) > 1:
                out.append(f"{name}: people per request varied: {sorted(counts)}")
        if r.errors:
            out.append(f"concurrency {r.concurrency}: client errors {dict(r.errors)}")
    return out


def start_server(args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "edgepose", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(args.workers), "--max-bytes", str(args.max_bytes)]
    for opt in ("model", "size", "threads", "queue"):
        if getattr(args, opt) is not None:
            cmd += [f"--{opt}", str(getattr(args, opt))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(url: str, proc: subprocess.Popen | None, seconds: float) -> None:
    import httpx

    end = time.time() + seconds
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"no healthy server at {url} after {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgepose.bench.serve_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of good photos (JPEG)")
    p.add_argument("--url", help="a running server on 127.0.0.1 (default: start one)")
    p.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    p.add_argument("--model", help="model for the started server (default: the pretrained Keras model)")
    p.add_argument("--size", help="--size for the started server")
    p.add_argument("--threads", type=int, help="--threads for the started server")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--queue", type=int, help="--queue for the started server (default: the server's)")
    p.add_argument("--max-bytes", type=int, default=2_000_000, help="the started server's --max-bytes (default: %(default)s)")
    p.add_argument("--concurrency", default="1,2,4,8,16,32", help="comma-separated (default: %(default)s)")
    p.add_argument("--requests", type=int, default=200, help="requests per concurrency level (default: %(default)s)")
    p.add_argument("--bad-every", type=int, default=3, help="one bad file per this many requests (default: %(default)s)")
    p.add_argument("--soak", type=int, default=0, help="then this many requests, memory sampled (e.g. 10000)")
    p.add_argument("--soak-concurrency", type=int, default=8)
    p.add_argument("--max-seconds", type=float, default=600, help="time bound of each run (default: %(default)s)")
    p.add_argument("--json", help="write all results here")
    args = p.parse_args(argv)

    photos = sorted(f for f in Path(args.images).iterdir() if f.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise SystemExit(f"{args.images}: no JPEG photos")
    good = [Sample("good", f.name, f.read_bytes()) for f in photos]
    bad = bad_files(good[0].data, args.max_bytes)
    # Good photos with one bad file every --bad-every requests, bad kinds in turn.
    samples: list[Sample] = []
    gi = bi = 0
    while gi < len(good):
        if len(samples) % args.bad_every == args.bad_every - 1:
            samples.append(bad[bi % len(bad)])
            bi += 1
        else:
            samples.append(good[gi])
            gi += 1
    while bi < len(bad):
        samples.append(bad[bi])
        bi += 1

    proc = None
    if args.url:
        host = urlparse(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"--url {args.url}: this load test only runs against a server on this machine")
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_server(args)
        pid = proc.pid
        print(f"started the server (pid {pid}) at {url}; waiting for it to load the model", file=sys.stderr)
    report: dict = {"url": url, "samples": len(samples), "bad_kinds": [b.kind for b in bad]}
    try:
        wait_healthy(url, proc, 900)
        import httpx

        report["model"] = httpx.get(f"{url}/v1/model").json()
        report["rss_mb_start"] = rss_mb(pid) if pid else None
        # Warm-up: one pass over the good photos, so the first level does not pay for first-call costs.
        asyncio.run(run_load(url, good, len(good), 1, args.max_seconds))
        results = []
        for c in (int(x) for x in args.concurrency.split(",")):
            r = asyncio.run(run_load(url, samples, args.requests, c, args.max_seconds, seed=c))
            results.append(r)
            print(f"concurrency {c}: {r.count} requests in {r.seconds:.1f} s, {dict(r.statuses)}", file=sys.stderr)
        print(load_table(results))
        print()
        print(kinds_table(results))
        report["load"] = [_as_json(r) for r in results]
        soak_rows = []
        if args.soak:
            from tqdm import tqdm

            samples_at = max(1, args.soak // 10)
            bar = tqdm(total=args.soak, desc="soak", unit="req", file=sys.stderr)
            done = 0

            def tick() -> None:
                nonlocal done
                done += 1
                bar.update()
                if pid and done % samples_at == 0:
                    soak_rows.append((done, rss_mb(pid)))

            rss0 = rss_mb(pid) if pid else float("nan")
            soak_rows.append((0, rss0))
            r = asyncio.run(run_load(url, samples, args.soak, args.soak_concurrency, args.max_seconds * 10,
                                     seed=99, on_done=tick))
            bar.close()
            results.append(r)
            print()
            print(f"soak: {r.count} requests at concurrency {args.soak_concurrency} in {r.seconds:.0f} s, "
                  f"{dict(r.statuses)}")
            print("| requests done | server RSS MB |\n|---|---|")
            for n, mb in soak_rows:
                print(f"| {n} | {mb:.0f} |")
            report["soak"] = {**_as_json(r), "rss_mb": soak_rows}
        health = httpx.get(f"{url}/health").json()
        report["health_after"] = health
        alive = proc is None or proc.poll() is None
        report["server_alive"] = alive
        trouble = problems(results) + ([] if alive else ["the server died"])
        if health.get("failed"):
            trouble.append(f"the server counted {health['failed']} failed jobs")
        report["problems"] = trouble
        print()
        print("problems: " + ("; ".join(trouble) if trouble else "none (no 5xx but 503, bad files all 400/413, "
                                                                    "server alive)"))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(args.json, json.dumps(report, indent=1))
    return 1 if report.get("problems") else 0


def _as_json(r: RunResult) -> dict:
    return {"concurrency": r.concurrency, "requests": r.count, "seconds": round(r.seconds, 2),
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            "by_kind": {k: {str(c): n for c, n in v.items()} for k, v in r.by_kind.items()},
            "p50_ms_photo": float(np.percentile(r.good_ms, 50)) if r.good_ms else None,
            "p99_ms_photo": float(np.percentile(r.good_ms, 99)) if r.good_ms else None,
            "client_errors": dict(r.errors),
            "people": {k: sorted(v) for k, v in r.people.items()}}


if __name__ == "__main__":
    sys.exit(main())
