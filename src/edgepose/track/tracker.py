"""Person IDs across frames: keypoint similarity + motion prediction + optimal assignment.

Each frame, every live track predicts where its keypoints are now (its last keypoints moved by its
velocity times the frames since it was seen), the predicted people are compared with the frame's
people by an OKS-like keypoint similarity, and the best one-to-one assignment is found
(``scipy.optimize.linear_sum_assignment``). A person matched to no track starts a new one; a track
matched to no person is kept, still moving with its velocity, for ``buffer`` frames, so a person
who is hidden for a moment (occlusion, a blank frame, a missed detection) gets the same ID back.
Two mends for the decoder's grouping mistakes: the tracks of one person decoded as fragments are
joined (``_join_fragments``), and a pose glued from two tracked people is split (``_split``).

    tracker = Tracker(buffer=30, smooth=True)
    for t, poses in enumerate(per_frame_poses):
        tracked = tracker.update(poses, time_s=t / fps)   # same people, with track_id (+ smoothed)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from edgepose.errors import require
from edgepose.pose import Pose
from edgepose.skeleton import COCO17_FROM_COCO18, COCO18, Skeleton
from edgepose.track.smooth import OneEuroParams, one_euro_step

# COCO's per-keypoint OKS constants (eval.oks.COCO_SIGMAS), put in COCO-18 order; the neck, which
# COCO has not, gets the shoulders' value.
_COCO17_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                           1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0
COCO18_SIGMAS = np.full(COCO18.num_parts, 0.079)
COCO18_SIGMAS[list(COCO17_FROM_COCO18)] = _COCO17_SIGMAS

#: smallest person size (pixels) used in the similarity, so a two-keypoint person is not a point
MIN_SIZE = 16.0


@dataclass(frozen=True)
class TrackerParams:
    """How people are matched across frames (defaults chosen on the tuning clips, docs/tracking.md).

    buffer: frames a track is kept after it was last matched (then its ID is retired).
    min_similarity: a track and a person with a lower similarity (0..1) are never matched.
    tolerance: multiplies COCO's OKS keypoint constants: similarity falls to e^-0.5 at a
        distance of ``2 * tolerance * sigma_k * size`` (size = sqrt of the box area).
    min_common: a track and a person must share at least this many keypoints to be compared.
    fps: frame rate assumed for the smoother when ``update`` is given no ``time_s``.
    motion: predict each track's keypoints by its velocity (False: where they were last seen).
    coast: a lost track moves with its velocity for at most this many frames, then waits where
        it got to (a velocity from a few frames, extrapolated further, lands on strangers).
    fragments: join the tracks of one person the decoder split into fragments (``_join_fragments``):
        tracks seen in the previous frame sharing at most ``fragment_overlap`` keypoint types,
        which one pose now fits, become the oldest of them.
    split: split a pose the decoder glued from two tracked people (``_split``): the keypoints
        another track fits (>= ``min_piece`` of them) go to that track, if it was seen in the
        previous frame (``split_recent``; False: any live track) and is matched to nothing now.
    keypoint_gate: a keypoint "fits" a track when its term of the similarity is at least this
        (0.5: within ~1.2 ``tolerance``-widened OKS sigmas of the predicted keypoint).
    """

    buffer: int = 30
    min_similarity: float = 0.1
    tolerance: float = 2.0
    min_common: int = 2
    fps: float = 25.0
    motion: bool = True
    fragments: bool = True
    fragment_overlap: int = 1
    split: bool = True
    min_piece: int = 3
    split_recent: bool = True
    coast: int = 8
    keypoint_gate: float = 0.5

    def __post_init__(self) -> None:
        if self.coast < 1:
            raise ValueError(f"coast must be >= 1 frame, got {self.coast}")
        if self.buffer < 0:
            raise ValueError(f"the track buffer must be >= 0 frames, got {self.buffer}")
        if not 0.0 < self.min_similarity < 1.0 or self.tolerance <= 0 or self.fps <= 0:
            raise ValueError(f"bad tracker parameters: {self}")


def _sizes(xy: np.ndarray, found: np.ndarray) -> np.ndarray:
    """float [N]: sqrt of the area of each person's keypoint box (>= MIN_SIZE); xy [N, K, 2], found [N, K]."""
    big = np.where(found[..., None], xy, np.inf)
    small = np.where(found[..., None], xy, -np.inf)
    wh = small.max(1) - big.min(1)                                   # [N, 2]
    area = np.where(found.sum(1) >= 2, wh[:, 0] * wh[:, 1], 0.0)
    return np.maximum(np.sqrt(np.maximum(area, 0.0)), MIN_SIZE)


