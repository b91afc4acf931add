"""Making pose networks survive full-integer (int8) quantisation.

    from edgepose.quant import prepare_for_int8
    model8 = prepare_for_int8(model, config, calibration)   # then TFLite full-int8 / NNCF

Modules: ``graph`` (layer graph and rebuild), ``fold`` (1x1 depthwise folding), ``stats``
(per-channel activation ranges), ``equalize`` (range equalisation), ``prepare`` (the recipe),
``harness`` (convert, run and compare int8 models; used by tests and ``report``).
"""

from edgepose.quant.prepare import Preparation, prepare, prepare_for_int8

__all__ = ["Preparation", "prepare", "prepare_for_int8"]
