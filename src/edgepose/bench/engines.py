"""Scaling of ``predict --engine ray``: images/s with 1..N actors, memory per actor, where time goes.

    python -m edgepose.bench.engines --images DIR --workers 1 2 [--limit 40] [--json out.json]

One local Ray cluster (this machine's CPUs) serves every row; each row starts a fresh actor pool
(one model load per actor) and processes the photos into a fresh output folder (JSON + overlay
render, as ``predict`` does). Columns: wall = first input submitted to last result; first = to
the first result (cluster job start + model load + one photo); img/s = steady rate after the first
result, (n - 1) / (last - first); CPU s/img = median CPU time of the actor's process per photo
(all its threads; much less disturbed by other work than wall time); load = model load per actor;
RSS = peak memory per actor; then the median ms per photo of each step inside an actor. The local engine (one process, TensorFlow's
default threads) is the reference row. Timings on a shared machine: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

STEPS = ("read", "preprocess", "infer", "decode", "write")


def _row(name: str, results: list[dict], arrivals: list[float], t0: float) -> dict:
    n = len(results)
    first, last = min(arrivals), max(arrivals)
    actors = {r["actor"]: r for r in results if "actor" in r}
    row = {"engine": name, "images": n, "wall_s": round(last - t0, 2), "first_s": round(first - t0, 2),
           "img_per_s": round((n - 1) / (last - first), 3) if n > 1 and last > first else None,
           "actors": len(actors) or None,
           "load_s": round(float(np.mean([a["actor_load_s"] for a in actors.values()])), 2) if actors else None,
           "rss_mb": round(max(a["actor_peak_rss_mb"] for a in actors.values())) if actors else None}
    cpu = [r["cpu_s"] for r in results if "cpu_s" in r]
    row["cpu_s_per_img"] = round(float(np.median(cpu)), 3) if cpu else None
    for step in STEPS:
        row[f"{step}_ms"] = round(float(np.median([r["timings_ms"][step] for r in results if "timings_ms" in r])), 1)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of photos")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="inference threads per actor, one row each "
                   "(combined with every --workers value whose product fits the CPUs)")
    p.add_argument("--limit", type=int, default=40, help="photos used (default %(default)s)")
    p.add_argument("--no-local", action="store_true", help="skip the local-engine reference row")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)

    import ray

    from edgepose.engines.inputs import expand
    from edgepose.engines.ray_data import connect, run_ray
    from edgepose.engines.work import Options

    items, _ = expand([args.images])
    items = items[: args.limit]
    rows = []
    connect()
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        for workers, threads in [(w, t) for t in args.threads for w in args.workers if w * t <= cpus]:
            with tempfile.TemporaryDirectory(prefix="edgepose-bench-") as out:
                arrivals: list[float] = []
                t0 = time.perf_counter()
                results = run_ray(items, {}, Options(out), workers=workers, threads=threads, quiet=True,
                                  on_result=lambda r: arrivals.append(time.perf_counter()))
                rows.append(_row(f"ray, {workers} x {threads} thread", results, arrivals, t0))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
    if not args.no_local:
        import edgepose
        from edgepose.engines.local import run_local

        t0 = time.perf_counter()
        est = edgepose.load()
        load_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="edgepose-bench-") as out:
            arrivals = []
            t1 = time.perf_counter()
            results = []
            for item in items:  # one at a time, to take each arrival and CPU time
                c0 = time.process_time()
                results += run_local(est, [item], Options(out), quiet=True)
                results[-1]["cpu_s"] = time.process_time() - c0
                arrivals.append(time.perf_counter())
            row = _row("local, 1 process", results, arrivals, t1)
            import resource

            row.update(load_s=round(load_s, 2), rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print("| engine | images | wall s | first s | img/s | CPU s/img | model load s | peak RSS MB | "
          + " | ".join(f"{s} ms" for s in STEPS) + " |")
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(STEPS))
    for r in rows:
        print(f"| {r['engine']} | {r['images']} | {r['wall_s']} | {r['first_s']} | {r['img_per_s']} | {r['cpu_s_per_img']} | "
              f"{r['load_s']} | {r['rss_mb']} | " + " | ".join(str(r[f'{s}_ms']) for s in STEPS) + " |")
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(args.json, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
