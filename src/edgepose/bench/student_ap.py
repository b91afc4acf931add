"""Where the int8 network loses AP: the untrained fake-quant student, taken apart in TensorFlow.

    python -m edgepose.bench.student_ap --calibration ../shared/data/calibration \\
        --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --part tuning --what split

Builds the student as ``export(..., qat_steps=0)`` does (fold + equalise [+ GPTQ], calibration
ranges) and prints COCO AP (int8 decoder settings) as JSON lines, one per variant:

- ``split``: weights and activations quantised or float, with and without GPTQ, and the fp32 model;
- ``groups``: one group of activation fake-quants (backbone, stage k, the outputs) back in float;
- ``ranges``: the student built with each of ``calibration_ranges``'s rules (min / max, mse).

A diagnostic: switching quantisers off replaces the student's quantisers for this process only.
Choose with ``--part tuning``; docs/int8.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgepose.eval.split import PART_NAMES

SWITCH = {"acts": True, "weights": True, "off": frozenset()}


def _install_switches() -> None:
    """Lets SWITCH turn the student's quantisers into identities (read when a function is traced)."""
    from edgepose.quant import fakequant as fq

    act_call, kernel_fq = fq.ActQuant.call, fq._fq_kernel

    def call(self, x):
        if self.name == fq.INPUT_FQ or (SWITCH["acts"] and self.name not in SWITCH["off"]):
            return act_call(self, x)
        return x

    fq.ActQuant.call = call
    fq._fq_kernel = lambda k, depthwise: kernel_fq(k, depthwise) if SWITCH["weights"] else k


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="432x576")
    p.add_argument("--calibration", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--part", default="tuning", choices=PART_NAMES)
    p.add_argument("--what", default="split", choices=("split", "groups", "ranges"))
    args = p.parse_args(argv)

    from edgepose.estimator import PoseEstimator, parse_fixed_size
    from edgepose.eval import validate
    from edgepose.export import ExportSource
    from edgepose.quant import fakequant as fq
    from edgepose.runtime.keras_backend import KerasBackend

    _install_switches()
    size = parse_fixed_size(args.size)

    def score(model, config, **row) -> None:
        res = validate(PoseEstimator(KerasBackend(model, config)), args.images, args.annotations,
                       progress=False, part=args.part)
        print(json.dumps({**row, f"AP_{args.part}": round(100 * res["metrics"]["AP"], 2)}), flush=True)

    for gptq in ((False, True) if args.what == "split" else (True,)):
        with ExportSource(None, size=size, calibration=Path(args.calibration), qat_steps=0,
                          qat_options={"gptq": gptq}) as src:
            int8 = src.config.replace(precision="int8")  # the int8 decoder settings
            if args.what == "ranges":  # one float network; a student per rule (its own dead channels, biases)
                crops = fq.stat_crops(src.calibration_data())
                net = fq.with_input_size(_float_of(src, crops), size)
                for rule in ("minmax", "mse"):
                    ruled, _ = fq.train_qat(net, crops, src.calibration_data(), steps=0, range_rule=rule)
                    score(ruled, int8, ranges=rule)
                continue
            student, _ = src.prepared("int8")
            acts = [layer.name for layer in student.layers
                    if isinstance(layer, fq.ActQuant) and layer.name != fq.INPUT_FQ]
            if args.what == "split":
                if not gptq:
                    score(src.model, int8, variant="fp32 model")
                for a, w in ((False, False), (False, True), (True, False), (True, True)):
                    SWITCH.update(acts=a, weights=w)
                    score(student, int8, gptq=gptq, weights="int8" if w else "float",
                          activations="int8" if a else "float")
            else:
                groups = {"none": [], "backbone": [n for n in acts if n.startswith(("Conv2d_", "feat"))],
                          **{f"stage {k}": [n for n in acts if f"Stage{k}_" in n] for k in range(1, 7)},
                          "outputs": [n for n in acts if "_5_pointwise" in n and n.startswith(
                              f"MConv_Stage{src.config.stages}_")]}
                for name, off in groups.items():
                    SWITCH["off"] = frozenset(off)
                    score(student, int8, in_float=name, quantisers=len(off))
    return 0


def _float_of(src, crops):
    """The float network the student is made from: fold + equalise + GPTQ at the crops' size, as
    ``ExportSource`` prepares it for QAT."""
    from edgepose import quant
    from edgepose.quant import fakequant as fq

    return quant.prepare(fq.with_input_size(src.model, crops.shape[1:3]), src.config, crops, gptq=True).model


if __name__ == "__main__":
    raise SystemExit(main())
