"""FVD statistics in shards: ``vgbench stats --shard i/N`` writes part ``i`` of ``N``; ``vgbench stats merge`` joins
the parts into the file one process would have written.

One process walks the source in order and uses the first ``max_videos`` videos long enough for the clip (the real
set; the fake set takes the first ``num_videos``). A shard cannot know how many usable videos come before it, so
every shard first makes the same **plan** (:func:`make_plan`): it reads every video's frame count (no pixels) in
source order until the cap is reached, exactly as the single process would count them (``seen``, too short,
unreadable). The planned videos are split into ``N`` contiguous, nearly equal ranges; shard ``i`` decodes and
detects only its range. :func:`merge_stats` checks that the parts belong together (protocol parameters, detector
weights, role, clip rule, source listing hash, plan hash, shard count) and that each shard appears exactly once,
concatenates the per-video features in plan order and computes mean and covariance from them with the same code as
the single process, so the merged file has the same ``mu``, ``sigma``, ids, offsets, features and counts, bit for
bit (``tests/test_shards.py``).

FID's per-frame statistics (:func:`vgbench.metrics.fid.compute_frame_stats`) shard the same way. Their cap is a
frame budget, so the plan also says how many frames each planned video gives (``takes``: all of them but the last
one's). Their parts keep no per-video features; the merge adds the parts' float64 moment sums (count, Σx, Σxxᵀ,
recovered from each part's mean and covariance) in shard order, which equals one process to float64 rounding
(about 1e-15 relative: `tests/test_shards.py`, FID equal to <= 1e-9 relative).

One case cannot be reproduced and is refused: a planned video that fails to decode (with ``--skip-bad``) while the
plan was cut at the cap. One process would replace it with the next usable video; the merge names it instead.

:func:`generator_part` splits a generator's fake videos over torchrun's ranks by index (video ``i`` depends only on
``(seed, i)``); FVD and FID use it.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Iterator, Sequence

import numpy as np

from ..errors import VgbenchError
from ..features import ClipSpec, NotEnoughVideos
from ..io.sources import Video, VideoReadError, VideoSource
from ..provenance import utc_now
from ..utils import sha256_json
from .stats import FeatureStats, VideoStats

__all__ = ["ShardError", "parse_shard", "ShardPlan", "make_plan", "ShardSource", "merge_stats", "generator_part",
           "refuse_replaced_videos", "merge_resolutions"]


class ShardError(VgbenchError, ValueError):
    """A shard that cannot be made, or parts that cannot be merged."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``."""
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ShardError(f"--shard {text!r}: expected I/N, e.g. 0/4 (shards are numbered 0..N-1)") from None
    if n < 1 or not 0 <= i < n:
        raise ShardError(f"--shard {text!r}: need N >= 1 and 0 <= I < N (shards are numbered 0..N-1)")
    return i, n


