"""UTD-MHAD (``utd_mhad``): the colour videos of the UTD Multimodal Human Action Dataset (Chen, Jafari and
Kehtarnavaz, 2015) -> CTSVG's training and test sets.

The release names its colour videos ``a<action>_s<subject>_t<trial>_color.avi`` (actions 1-27, subjects 1-8,
trials 1-4; 640x480 at about 30 fps). CTSVG (paper §4.1) uses "754 videos of 8 individuals performing 27 different
actions" at 128x128 and makes its test set by "excluding videos of each action sequence performed by few selected
target actor[s] from the training set"; which actors and actions, how 640x480 became 128x128, and which videos make
the 754 are not stated (docs/datasets.md). So the held-out set is a parameter, and so is the frame geometry:

- ``test_pairs``: comma-separated tokens ``a<A>_s<S>`` (action A of subject S, every trial) and ``s<S>`` (every
  action of subject S); ``none`` holds nothing out. Recorded in canonical form (subjects, then pairs by subject
  and action; a pair inside a held-out subject is dropped). The card's ``s8`` is vgbench's choice, not the paper's.
- ``split_file``: a text file of the same tokens (separated by commas, spaces or lines; ``#`` starts a comment),
  used instead of ``test_pairs``; its tokens are recorded as ``test_pairs`` and its absolute path as ``split_file``.
- ``mode`` / ``target_size`` (128) and the quirks: as :class:`~.recipes_video.VideoFrames`, whose frame code this
  recipe runs unchanged.

A video goes to ``ROOT/test/<stem>/`` when its (action, subject) is held out, else to ``ROOT/train/<stem>/``; each of
the two folders is a StyleGAN-V frames folder with a ``dataset.json`` in the authors' label format,
``{"labels": [["<video>", action - 1], ...], "actors": [["<video>", subject - 1], ...]}`` (classes 0-26:
``vgbench train`` with ``data.c_dim=27`` reads ``"labels"``, :func:`vgbench.training.data.load_labels`;
``vgbench train --model ctsvg`` reads both, actors 0-7). Each video's manifest entry records its ``action``,
``subject``, ``trial``, ``subset`` and ``class``. A video file not named like the release's is a bad source (its action is
unknown), named in the manifest.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..io.base import VideoReadError
from .recipes import PrepareError
from .recipes_video import VideoFrames, _unique_jobs, _walk

__all__ = ["UTDMHAD", "parse_video_name", "parse_test_pairs", "canonical_pairs"]

ACTIONS, SUBJECTS, TRIALS = 27, 8, 4
LABELS_FILE = "dataset.json"
_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)_color")
_TOKEN = re.compile(r"(?:a(\d+)_)?s(\d+)")


def parse_video_name(stem: str) -> tuple[int, int, int] | None:
    """``(action, subject, trial)`` of a release file stem ``a<A>_s<S>_t<T>_color`` within the release's ranges,
    else None."""
    m = _NAME.fullmatch(stem)
    if not m:
        return None
    a, s, t = map(int, m.groups())
    return (a, s, t) if 1 <= a <= ACTIONS and 1 <= s <= SUBJECTS and 1 <= t <= TRIALS else None


def parse_test_pairs(text: str, where: str) -> tuple[frozenset, frozenset]:
    """``(held-out subjects, held-out (action, subject) pairs)`` of a ``test_pairs`` text; ``where`` names it in
    errors."""
    tokens = text.replace(",", " ").split()
    if tokens == ["none"]:
        return frozenset(), frozenset()
    subjects, pairs = set(), set()
    for tok in tokens:
        m = _TOKEN.fullmatch(tok)
        if not m:
            raise PrepareError(f"{where}: {tok!r} is not a<action>_s<subject> or s<subject> (e.g. a5_s3, s8; 'none' "
                               f"holds nothing out)")
        action, subject = (int(m.group(1)) if m.group(1) else None), int(m.group(2))
        if not 1 <= subject <= SUBJECTS or (action is not None and not 1 <= action <= ACTIONS):
            raise PrepareError(f"{where}: {tok!r}: UTD-MHAD has actions 1-{ACTIONS} and subjects 1-{SUBJECTS}")
        if action is None:
            subjects.add(subject)
        else:
            pairs.add((action, subject))
    if not tokens:
        raise PrepareError(f"{where}: no held-out actor or actor-action pair given (write 'none' for no test set)")
    return frozenset(subjects), frozenset(p for p in pairs if p[1] not in subjects)


def split_file_tokens(path: str | Path) -> str:
    """The ``test_pairs`` tokens of a split file (``#`` starts a comment), as one line."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise PrepareError(f"{path}: cannot read the split file ({e})") from None
    return " ".join(line.split("#")[0] for line in text.splitlines())


def canonical_pairs(subjects, pairs) -> str:
    """The recorded form: ``s<S>`` tokens, then ``a<A>_s<S>`` by subject and action; ``none`` when empty."""
    tokens = [f"s{s}" for s in sorted(subjects)] + [f"a{a}_s{s}" for a, s in sorted(pairs, key=lambda p: (p[1], p[0]))]
    return ",".join(tokens) or "none"


class UTDMHAD(VideoFrames):
    name = "utd_mhad"
    version = 1
    description = "UTD-MHAD colour videos -> train/test frame folders with action labels (CTSVG's actor-action split)"
    defaults = {**{k: v for k, v in VideoFrames.defaults.items() if k != "naming"},
                "target_size": 128, "test_pairs": "none", "split_file": ""}
    choices = {"mode": VideoFrames.choices["mode"]}
    subsets = ("train", "test")

    def resolve(self, card_params, sets):
        if "test_pairs" in sets and "split_file" in sets:
            raise PrepareError("--set test_pairs and --set split_file both name the held-out videos; give one")
        params = super().resolve(card_params, sets)
        where = "test_pairs"
        if params["split_file"]:
            path = Path(params["split_file"]).expanduser()
            params["split_file"], where = str(path.resolve()), str(path)
            params["test_pairs"] = split_file_tokens(path)
        params["test_pairs"] = canonical_pairs(*parse_test_pairs(params["test_pairs"], where))
        return params

    def jobs(self, source, params):
        return _unique_jobs([f for f in _walk(source, params["include"]) if "video" in f[1]], "stem", source)

    @staticmethod
    def _ids(job) -> tuple[int, int, int]:
        ids = parse_video_name(job.id)
        if ids is None:
            raise VideoReadError(job.files["video"], f"not named like a UTD-MHAD colour video "
                                                     f"(a<1-{ACTIONS}>_s<1-{SUBJECTS}>_t<1-{TRIALS}>_color), so its "
                                                     f"action and subject are unknown")
        return ids

    @staticmethod
    def _subset(action: int, subject: int, params) -> str:
        subjects, pairs = parse_test_pairs(params["test_pairs"], "test_pairs")
        return "test" if subject in subjects or (action, subject) in pairs else "train"

    def video_name(self, job, params):
        action, subject, _ = self._ids(job)
        return f"{self._subset(action, subject, params)}/{job.id}"

    def frames(self, job, params):
        action, subject, trial = self._ids(job)
        notes = yield from super().frames(job, params)
        about = {"action": action, "subject": subject, "trial": trial, "class": action - 1,
                 "subset": self._subset(action, subject, params)}
        return {**notes, "about": about}

    def side_files(self, videos):
        labels: dict[str, list] = {}
        actors: dict[str, list] = {}
        for name, v in videos.items():
            subset, video = name.split("/")
            labels.setdefault(subset, []).append([video, v["class"]])
            actors.setdefault(subset, []).append([video, v["subject"] - 1])
        return {f"{subset}/{LABELS_FILE}": {"labels": sorted(pairs), "actors": sorted(actors[subset])}
                for subset, pairs in sorted(labels.items())}
