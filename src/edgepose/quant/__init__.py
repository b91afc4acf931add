"""Making pose networks survive reduced precision: full-integer int8 and float16 weights.

    from edgepose.quant import prepare_for_int8, prepare_for_fp16
    model8 = prepare_for_int8(model, config, calibration)   # then TFLite full-int8 / NNCF
    model16, info = prepare_for_fp16(model)                  # then float16 weights, any converter

Modules: ``graph`` (layer graph and rebuild), ``fold`` (1x1 depthwise folding), ``stats``
(per-channel activation ranges), ``equalize`` (range equalisation), ``prepare`` (the int8
recipe), ``fp16`` (depthwise rescaling for float16). The experiments that convert, run and compare
int8 models on the runtime backends live above runtime, in ``edgepose.bench.quant_harness`` and
``edgepose.bench.quant_report``; nothing in ``quant`` imports ``runtime``.
"""

from edgepose.quant.fp16 import prepare_for_fp16
from edgepose.quant.prepare import Preparation, prepare, prepare_for_int8

__all__ = ["Preparation", "prepare", "prepare_for_fp16", "prepare_for_int8"]
