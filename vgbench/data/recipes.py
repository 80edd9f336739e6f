"""Dataset recipes: how ``vgbench data prepare`` turns a raw download into the StyleGAN-V layout.

A :class:`Recipe` has a name and a version (bumped whenever its output pixels change), named parameters with
defaults, and *quirks*: boolean parameters whose default (true) reproduces what the authors' scripts really did
where that differs from what they meant (e.g. ``jpeg_quality_quirk``: ``save(path, q=95)`` writes quality 75).
A dataset card's ``[prepare]`` table names its recipe and sets parameters; ``--set key=value`` overrides any of
them; everything is recorded in the manifest.

A recipe lists its *jobs* (one per raw video, or per pair of files) and turns one job into frames:
:meth:`Recipe.frames` yields ``(output video name, PIL image)`` in frame order and returns a dict with ``drop``
(output videos to discard, e.g. an incomplete last chunk), ``about`` (facts about the job's videos, such as an action
label, copied into each of its videos' manifest entries) and anything else to record for the job. A source it
cannot use raises :class:`~vgbench.io.base.VideoReadError` naming the file: the job is skipped and recorded.
A recipe with ``subsets`` names its videos ``<subset>/<video>`` (a split: ``ROOT/train/<video>``, ``ROOT/test/<video>``,
each a StyleGAN-V frames folder of its own) and may write :meth:`Recipe.side_files` such as their ``dataset.json``.

The recipe families are in :mod:`.recipes_video` (video files or frame folders -> frames; one long video ->
chunks), :mod:`.recipes_ffs` (FaceForensics with its masks) and :mod:`.recipes_utd` (UTD-MHAD with its split);
:data:`RECIPES` finds them lazily.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

from PIL import Image

from ..errors import VgbenchError
from ..utils import import_object

__all__ = ["PrepareError", "Job", "Recipe", "RECIPES", "get_recipe", "parse_value"]


class PrepareError(VgbenchError, ValueError):
    """A recipe, parameter, source or output folder that ``vgbench data prepare`` / ``verify`` cannot use."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One unit of work: ``id`` (unique, a file-system-safe name) and the source files it reads, by role."""

    id: str
    files: dict


class Recipe:
    name: str = ""
    version: int = 1
    description: str = ""
    #: parameter -> default; the type of the default is the type ``--set`` parses to
    defaults: dict = {}
    #: parameter -> allowed values (for string parameters with named variants)
    choices: dict = {}
    #: quirk -> what it reproduces (each a boolean parameter, default true = as the authors' scripts did)
    quirks: dict = {}
    #: the split folders of a recipe whose output is ``ROOT/<subset>/<video>`` (e.g. train, test); empty: ``ROOT/<video>``
    subsets: tuple = ()

    def resolve(self, card_params: dict, sets: dict) -> dict:
        """Defaults, then the card's values, then ``--set`` overrides (strings parsed to the default's type)."""
        params = dict(self.defaults)
        for origin, values in (("card", card_params), ("--set", sets)):
            for key, value in values.items():
                if key not in params:
                    raise PrepareError(f"{origin}: recipe {self.name!r} has no parameter {key!r}; known: "
                                       f"{', '.join(sorted(params))}")
                params[key] = parse_value(key, value, params[key]) if isinstance(value, str) else value
        for key, allowed in self.choices.items():
            if params[key] not in allowed:
                raise PrepareError(f"{key}={params[key]!r} is not one of {', '.join(map(repr, allowed))}")
        return params

    def jobs(self, source: Path, params: dict) -> list[Job]:
        raise NotImplementedError

    def frames(self, job: Job, params: dict) -> Iterator[tuple[str, Image.Image]]:
        raise NotImplementedError

    def side_files(self, videos: dict) -> dict:
        """Files to write beside the videos once all jobs are done, ``{path relative to ROOT: JSON value}`` (e.g. the
        class labels of a split), from the manifest's ``videos``; their sha256 is recorded and verified."""
        return {}


def parse_value(key: str, text: str, default):
    """``text`` as the type of ``default`` (bool: true/false/1/0/yes/no)."""
    try:
        if isinstance(default, bool):
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise PrepareError(f"{key}={text!r}: expected a {type(default).__name__}") from None
    return text


#: recipe name -> ``"module:class"``, imported on first use
RECIPES = {
    "video_frames": "vgbench.data.recipes_video:VideoFrames",
    "video_chunks": "vgbench.data.recipes_video:VideoChunks",
    "ffs_masks": "vgbench.data.recipes_ffs:FaceForensics",
    "utd_mhad": "vgbench.data.recipes_utd:UTDMHAD",
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise PrepareError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return import_object(RECIPES[name])()
