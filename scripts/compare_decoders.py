"""Compare vgbench's decoding (PyAV) with the decoders of the authors' scripts: moviepy (convert_video*_to_*.py) and
imageio (preprocess_ffs.py), and check vgbench's moviepy emulation (``moviepy_timeline_quirk``,
vgbench/data/recipes_video.py).

    python scripts/compare_decoders.py VIDEO [VIDEO ...]

Run it in a separate environment with ``pip install moviepy==1.0.3 imageio==2.9.0 av numpy`` plus vgbench on the
path (neither is a vgbench dependency; they bring their own ffmpeg through imageio-ffmpeg). For each file it prints,
as JSON: the frames moviepy's ``clip.iter_frames(fps=clip.fps)`` yields and ``floor(clip.duration * clip.fps)``
(what the StyleGAN-V scripts see), vgbench's prediction of both from the header, the frames PyAV and imageio decode,
and how many of the frames PyAV and moviepy (and imageio) both have are pixel-identical.
"""
import json
import sys

import av
import imageio
import numpy as np
from moviepy.editor import VideoFileClip

from vgbench.data.recipes_video import moviepy_timeline


def main(paths):
    rows = []
    for path in paths:
        with av.open(path) as c:
            pyav = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        clip = VideoFileClip(path)
        mp = [np.asarray(f) for f in clip.iter_frames(fps=clip.fps)]
        floor_count = int(np.floor(clip.duration * clip.fps))
        clip.close()
        n = min(len(pyav), len(mp))
        diffs = [int(np.abs(pyav[i].astype(int) - mp[i].astype(int)).max()) for i in range(n)]
        io = [np.asarray(f) for f in imageio.get_reader(path)]
        rows.append({"file": path, "moviepy": [len(mp), floor_count], "vgbench": list(moviepy_timeline(path)),
                     "pyav_frames": len(pyav), "identical_frames": sum(d == 0 for d in diffs), "compared": n,
                     "max_abs_diff": max(diffs) if diffs else None, "imageio_frames": len(io),
                     "imageio_identical": sum(np.array_equal(a, b) for a, b in zip(pyav, io))})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
