"""Plant the bugs a refactor could plausibly make, one at a time, and check that the fast tests catch each one.

    python scripts/planted_bugs.py            # every bug; exit 1 if one survives
    python scripts/planted_bugs.py --list     # the bugs and the tests each is run against

Each bug is a one-line replacement in a scratch clone of the current commit (``git clone`` into a temporary
folder, next to a ``shared`` link when ``../shared`` exists, as the tests expect); the named test files are run
there with ``pytest -x`` and the bug counts as caught when a test fails. Nothing in this working tree is changed.
See docs/testing.md ("Planted-bug check").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: (what, file, exact text, replacement, test files)
BUGS = [
    ("channel swap RGB->BGR in the frame-folder reader", "vgbench/io/frames.py",
     "for i in indices], self.path)", "for i in indices], self.path)[..., ::-1]", ["tests/test_unit_readers.py"]),
    ("I3D logits of the last time step instead of the mean", "vgbench/detectors/i3d.py",
     "return logits.mean(dim=(2, 3, 4))", "return logits[:, :, -1].mean(dim=(2, 3))",
     ["tests/test_unit_i3d.py", "tests/test_i3d_long_clips.py"]),
    ("real clip stride read as 1", "vgbench/features.py",
     'return cls(p["num_frames"], p["frame_stride"], p["offset"], p.get("offset_seed", 0),',
     'return cls(p["num_frames"], 1, p["offset"], p.get("offset_seed", 0),', ["tests/test_unit_clips.py"]),
    ("generator fake-clip times ignore the stride", "vgbench/metrics/base.py",
     "times = [k * s for k in range(n)]", "times = [k for k in range(n)]", ["tests/test_unit_clips.py"]),
    ("motion seed drawn from the content stream", "vgbench/models/stylegan_family.py",
     "else video_seed(seed, i, 1)", "else video_seed(seed, i, 0)", ["tests/test_seed_identities.py"]),
    ("statistics cache key without the detector weights", "vgbench/metrics/base.py",
     '"detector": detector_sha, ', "", ["tests/test_unit_stats_cache.py"]),
    ("Fréchet distance without np.real", "vgbench/metrics/frechet.py",
     "value = float(np.real(mean_term + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)))",
     "value = float(mean_term + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))",
     ["tests/test_unit_metrics.py"]),
    ("compressed .npz videos used without the member's CRC check", "vgbench/io/npy.py",
     "        damaged = self._damaged_member()", "        damaged = None", ["tests/test_unit_readers.py"]),
    ("statistics checksum not verified on load", "vgbench/metrics/stats.py",
     'if str(arrays["checksum"]) != stats_checksum', 'if False and str(arrays["checksum"]) != stats_checksum',
     ["tests/test_unit_stats_file.py"]),
]


def plant(clone: Path, file: str, old: str, new: str) -> None:
    path = clone / file
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"{file}: the text to replace is gone ({old!r}); update BUGS in {Path(__file__).name}")
    path.write_text(text.replace(old, new))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the bugs and their tests, run nothing")
    a = ap.parse_args(argv)
    if a.list:
        for what, file, _, _, tests in BUGS:
            print(f"{what}  [{file}]  ->  {' '.join(tests)}")
        return 0
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if (REPO.parent / "shared").exists():
            os.symlink(REPO.parent / "shared", Path(tmp) / "shared")
        for what, file, old, new, tests in BUGS:
            plant(clone, file, old, new)
            t0 = time.time()
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                               cwd=clone, capture_output=True, text=True)
            last = (r.stdout.strip().splitlines() or [""])[-1]
            caught = r.returncode == 1 and "failed" in last
            survived += not caught
            print(f"{'caught  ' if caught else 'SURVIVED'}  {what}  ({last}; {time.time() - t0:.0f} s)", flush=True)
            subprocess.run(["git", "checkout", "-q", "--", "."], cwd=clone, check=True)
    print(f"{len(BUGS) - survived} of {len(BUGS)} planted bugs caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
