"""The real videos of a prepared action dataset (``vgbench data prepare utd-mhad``): for a subset (``train`` or
``test``) every video with its action class, its actor and its frame count, read from ``ROOT/manifest.json``.

Ids as the generators use them: ``action = class`` (the release's action number minus one, as the ``dataset.json``
that the preparation writes) and ``actor = subject - 1``. A CTSVG trained on this folder (``vgbench train --model
ctsvg``) numbers its actors and actions the same way; the ``action_utd`` protocol records the mapping.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import VgbenchError

__all__ = ["ActionVideo", "ActionDataError", "split_videos"]


class ActionDataError(VgbenchError, ValueError):
    """A folder that is not a prepared action dataset, or a subset it lacks (the message names the folder)."""


@dataclasses.dataclass(frozen=True)
class ActionVideo:
    id: str  # the video folder's name, e.g. a5_s8_t2_color
    path: Path  # ROOT/<subset>/<id>
    cls: int  # action class, 0-based
    actor: int  # actor (subject) id, 0-based
    frames: int


def split_videos(root: str | Path, subset: str) -> list[ActionVideo]:
    """The videos of ``ROOT/<subset>`` in name order, with their labels from the preparation's manifest."""
    root = Path(root)
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise ActionDataError(f"{root}: no manifest.json; prepare the data with `vgbench data prepare utd-mhad "
                              f"--source RAW --out {root}`")
    try:
        videos = json.loads(manifest.read_text())["videos"]
    except (ValueError, KeyError, TypeError) as e:
        raise ActionDataError(f"{manifest}: not a manifest of vgbench data prepare ({e})") from None
    out = []
    for name, v in sorted(videos.items()):
        sub, _, vid = name.partition("/")
        if sub != subset or not vid:
            continue
        try:
            out.append(ActionVideo(vid, root / sub / vid, int(v["class"]), int(v["subject"]) - 1, int(v["frames"])))
        except (KeyError, TypeError, ValueError):
            raise ActionDataError(f"{manifest}: video {name!r} has no action class and subject; it was not made "
                                  f"by the utd_mhad recipe") from None
    if not out:
        subsets = sorted({n.partition("/")[0] for n in videos if "/" in n})
        raise ActionDataError(f"{root}: no {subset!r} videos in manifest.json (subsets: {', '.join(subsets) or 'none'})")
    return out