class Tracker:
    """Gives each person a ``track_id`` that stays the same from frame to frame.

    buffer: frames a lost person's ID is kept (``--track-buffer``; default ``params.buffer``, 30).
    smooth: also run a One Euro filter on each track's keypoints (``--smooth``; ``one_euro`` sets
    its parameters). Call ``update`` once per frame, in order; it returns the frame's poses with
    ``track_id`` set (and keypoints smoothed if asked), in the order given.

    The live tracks are kept as arrays (one row per track), so a frame costs a few dozen numpy
    operations whatever the number of people.
    """

    def __init__(self, buffer: int | None = None, *, smooth: bool = False, one_euro: OneEuroParams | None = None,
                 params: TrackerParams | None = None, skeleton: Skeleton = COCO18) -> None:
        self._lsa = require("scipy.optimize", "track", "tracking").linear_sum_assignment
        self.params = params or TrackerParams()
        if buffer is not None:
            self.params = dataclasses.replace(self.params, buffer=buffer)
        self.smooth = smooth
        self.one_euro = one_euro or OneEuroParams()
        self.skeleton = skeleton
        sigmas = COCO18_SIGMAS if skeleton.num_parts == COCO18.num_parts else np.full(skeleton.num_parts, 0.079)
        self._kappa2 = (2.0 * sigmas * self.params.tolerance) ** 2
        self.reset()

    def describe(self) -> dict:
        """The settings, for the video JSON."""
        out: dict = {"buffer": self.params.buffer, "min_similarity": self.params.min_similarity,
                     "tolerance": self.params.tolerance, "motion": self.params.motion,
                     "coast": self.params.coast, "fragments": self.params.fragments, "split": self.params.split,
                     "smooth": self.smooth}
        if self.smooth:
            out["one_euro"] = dataclasses.asdict(self.one_euro)
        return out

    def reset(self) -> None:
        """Forgets every track (IDs start again from 1)."""
        k = self.skeleton.num_parts
        self.frame, self.next_id = -1, 1
        self.ids = np.zeros(0, np.int64)
        self.xy = np.zeros((0, k, 2))             # each keypoint's position at the frame last matched
        self.known = np.zeros((0, k), bool)       # keypoints ever seen
        self.last_found = np.zeros((0, k), bool)  # keypoints found at the frame last matched
        self.size = np.zeros(0)                   # sqrt of the keypoint box area, pixels
        self.last = np.zeros(0, np.int64)         # frame index last matched
        self.velocity = np.zeros((0, 2))          # pixels per frame
        self.hits = np.zeros(0, np.int64)
        self.sx = np.zeros((0, k, 2))             # smoother state (see smooth.one_euro_step)
        self.sdx = np.zeros((0, k, 2))
        self.st = np.zeros((0, k))

    @property
    def num_tracks(self) -> int:
        """Tracks alive (seen within the last ``buffer`` frames)."""
        return len(self.ids)

    def similarity(self, det: np.ndarray, found: np.ndarray, dsize: np.ndarray) -> np.ndarray:
        """float [tracks, people] in 0..1: OKS-like similarity of each live track's predicted
        keypoints (at the next frame) with each person; 0 where they share < min_common keypoints.

        det: float [D, K, 2] keypoints in pixels; found: bool [D, K]; dsize: float [D] pixels.
        """
        return self._compare(det, found, dsize)[0]

    def _compare(self, det: np.ndarray, found: np.ndarray, dsize: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``similarity`` [T, D] and each keypoint's term [T, D, K] (exp(-e) where both have the
        keypoint, 0 elsewhere)."""
        nt, nd, k = len(self.ids), len(det), self.skeleton.num_parts
        if nt == 0 or nd == 0:
            return np.zeros((nt, nd)), np.zeros((nt, nd, k))
        gap = np.minimum(self.frame + 1 - self.last, self.params.coast)[:, None, None]
        pred = self.xy + self.velocity[:, None] * gap                                  # [T, K, 2]
        common = self.known[:, None] & found[None]                                     # [T, D, K]
        d2 = ((pred[:, None] - det[None]) ** 2).sum(-1)
        area = (self.size[:, None] ** 2 + dsize[None] ** 2) / 2.0                        # [T, D]
        e = d2 / (2.0 * area[..., None] * self._kappa2)
        terms = np.exp(-e) * common
        # out of the keypoints either shows now: a partial track must not outbid the whole one
        denom = np.maximum(np.maximum(self.last_found.sum(1)[:, None], found.sum(1)[None]), 1)
        sim = terms.sum(-1) / denom
        return np.where(common.sum(-1) >= self.params.min_common, sim, 0.0), terms

    def update(self, poses: list[Pose], time_s: float | None = None) -> list[Pose]:
        """The next frame's people -> the same people with ``track_id`` (and smoothed keypoints).

        poses: this frame's poses (keypoints in pixels). time_s: the frame's time in seconds
        (default: frame index / params.fps); the smoother uses it, matching counts frames.
        Returns them in the order given; a pose the decoder glued from two tracked people
        (``params.split``) comes back as two, the second piece appended after the others.
        """
        k = self.skeleton.num_parts
        n = len(poses)
        kps = np.stack([p.keypoints for p in poses]) if n else np.zeros((0, k, 3), np.float32)
        det = kps[..., :2].astype(np.float64)
        found = kps[..., 2] > 0
        dsize = _sizes(det, found)
        sim, terms = self._compare(det, found, dsize)
        self.frame += 1
        f = self.frame
        t_now = f / self.params.fps if time_s is None else float(time_s)
        row = np.full(n, -1)                      # each person's track row
        src = np.arange(n)                        # each person's pose in ``poses``
        if sim.size:
            r, c = self._lsa(-sim)
            ok = sim[r, c] >= self.params.min_similarity
            row[c[ok]] = r[ok]
            if self.params.fragments:
                self._join_fragments(row, sim, det, found, dsize, f)
            if self.params.split:
                row, src, found, dsize = self._split(row, src, terms, det, found, dsize)
                if len(src) > n:
                    det = det[src]
        matched = row >= 0
        if matched.any():
            self._advance(row[matched], det[matched], found[matched], dsize[matched], f)
        new = np.flatnonzero(~matched)
        if len(new):
            row[new] = self._start(det[new], found[new], dsize[new], f)
        out_xy = det
        if self.smooth and len(row):
            st = (self.sx[row], self.sdx[row], self.st[row])
            out_xy = one_euro_step(*st, det, found, t_now, self.size[row], self.one_euro)
            self.sx[row], self.sdx[row], self.st[row] = st
        ids = self.ids[row]
        out = []
        for i, j in enumerate(src.tolist()):
            pose = poses[j]
            kp = pose.keypoints
            if self.smooth or len(src) > n:
                kp = kp.copy()
                kp[:, :2] = np.where(found[i][:, None], out_xy[i], kp[:, :2])
                kp[~found[i]] = 0.0
            out.append(Pose(kp, pose.score, pose.skeleton, track_id=int(ids[i])))
        keep = f - self.last <= self.params.buffer
        if not keep.all():
            self._select(keep)
        return out

    def _join_fragments(self, row: np.ndarray, sim: np.ndarray, det: np.ndarray, found: np.ndarray,
                        dsize: np.ndarray, f: int) -> None:
        """One person the decoder split into fragments, each with its own track: when this frame's
        pose fits two or more tracks that were all seen in the previous frame on (almost) disjoint
        keypoint types (<= ``fragment_overlap`` in common) and whose predicted keypoints all lie in
        the pose's box (widened by a quarter of its size), they were one person. The pose takes
        the oldest ID; the others retire. Changes ``row`` (each pose's track row) in place."""
        d_m = np.flatnonzero(row >= 0)
        t_m = row[d_m]
        recent = self.last == f - 1
        free = recent.copy()
        free[t_m] = False
        if not free.any():
            return
        overlap = (self.last_found[t_m][:, None] & self.last_found[None]).sum(-1)        # [M, T]
        cand = (free[None] & recent[t_m][:, None] & (sim[:, d_m].T >= self.params.min_similarity)
                & (overlap <= self.params.fragment_overlap))
        for m in np.flatnonzero(cand.any(1)):
            group = np.append(np.flatnonzero(cand[m] & free), t_m[m])
            d = d_m[m]
            pts = det[d, found[d]]
            lo, hi = pts.min(0) - dsize[d] / 4, pts.max(0) + dsize[d] / 4
            pred = self.xy[group] + self.velocity[group][:, None]                       # [G, K, 2]
            inside = (((pred >= lo) & (pred <= hi)).all(-1) | ~self.last_found[group]).all(-1)
            group = group[inside]
            if len(group) < 2 or t_m[m] not in group:
                continue
            keep = group[np.argmin(self.ids[group])]
            row[d] = keep
            free[group] = False
            self.last[group[group != keep]] = -(self.params.buffer + 1)   # retired below

    def _split(self, row: np.ndarray, src: np.ndarray, terms: np.ndarray, det: np.ndarray, found: np.ndarray,
               dsize: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Two people the decoder glued into one pose: the pose's track T fits some of its
        keypoints and not others, and another track U (seen in the previous frame, matched to no
        pose now, not a fragment of T) fits >= min_piece of the others, at least one of which T
        also has (far from where T predicts it). Those
        keypoints become a pose of their own, matched to U. Returns row, src, found and dsize with
        one more entry per piece (``src`` names the pose each came from)."""
        d_m = np.flatnonzero(row >= 0)
        t_m = row[d_m]
        free = self.last == self.frame - 1 if self.params.split_recent else self.last >= 0
        free[t_m] = False
        if not free.any() or not len(d_m):
            return row, src, found, dsize
        near = terms[:, d_m] >= self.params.keypoint_gate                               # [T, M, K]
        fits_t = near[t_m, np.arange(len(d_m))]                                           # [M, K]
        claim = near & ~fits_t[None] & free[:, None, None]
        conflict = (claim & self.known[t_m][None]).any(-1)                                # [T, M]
        # two people: U and T are not fragments of one person (_join_fragments)
        apart = (self.known[:, None] & self.known[t_m][None]).sum(-1) > self.params.fragment_overlap  # [T, M]
        ok = ((claim.sum(-1) >= max(self.params.min_common, self.params.min_piece)) & conflict & apart
              & (fits_t.sum(-1) >= self.params.min_common)[None])
        if not ok.any():
            return row, src, found, dsize
        found = found.copy()
        rows, srcs, founds = [row], [src], [found]
        for m in np.flatnonzero(ok.any(0)):
            us = np.flatnonzero(ok[:, m] & free)
            if not len(us):
                continue
            u = us[np.argmax((terms[us, d_m[m]] * claim[us, m]).sum(-1))]
            take = claim[u, m]
            found[d_m[m]] &= ~take
            rows.append(np.array([u]))
            srcs.append(src[d_m[m]][None])
            founds.append(take[None])
            free[u] = False
        found = np.concatenate(founds)
        src = np.concatenate(srcs)
        return np.concatenate(rows), src, found, _sizes(det[src], found)

    def _advance(self, r: np.ndarray, det: np.ndarray, found: np.ndarray, dsize: np.ndarray, f: int) -> None:
        """Tracks at rows ``r`` take their matched people's keypoints."""
        gap = (f - self.last[r])[:, None]
        both = found & self.last_found[r]
        cnt = both.sum(1)
        if self.params.motion:
            step = ((det - self.xy[r]) * both[..., None]).sum(1) / np.maximum(cnt, 1)[:, None] / gap
            vel = np.where((self.hits[r] == 1)[:, None], step, 0.5 * self.velocity[r] + 0.5 * step)
            self.velocity[r] = np.where((cnt > 0)[:, None], vel, self.velocity[r])
        # keypoints not found now keep moving with the track; found ones take their new place
        moved = self.velocity[r][:, None] * np.minimum(gap, self.params.coast)[..., None]
        self.xy[r] = np.where(found[..., None], det, self.xy[r] + moved)
        self.known[r] |= found
        self.last_found[r] = found
        self.size[r] = np.where(found.sum(1) >= 2, dsize, self.size[r])
        self.last[r] = f
        self.hits[r] += 1

    def _start(self, det: np.ndarray, found: np.ndarray, dsize: np.ndarray, f: int) -> np.ndarray:
        """New tracks for unmatched people; returns their rows."""
        m, k = len(det), self.skeleton.num_parts
        first = len(self.ids)
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + m)])
        self.next_id += m
        self.xy = np.concatenate([self.xy, det])
        self.known = np.concatenate([self.known, found])
        self.last_found = np.concatenate([self.last_found, found])
        self.size = np.concatenate([self.size, dsize])
        self.last = np.concatenate([self.last, np.full(m, f)])
        self.velocity = np.concatenate([self.velocity, np.zeros((m, 2))])
        self.hits = np.concatenate([self.hits, np.ones(m, np.int64)])
        self.sx = np.concatenate([self.sx, np.zeros((m, k, 2))])
        self.sdx = np.concatenate([self.sdx, np.zeros((m, k, 2))])
        self.st = np.concatenate([self.st, np.full((m, k), -np.inf)])
        return np.arange(first, first + m)

    def _select(self, keep: np.ndarray) -> None:
        for name in ("ids", "xy", "known", "last_found", "size", "last", "velocity", "hits", "sx", "sdx", "st"):
            setattr(self, name, getattr(self, name)[keep])
