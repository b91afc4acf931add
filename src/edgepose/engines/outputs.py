"""The end of a ``predict`` run, whatever the engine: COCO results, the Parquet table, the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgepose.errors import require

#: The Parquet table's columns: one row per person found.
PARQUET_COLUMNS = ("input", "frame", "person", "score", "keypoints", "track_id")


def write_parquet(path: str | Path, results: list[dict]) -> int:
    """One row per person of every input (input, frame, person, score, keypoints: 54 float32 as
    x, y, confidence of each of the 18 parts in pixels; track_id: null unless tracked); written
    atomically. Returns the row count."""
    pa = require("pyarrow", "ray", "the Parquet table of people")
    import pyarrow.parquet as pq

    from edgepose.io_utils import atomic_path

    rows = [r for res in results for r in res["rows"]]
    schema = pa.schema([("input", pa.string()), ("frame", pa.int32()), ("person", pa.int32()),
                        ("score", pa.float32()), ("keypoints", pa.list_(pa.float32())), ("track_id", pa.int32())])
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return len(rows)


def finish(results: list[dict], failed: list[tuple[str, str]], out_dir: Path, *, coco_results: str | None,
           parquet: str | None, total: int) -> int:
    """Writes COCO results and the Parquet table, prints the summary and failures; the exit code.

    results: ``work.process`` results in input order. failed: (argument, problem) for inputs that
    could not even be listed. total: how many inputs were run (cameras included).
    """
    from edgepose.io_utils import write_atomic

    failed = [*failed, *((r["input"], r["error"]) for r in results if r["status"] == "failed"),
              *(tuple(f) for r in results for f in r.get("failed_files", []))]
    if coco_results:
        write_atomic(coco_results, json.dumps([c for r in results for c in r["coco"]]))
    if parquet:
        write_parquet(parquet, results)
    skipped = sum(r["status"] == "skipped" for r in results)
    ok = sum(r["status"] != "failed" for r in results)
    people = sum(r["people"] for r in results)
    if skipped:
        print(f"{skipped} input(s) skipped: done by the same model in an earlier run (--overwrite redoes them)")
    where = "".join(f"; {what} in {f}" for what, f in (("COCO results", coco_results), ("people table", parquet)) if f)
    print(f"{ok} of {total} inputs done, {'1 person' if people == 1 else f'{people} people'} found; "
          f"results in {out_dir}/{where}")
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for item, why in failed:
            print(f"  {item}: {why}", file=sys.stderr)
        return 1
    return 0
