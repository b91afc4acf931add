"""The fixed tuning / evaluation split of the annotated photos this project has.

Every choice (decoder thresholds and caps, export size, calibration and quantisation recipe, training
steps) is made on the tuning part and reported on the evaluation part, so that a number in the docs is
never measured on the photos it was tuned on. The split is fixed here, by file name, for the 55 COCO
train2017 photos of ``coco_sample`` (drawn once by the parity of each name's sha256; the tuning part
has 27 photos with 80 annotated people, the evaluation part 28 photos with 59). The OCHuman photos are
evaluation-only. Calibration photos are neither: they are never evaluated on.

Any other annotation file (full COCO val2017, your own) is not split: ``part=None`` takes all of it.
"""

from __future__ import annotations

from typing import Iterable, Literal

Part = Literal["tuning", "evaluation", "tuning-a", "tuning-b"]

TUNING: tuple[str, ...] = (
    "000000000790.jpg", "000000037666.jpg", "000000063217.jpg", "000000085795.jpg", "000000093620.jpg",
    "000000129648.jpg", "000000145311.jpg", "000000147961.jpg", "000000174375.jpg", "000000178236.jpg",
    "000000183872.jpg", "000000211325.jpg", "000000214704.jpg", "000000227000.jpg", "000000231460.jpg",
    "000000232357.jpg", "000000252639.jpg", "000000260906.jpg", "000000322517.jpg", "000000418049.jpg",
    "000000444294.jpg", "000000451944.jpg", "000000455040.jpg", "000000489520.jpg", "000000531286.jpg",
    "000000535506.jpg", "000000544238.jpg",
)

EVALUATION: tuple[str, ...] = (
    "000000030752.jpg", "000000033601.jpg", "000000034246.jpg", "000000069468.jpg", "000000078381.jpg",
    "000000084533.jpg", "000000099293.jpg", "000000100667.jpg", "000000113488.jpg", "000000122469.jpg",
    "000000123457.jpg", "000000125870.jpg", "000000151408.jpg", "000000188388.jpg", "000000211891.jpg",
    "000000231857.jpg", "000000234748.jpg", "000000253686.jpg", "000000256353.jpg", "000000370162.jpg",
    "000000433998.jpg", "000000442450.jpg", "000000463557.jpg", "000000466137.jpg", "000000466547.jpg",
    "000000488571.jpg", "000000538113.jpg", "000000551757.jpg",
    # OCHuman (crowded, occluded): evaluation only
    "000817.jpg", "003799.jpg", "003896.jpg",
)

# Two folds of the tuning part's 20 photos with labelled people (sorted names, alternately), for
# choosing training settings by 2-fold cross-validation inside the tuning part: train on one, judge
# on the other (docs/training.md section 2). The 7 tuning photos without people are in neither.
TUNING_A: tuple[str, ...] = (
    "000000000790.jpg", "000000085795.jpg", "000000129648.jpg", "000000178236.jpg", "000000211325.jpg",
    "000000227000.jpg", "000000322517.jpg", "000000444294.jpg", "000000489520.jpg", "000000535506.jpg",
)
TUNING_B: tuple[str, ...] = (
    "000000037666.jpg", "000000093620.jpg", "000000174375.jpg", "000000183872.jpg", "000000214704.jpg",
    "000000260906.jpg", "000000418049.jpg", "000000451944.jpg", "000000531286.jpg", "000000544238.jpg",
)

PARTS: dict[str, tuple[str, ...]] = {"tuning": TUNING, "evaluation": EVALUATION}
FOLDS: dict[str, tuple[str, ...]] = {"tuning-a": TUNING_A, "tuning-b": TUNING_B}
#: every part name a tool's ``--part`` accepts (``"all"`` is each tool's own "no restriction")
PART_NAMES: tuple[str, ...] = (*PARTS, *FOLDS)


def files_of(part: Part | None) -> frozenset[str] | None:
    """The file names of one part, or None (no restriction) for ``part=None``."""
    if part is None:
        return None
    known = {**PARTS, **FOLDS}
    if part not in known:
        raise ValueError(f"unknown split part {part!r}; choose one of {', '.join(known)}")
    return frozenset(known[part])


def select(file_names: Iterable[str], part: Part | None) -> list[str]:
    """The names among ``file_names`` (base names) that belong to ``part`` (all of them for None)."""
    keep = files_of(part)
    return [f for f in file_names if keep is None or f in keep]
