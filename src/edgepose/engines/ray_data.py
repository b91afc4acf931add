"""The Ray engine: ``predict`` on Ray Data, the estimator in a pool of actors.

    inputs (driver) ──► ray.data.from_items([{index, item, stem}])
                    ──► map_batches(_Predictor, concurrency=workers, num_cpus=threads, batch_size=1)
                          each actor: one model load, then work.process() per input
                          (read, predict, JSON + render written by the actor into --output)
                    ──► driver: results in input order ──► COCO results, Parquet table, summary

Stems (output names) and the list of inputs are fixed on the driver, so the outputs are those of the
local engine; an actor skips an input whose JSON the same model already wrote (resume). On a
cluster, ``--output`` must be a folder every node sees (NFS, a mounted bucket), and the inputs
paths or URIs every node can read.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Callable

from edgepose.engines.inputs import Input
from edgepose.engines.local import stems_for
from edgepose.engines.work import Options, process
from edgepose.errors import EdgeposeError, require

#: Ray's shared-memory object store for a local cluster started here: the rows passed between
#: stages are small (paths and JSON), so the default (30 % of RAM) would only reserve memory.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
#: Logical CPUs the default worker count leaves to Ray Data's own scheduling. Measured here (40
#: photos, 2 vCPUs): two one-thread actors holding both of a 2-CPU cluster's CPUs ran at 1.8-2.1
#: photos/s, fewer than one actor (3.1-3.6); with a spare logical CPU, 3.9 (docs/engines.md).
RAY_DATA_CPUS = 1


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Joins the Ray cluster at ``address`` ("auto", "ray://host:10001", ...), or starts a local one
    with ``num_cpus`` logical CPUs (default: this machine's CPUs + 1, the one kept for Ray Data, see
    ``RAY_DATA_CPUS``) if none is running in this process.

    Returns True if this call connected (the caller then ends it with ``ray.shutdown()``), False
    if this process was connected already (e.g. by ``ray.init`` in a notebook or a test)."""
    ray = require("ray", "ray", "--engine ray")
    if ray.is_initialized():
        return False
    kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": False, "include_dashboard": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["logging_level"] = logging.ERROR  # a private cluster: its start-up notices are not the user's
        # Ray starts its workers at niceness 15; on a machine shared with other work that starves
        # the actors, so a local cluster runs them at the niceness of this process instead.
        os.environ.setdefault("RAY_worker_niceness", "0")
        # Local workers import the same edgepose as this process (also from a source checkout).
        src = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
        if num_cpus is None:
            num_cpus = (os.cpu_count() or 1) + RAY_DATA_CPUS
        kwargs.update(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                      runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise EdgeposeError(f"cannot {'join the Ray cluster at ' + address if address else 'start Ray'}: {e}") from None
    return True


def set_threads(threads: int | None, tensorflow: bool) -> dict:
    """Limits this process's inference threads; returns the backend options that do the rest.

    TensorFlow (keras, tensorflow backends: ``tensorflow=True``) is configured here, before the
    model loads; LiteRT takes ``threads`` as a load option; OpenVINO and ONNX Runtime run with
    their defaults.
    """
    if not threads:
        return {}
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if not tensorflow:
        return {"threads": threads}
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except (ImportError, RuntimeError):  # no TensorFlow, or it already ran: keep its threads
        pass
    return {"threads": threads}


class _Predictor:
    """One Ray actor: loads the estimator once, then processes one input per call."""

    def __init__(self, load_kwargs: dict, options: Options, threads: int | None) -> None:
        import edgepose
        from edgepose import quiet

        quiet.install()
        t0 = time.perf_counter()
        backend = load_kwargs.get("backend")
        model = str(load_kwargs.get("model") or "")
        uses_tf = backend in ("keras", "tensorflow") or (backend is None and not model.endswith((".tflite", ".xml", ".onnx")))
        opts = set_threads(threads, tensorflow=uses_tf)
        if opts and (backend == "litert" or (backend is None and model.endswith(".tflite"))):
            load_kwargs = {**load_kwargs, **opts}
        self.estimator = edgepose.load(**load_kwargs)
        self.described = self.estimator.describe()
        self.options = options
        self.load_s = time.perf_counter() - t0
        self.pid = os.getpid()

    def __call__(self, batch: dict) -> dict:
        out = []
        for index, item, stem in zip(batch["index"], batch["item"], batch["stem"]):
            t0, c0 = time.perf_counter(), time.process_time()
            result = process(self.estimator, str(item), str(stem), self.described, self.options)
            result.update(index=int(index), seconds=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
                          actor=self.pid,
                          actor_load_s=self.load_s,
                          actor_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            out.append(json.dumps(result))
        return {"result": out}


def run_ray(items: list[Input], load_kwargs: dict, options: Options, *, address: str | None = None,
            workers: int | None = None, threads: int | None = None, quiet: bool = False,
            on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Runs every input on a pool of ``workers`` actors (default: the cluster's CPUs but one, / ``threads``),
    each holding its own estimator with ``threads`` inference threads (default 1).

    load_kwargs: arguments of ``edgepose.load`` (model, backend, device, stages, size, augment).
    Returns ``work.process`` results in input order, each with the actor's pid, load time and peak
    memory (``actor_peak_rss_mb``) and the seconds (wall, ``seconds``; CPU, ``cpu_s``) it spent on the input. ``on_result`` is called
    with each result as it arrives (in completion order).
    """
    ray = require("ray", "ray", "--engine ray")
    started = connect(address)
    try:
        return _run(ray, items, load_kwargs, options, workers=workers, threads=threads or 1, quiet=quiet,
                    on_result=on_result)
    finally:
        if started:
            ray.shutdown()


def _run(ray, items: list[Input], load_kwargs: dict, options: Options, *, workers: int | None, threads: int,
         quiet: bool, on_result: Callable[[dict], None] | None) -> list[dict]:
    from tqdm import tqdm

    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = workers or max(1, (cpus - RAY_DATA_CPUS) // threads)
    if workers * threads > cpus:
        raise EdgeposeError(f"--workers {workers} x {threads} thread(s) needs {workers * threads} CPUs; "
                            f"the Ray cluster has {cpus}")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # edgepose draws its own bar over the results
    ctx.print_on_execution_start = False
    # Ray Data's notices ("progress bars disabled", "execution finished in ...") repeat what that bar
    # says; its errors still show.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    stems = stems_for(items)
    rows = [{"index": i, "item": str(item), "stem": stem} for i, (item, stem) in enumerate(zip(items, stems))]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 200)))
    ds = ds.map_batches(_Predictor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads,
                        fn_constructor_kwargs={"load_kwargs": load_kwargs, "options": options, "threads": threads})
    show_bar = len(rows) > 1 and not quiet
    results: list[dict] = []
    with tqdm(total=len(rows), desc=f"predict (ray, {workers} worker{'s' if workers > 1 else ''})", unit="file",
              disable=not show_bar, file=sys.stderr) as bar:
        for row in ds.iter_rows():
            result = json.loads(row["result"])
            results.append(result)
            if on_result is not None:
                on_result(result)
            bar.update(1)
            if result["message"] and not quiet:
                (bar.write if show_bar else print)(result["message"])
    results.sort(key=lambda r: r["index"])
    return results
