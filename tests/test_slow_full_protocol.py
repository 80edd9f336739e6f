"""Slow (run with `python -m pytest -m slow`): a protocol-complete FVD16 with 2048 fake videos."""
import warnings

import numpy as np
import pytest

import vgbench
from vgbench.io.sources import IterableSource


@pytest.mark.slow
@pytest.mark.timeout(3000)  # 2048 + real I3D clips at 224²: ~15-20 min on 2 CPU cores (the suite default is 900 s)
def test_protocol_complete_fvd16_with_2048_fake_videos(i3d_detector):
    from vgbench.data.tiny import render_video

    def fakes():  # a generator: streamed, never held in memory; 2100 offered, the protocol takes 2048
        for i in range(2100):
            yield render_video(5, i, range(16))

    src = IterableSource(fakes(), description={"kind": "generator", "name": "tiny-renderer-seed5"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete protocol run must not warn
        r = vgbench.fvd(vgbench.reference_stats_path("tiny_fvd16"), src, "fvd16", detector=i3d_detector,
                        progress=False, strict=True)
    m = r.record["metrics"]["fvd16"]
    assert m["counts"]["fake_used"] == 2048 and m["counts"]["fake"]["seen"] == 2048
    assert m["protocol_complete"] is True
    assert 0 < r.value < 2000 and np.isfinite(r.value)