@dataclasses.dataclass
class ShardPlan:
    """The videos one process would decode, in source order, and what it would count on the way."""
    indices: list[int]           # source positions of the planned videos
    ids: list[str]
    seen: int                    # videos walked (planned + too short + unreadable), as one process counts them
    skipped_short: int
    bad: list[dict]              # unreadable at planning (frame count unknown)
    capped: bool                 # the cap was reached: more usable videos may follow
    takes: list[int] | None = None  # under a frame budget: the frames each planned video gives

    @property
    def sha256(self) -> str:
        base = [self.indices, self.ids, self.seen, self.skipped_short, self.capped]
        return sha256_json(base if self.takes is None else [*base, self.takes])

    def share(self, index: int, count: int) -> range:
        """Plan positions of shard ``index`` of ``count``: contiguous, sizes differing by at most one."""
        n = len(self.indices)
        return range(index * n // count, (index + 1) * n // count)

    def part_info(self, index: int, count: int, protocol, role: str, plan_sha256: str | None = None,
                  wanted_frames: int | None = None) -> dict:
        """The ``shard`` record of part ``index`` of ``count`` (what :func:`merge_stats` reads); ``plan_sha256``
        replaces the plan's own hash (a generator's parts hash what they render). Parts of frame statistics (FID)
        say so with ``unit = "frame"`` and carry their minimum and the fake side's ``wanted_frames``."""
        share = self.share(index, count)
        info = {"index": index, "count": count, "plan_sha256": plan_sha256 or self.sha256,
                "planned": len(self.indices), "positions": [share.start, share.stop], "capped": self.capped,
                "seen": self.seen, "skipped_short": self.skipped_short, "planning_bad": self.bad}
        if self.takes is None:
            return {**info, "min_videos": protocol["statistics"]["min_videos"],
                    "wanted": protocol[role]["num_videos"] if role == "fake" else None}
        return {**info, "unit": "frame", "min_frames": protocol["statistics"]["min_frames"],
                "wanted_frames": wanted_frames, "frames": [sum(self.takes[share.start:share.stop]), sum(self.takes)]}

    def shard_takes(self, index: int, count: int) -> list[int] | None:
        """Frames each video of shard ``index`` gives (None: no frame budget)."""
        if self.takes is None:
            return None
        share = self.share(index, count)
        return self.takes[share.start:share.stop]


def make_plan(src: VideoSource, spec: ClipSpec, *, skip_bad: bool = False, max_frames: int | None = None,
              frames: bool = False) -> ShardPlan:
    """Walk ``src`` reading frame counts only, as :func:`vgbench.features.extract_features` walks it (``frames``:
    as FID's frame reader walks it, each planned video giving its selected frames up to the ``max_frames``
    budget)."""
    indices, ids, bad = [], [], []
    takes: list[int] | None = [] if frames else None
    seen = short = 0
    target = spec.max_videos
    budget = max_frames if frames else None
    for i, v in enumerate(src):
        if (target is not None and len(indices) >= target) or (budget is not None and budget <= 0):
            return ShardPlan(indices, ids, seen, short, bad, capped=True, takes=takes)
        seen += 1
        try:
            length = v.num_frames
        except VideoReadError as e:
            if not skip_bad:
                raise VideoReadError(e.path, f"{e.problem} (use --skip-bad to skip unreadable videos)") from e
            bad.append({"id": v.id, "path": v.path, "error": str(e)})
            continue
        sel = spec.indices(v.id, length)
        if sel is None or not sel[0]:
            if spec.short_is_error and not skip_bad:
                raise NotEnoughVideos(f"{v.path}: has {length} frames, the protocol needs {spec.required()} "
                                      f"(use --skip-bad to skip such videos)")
            short += 1
            continue
        indices.append(i)
        ids.append(v.id)
        if takes is not None:
            takes.append(len(sel[0]) if budget is None else min(len(sel[0]), budget))
            budget = None if budget is None else budget - takes[-1]
    return ShardPlan(indices, ids, seen, short, bad, capped=False, takes=takes)


class ShardSource(VideoSource):
    """The videos of ``src`` at the given source positions, in that order (the handles of ``src``)."""

    def __init__(self, src: VideoSource, positions: Sequence[int]):
        self.parent, self.positions = src, list(positions)
        self.kind = f"{src.kind} (shard)"
        self.supports_workers = src.supports_workers
        wanted = set(self.positions)
        self._videos = [v for i, v in enumerate(src) if i in wanted]

    def __iter__(self) -> Iterator[Video]:
        return iter(self._videos)

    def __len__(self) -> int:
        return len(self._videos)

    def describe(self) -> dict:
        return self.parent.describe()


#: manifest fields every part of one computation must share (the shard's own fields are checked separately)
_SAME = ("role", "protocol", "clip", "source_content_hash", "schema")


def _part_info(st: VideoStats, where: str) -> dict:
    info = st.manifest.get("shard")
    if not isinstance(info, dict):
        raise ShardError(f"{where}: not a shard (no 'shard' in its manifest); `vgbench stats --shard I/N` writes parts")
    if st.features is None and info.get("unit") != "frame":
        raise ShardError(f"{where}: a part without per-video features cannot be merged exactly")
    return info


def merge_stats(parts: Sequence[VideoStats], names: Sequence[str] | None = None) -> VideoStats:
    """Join the parts of one sharded computation (any order) into the statistics one process would have made."""
    if not parts:
        raise ShardError("no parts to merge")
    names = list(names) if names is not None else [f"part {k}" for k in range(len(parts))]
    infos = [_part_info(st, w) for st, w in zip(parts, names)]
    first, fm = infos[0], parts[0].manifest
    for st, info, where in zip(parts[1:], infos[1:], names[1:]):
        m = st.manifest
        for key in _SAME:
            if m.get(key) != fm.get(key):
                raise ShardError(f"{where} and {names[0]} differ in {key!r}: {m.get(key)!r} vs {fm.get(key)!r}; they "
                                 f"are parts of different computations")
        if m["detector"].get("sha256") != fm["detector"].get("sha256"):
            raise ShardError(f"{where} and {names[0]} were made with different detector weights "
                             f"({m['detector'].get('sha256')} vs {fm['detector'].get('sha256')})")
        if m["source"] != fm["source"]:
            raise ShardError(f"{where} and {names[0]} read different sources: {m['source']} vs {fm['source']}")
        for key in ("count", "plan_sha256"):
            if info[key] != first[key]:
                raise ShardError(f"{where} and {names[0]} differ in shard {key} ({info[key]} vs {first[key]}): the "
                                 f"source changed between them, or they belong to different splits")
    count = first["count"]
    by_index: dict[int, int] = {}
    for k, info in enumerate(infos):
        if info["index"] in by_index:
            raise ShardError(f"{names[k]} and {names[by_index[info['index']]]} are both shard "
                             f"{info['index']}/{count}")
        by_index[info["index"]] = k
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        raise ShardError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing: {len(parts)} of {count} "
                         f"parts given")
    order = [by_index[i] for i in range(count)]
    ordered = [parts[k] for k in order]

    decode_bad = [b for st in ordered for b in st.manifest["bad_videos"]]
    refuse_replaced_videos(first["capped"], decode_bad)
    if first.get("unit") == "frame":
        return _merge_frame_parts(ordered, first, fm, decode_bad)
    feats = np.concatenate([np.asarray(st.features, np.float32) for st in ordered])
    ids = [i for st in ordered for i in st.ids]
    offsets = [o for st in ordered for o in st.offsets]
    fs = FeatureStats(feats.shape[1])
    fs.append(feats, where="merged features")  # the single process's call, on the same rows in the same order
    if fs.n < first["min_videos"]:
        raise NotEnoughVideos(f"too few usable videos: {fs.n} used over {count} shards, need at least "
                              f"{first['min_videos']}")
    mu, sigma = fs.mean_cov()
    counts = {"seen": first["seen"], "used": fs.n, "skipped_short": first["skipped_short"],
              "skipped_bad": len(first["planning_bad"]) + len(decode_bad), "resolutions": _resolutions(ordered)}
    complete = (fs.n >= first["wanted"]) if first["wanted"] else True
    manifest = _merged_manifest(ordered, first, fm, counts, decode_bad, complete)
    return VideoStats(mu, sigma, fs.n, manifest, ids, offsets, feats)


