"""The local engine: one process, one input after another (``edgepose predict``'s default)."""

from __future__ import annotations

import sys
from pathlib import Path

from edgepose.engines.inputs import Input, name_of
from edgepose.engines.records import unique_stem
from edgepose.engines.work import Options, process


def stems_for(items: list[Input]) -> list[str]:
    """Output stems of the inputs, in order (same-named inputs get _1, _2, ...)."""
    seen: set[str] = set()
    return [unique_stem(name_of(i) if not isinstance(i, Path) else i.name, seen) for i in items]


def run_local(estimator, items: list[Input], options: Options, *, cameras: list[str] = (), quiet: bool = False
              ) -> list[dict]:
    """Runs ``estimator`` on every input (and camera, until Ctrl-C), printing one line per input.

    Returns ``work.process`` results in input order, cameras last.
    """
    from tqdm import tqdm

    from edgepose.video import process_video

    all_items = [*items, *cameras]
    stems = stems_for(all_items)
    described = estimator.describe()
    out_dir = Path(options.out_dir)
    show_bar = len(all_items) > 1 and not quiet
    bar = tqdm(total=len(all_items), desc="predict", unit="file", disable=not show_bar, file=sys.stderr)
    results = []
    for item, stem in zip(all_items, stems):
        if item in cameras:
            result = _camera(estimator, item, stem, options, process_video)
        else:
            result = process(estimator, item, stem, described, options)
        results.append(result)
        bar.update(1)
        if result["message"] and not quiet:
            (bar.write if show_bar else print)(result["message"])
    bar.close()
    return results


def _camera(estimator, camera: str, stem: str, options: Options, process_video) -> dict:
    from edgepose.errors import EdgeposeError
    from edgepose.render import renderer

    out_dir = Path(options.out_dir)
    result = {"input": camera, "stem": stem, "status": "done", "error": None, "people": 0, "frames": 0,
              "rows": [], "coco": [], "message": ""}
    try:
        draw = renderer(options.render) if options.render else None
        s = process_video(estimator, camera, out_dir / f"{stem}.mp4", out_dir / f"{stem}.json",
                          render=draw is not None, progress=options.progress, draw=draw)
        result.update(people=s["people"], frames=s["frames"],
                      message=f"{camera}: {s['frames']} frames, {s['fps']:.1f} FPS -> {out_dir / stem}.mp4")
    except EdgeposeError as e:
        result.update(status="failed", error=str(e).removeprefix(f"{camera}: "))
    return result
