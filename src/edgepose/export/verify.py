"""Checks of exported artifacts against the Keras model, run on the real runtime backends.

    heatmaps, pafs = run_artifact("m_int8.tflite", batch)   # float32 [N, h, w, 19], [N, h, w, 38]
    max_abs_diff(reference_maps, (heatmaps, pafs))
    people_matched(reference_maps, (heatmaps, pafs))        # same people, by OKS
"""

from __future__ import annotations

import os

import numpy as np

from edgepose.eval.oks import match_people

Maps = tuple[np.ndarray, np.ndarray]


def run_artifact(path: str | os.PathLike, batch: np.ndarray, **options) -> Maps:
    """Runs any artifact on the backend its suffix selects: float32 [N, H, W, 3] -> maps.

    int8 models quantise and dequantise inside their backend; OpenVINO fp32 runs at f32
    inference precision, so results are comparable to Keras's. ``options`` go to the backend
    (e.g. ``inference_precision="f32"`` to check an OpenVINO fp16 file without bf16 compute).
    """
    from edgepose.runtime import open_backend

    batch = np.asarray(batch, dtype=np.float32)
    return open_backend(path, **options).infer(batch[None] if batch.ndim == 3 else batch)


def max_abs_diff(a: Maps, b: Maps) -> tuple[float, float]:
    """(max |heatmaps diff|, max |pafs diff|) over all pixels and channels."""
    return float(np.max(np.abs(a[0] - b[0]))), float(np.max(np.abs(a[1] - b[1])))


def people_matched(reference: Maps, other: Maps, threshold: float = 0.9) -> tuple[int, int]:
    """Decodes both sets of maps [N, h, w, C] and counts the reference's people that ``other``
    finds with OKS >= ``threshold`` (one-to-one): (matched, reference people)."""
    from edgepose.decode import decode

    matched = total = 0
    for i in range(len(reference[0])):
        ref = [p.to_coco17() for p in decode(reference[0][i], reference[1][i])]
        out = [p.to_coco17() for p in decode(other[0][i], other[1][i])]
        best = match_people(ref, out)
        matched += sum(s >= threshold for s in best)
        total += len(ref)
    return matched, total