def refuse_replaced_videos(capped: bool, decode_bad: list[dict]) -> None:
    """Planned videos that failed to decode in a plan cut at its cap: one process would have used the next usable
    videos instead, which no merge can reproduce."""
    if capped and decode_bad:
        shown = ", ".join(b["path"] for b in decode_bad[:5])
        raise ShardError(f"{len(decode_bad)} planned video(s) could not be decoded ({shown}); one process would "
                         f"have used the next usable videos instead, so the merged statistics would differ. Fix or "
                         f"remove these videos and compute the shards again")


def _resolutions(parts: Sequence[VideoStats]) -> dict:
    return merge_resolutions(st.manifest["counts"] for st in parts)


def merge_resolutions(counts) -> dict:
    """The ``resolutions`` tallies of several ``counts`` dicts, added."""
    resolutions: collections.Counter = collections.Counter()
    for c in counts:
        resolutions.update(c.get("resolutions", {}))
    return dict(resolutions)


def _merged_manifest(ordered, first: dict, fm: dict, counts: dict, decode_bad: list, complete: bool) -> dict:
    manifest = {k: v for k, v in fm.items() if k != "shard"}
    manifest.update({
        "created": utc_now(),
        "counts": counts,
        "bad_videos": first["planning_bad"] + decode_bad,
        "protocol_complete": complete and counts["skipped_bad"] == 0,
        "runtime": {"seconds": round(sum(st.manifest["runtime"]["seconds"] for st in ordered), 3),
                    "shards": [st.manifest["runtime"] for st in ordered]},
        "merged": {"shards": first["count"], "plan_sha256": first["plan_sha256"],
                   "parts_digest": [st.digest() for st in ordered]},
    })
    return manifest


