"""Does a backend gain from micro-batching? Median ms per image at batch 1, 2 and 4, same input size.

    python -m edgepose.bench.batching [--model M] [--sizes 432x576,224x296] [--repeats 8]

Only models of free input size (Keras, SavedModel) take a batch; exported files are fixed to batch 1.
`edgepose serve` batches nothing: see docs/serve.md for the numbers that decided it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def measure(backend, hw: tuple[int, int], batches=(1, 2, 4), repeats: int = 8) -> dict[int, float]:
    """Median milliseconds per image of ``backend.infer`` on random input of size ``hw`` per batch size.
    Batch sizes are interleaved in each round so that a load spike hits all of them alike."""
    rng = np.random.default_rng(0)
    x = {n: rng.random((n, *hw, 3), dtype=np.float32) for n in batches}
    for n in batches:
        backend.infer(x[n])  # first call per shape: not timed
    times: dict[int, list[float]] = {n: [] for n in batches}
    for _ in range(repeats):
        for n in batches:
            t = time.perf_counter()
            backend.infer(x[n])
            times[n].append((time.perf_counter() - t) * 1e3 / n)
    return {n: float(np.median(v)) for n, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    import edgepose
    from edgepose.estimator import parse_fixed_size

    p = argparse.ArgumentParser(prog="python -m edgepose.bench.batching", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a .keras model or SavedModel (default: the pretrained model)")
    p.add_argument("--sizes", default="432x576,224x296")
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args(argv)
    backend = edgepose.load(args.model).backend
    if backend.input_size is not None:
        print(f"{args.model}: fixed to batch 1 inputs of {backend.input_size}; nothing to batch", file=sys.stderr)
        return 1
    print(f"| input | batch 1 ms/image | batch 2 ms/image | batch 4 ms/image | gain at 4 |\n|---|---|---|---|---|")
    for size in args.sizes.split(","):
        hw = parse_fixed_size(size)
        m = measure(backend, hw, repeats=args.repeats)
        print(f"| {hw[0]}x{hw[1]} | {m[1]:.1f} | {m[2]:.1f} | {m[4]:.1f} | {100 * (1 - m[4] / m[1]):+.0f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
