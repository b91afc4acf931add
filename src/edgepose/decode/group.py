"""Assembly of accepted limbs into people, person scores and pruning."""

from __future__ import annotations

import numpy as np

from edgepose.decode.config import DecoderConfig
from edgepose.decode.limbs import Connections
from edgepose.decode.peaks import Peaks
from edgepose.pose import Pose
from edgepose.skeleton import Skeleton


def group_people(peaks: Peaks, conns: Connections, skeleton: Skeleton, config: DecoderConfig) -> list[Pose]:
    """Joins limbs that share a peak into people, in the skeleton's limb order.

    A limb whose ends belong to no one starts a person (except the helper limbs after
    ``skeleton.render_limbs``, which only join); a limb with one end in a person adds the other
    end if that person has no such part yet; a limb joining two people merges them if they
    have no part in common. Each peak belongs to at most one person.

    Returns at most ``config.max_people`` poses with keypoints in map pixels, best score first;
    score = mean of the person's part and limb scores.
    """
    k = skeleton.num_parts
    limbs = skeleton.limbs
    owner = np.full(len(peaks), -1, dtype=np.int64).tolist()  # person of each peak
    people: list[list[int]] = []  # per person: peak index per part, -1 if missing
    sums: list[float] = []  # per person: sum of part and limb scores
    counts: list[int] = []  # per person: number of parts plus limbs
    alive: list[bool] = []
    pscore = peaks.score.tolist()
    for ai, bi, s, li in zip(conns.a.tolist(), conns.b.tolist(), conns.score.tolist(), conns.limb.tolist()):
        part_a, part_b = limbs[li]
        oa, ob = owner[ai], owner[bi]
        if oa < 0 and ob < 0:
            if li >= skeleton.render_limbs:
                continue
            row = [-1] * k
            row[part_a], row[part_b] = ai, bi
            owner[ai] = owner[bi] = len(people)
            people.append(row)
            sums.append(pscore[ai] + pscore[bi] + s)
            counts.append(3)
            alive.append(True)
        elif oa < 0 or ob < 0:
            # One end already belongs to a person: the other end joins it if that part is free.
            o, part, idx = (oa, part_b, bi) if oa >= 0 else (ob, part_a, ai)
            if people[o][part] < 0:
                people[o][part] = idx
                owner[idx] = o
                sums[o] += pscore[idx] + s
                counts[o] += 2
        elif oa != ob:
            ra, rb = people[oa], people[ob]
            if all(x < 0 or y < 0 for x, y in zip(ra, rb)):
                # Merge person ob into oa: disjoint parts, joined by this limb.
                for p in range(k):
                    if rb[p] >= 0:
                        ra[p] = rb[p]
                        owner[rb[p]] = oa
                sums[oa] += sums[ob] + s
                counts[oa] += counts[ob] + 1
                alive[ob] = False
        else:
            # Both ends already in the same person (a closing helper limb): count its score.
            sums[oa] += s
            counts[oa] += 1
    poses = []
    for row, sm, cnt, ok in zip(people, sums, counts, alive):
        if not ok:
            continue
        idx = np.asarray(row)
        found = idx >= 0
        score = sm / cnt
        if found.sum() < config.min_parts or score < config.min_person_score:
            continue
        kp = np.zeros((k, 3), dtype=np.float32)
        kp[found, :2] = peaks.xy[idx[found]]
        kp[found, 2] = np.maximum(peaks.score[idx[found]], 1e-6)
        poses.append(Pose(kp, float(score), skeleton))
    poses.sort(key=lambda p: -p.score)
    return poses if config.max_people is None else poses[: config.max_people]