def _merge_frame_parts(ordered, first: dict, fm: dict, decode_bad: list) -> VideoStats:
    """Frame statistics (FID): add the parts' float64 moment sums n, Σx = n mu, Σxxᵀ = n (sigma + mu muᵀ)."""
    n = 0
    total = xtx = None
    for st in ordered:
        mu = np.asarray(st.mu, np.float64)
        s1, s2 = st.n * mu, st.n * (np.asarray(st.sigma, np.float64) + np.outer(mu, mu))
        total, xtx = (s1, s2) if total is None else (total + s1, xtx + s2)
        n += st.n
    if n < first["min_frames"]:
        raise NotEnoughVideos(f"too few frames: {n} used over {first['count']} shards, need at least "
                              f"{first['min_frames']}")
    mu = total / n
    sigma = xtx / n - np.outer(mu, mu)
    sigma = (sigma + sigma.T) / 2  # the sum of symmetric parts, symmetric up to rounding
    counts = {"seen": first["seen"], "used": sum(st.manifest["counts"]["used"] for st in ordered),
              "skipped_short": first["skipped_short"],
              "skipped_bad": len(first["planning_bad"]) + len(decode_bad),
              "frames": n, "resolutions": _resolutions(ordered)}
    complete = True
    if first["wanted_frames"] is not None:
        counts["frames_required"] = int(first["wanted_frames"])
        complete = n >= first["wanted_frames"]
    manifest = _merged_manifest(ordered, first, fm, counts, decode_bad, complete)
    return VideoStats(mu, sigma, n, manifest, [i for st in ordered for i in st.ids], [])



def generator_part(ctx, num_videos: int, compute_part, *, frames: bool = False,
                   max_frames: int | None = None) -> VideoStats:
    """A generator's fake statistics under torchrun: rank ``r`` of ``W`` renders videos ``[r n / W, (r + 1) n / W)``
    (video ``i`` depends only on ``(seed, i)``), computes its part with ``compute_part(src, spec, max_frames,
    progress)`` and every rank merges all parts into what one process makes. ``frames``: frame statistics (FID),
    each video giving the protocol's frames until the ``max_frames`` budget is spent."""
    from .. import distributed
    from .base import fake_clips

    rank, world = distributed.rank_world()
    if num_videos < world:
        raise ShardError(f"{world} ranks for {num_videos} fake videos: use at most {num_videos} processes")
    takes = None
    if frames:
        per_video = ctx.protocol["fake"]["num_frames"]
        takes = [per_video if max_frames is None else min(per_video, max_frames - k * per_video)
                 for k in range(num_videos)]
        takes = [t for t in takes if t > 0]
    planned = len(takes) if takes is not None else num_videos
    plan = ShardPlan(list(range(planned)), [], seen=planned, skipped_short=0, bad=[], capped=planned < num_videos,
                     takes=takes)
    share = plan.share(rank, world)
    src, spec = fake_clips(ctx.adapter, ctx.protocol, len(share), ctx.seed, ctx.gen_batch_size, start=share.start)
    part_budget = sum(plan.shard_takes(rank, world)) if frames and max_frames is not None else None
    part = compute_part(src, spec, part_budget, ctx.progress and rank == 0)
    whole = {"kind": "generator", "model": ctx.adapter.name, "seed": ctx.seed, "times": src.describe()["times"]}
    part.manifest["source"] = whole  # what one process records
    part.manifest["clip"] = {**part.manifest["clip"], **dataclasses.replace(spec, max_videos=num_videos).to_dict(),
                             **({"max_frames": max_frames} if frames else {})}
    part.manifest["shard"] = plan.part_info(rank, world, ctx.protocol, "fake", sha256_json([whole, num_videos]),
                                            wanted_frames=max_frames if frames else None)
    return merge_stats(distributed.all_gather(part), [f"rank {r}" for r in range(world)])
