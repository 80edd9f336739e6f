"""FVD128 and the subsample-8 variant end to end with the real I3D (long clips, small sets)."""
import warnings

import numpy as np
import pytest

from vgbench.metrics.fvd import IncompleteProtocolWarning, fvd


def _videos(n, t, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 16, 16, 3))
    drift = np.arange(t)[None, :, None, None, None] * rng.integers(1, 3, (n, 1, 1, 1, 3))
    return ((base + drift) % 256).astype(np.uint8)


@pytest.mark.parametrize("protocol,real_len", [("fvd128", 130), ("fvd128_subsample8", 128)])
def test_long_clip_protocols(i3d_detector, protocol, real_len):
    real = _videos(3, real_len, 0)
    short = _videos(1, 127, 1)  # too short for both protocols: skipped and counted
    fake = _videos(3, 128, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        r = fvd(list(real) + list(short), fake, protocol, detector=i3d_detector, progress=False)
    m = r.record["metrics"][protocol]
    assert m["counts"]["real"]["used"] == 3 and m["counts"]["real"]["skipped_short"] == 1
    assert m["counts"]["fake_used"] == 3 and np.isfinite(r.value) and r.value > 0
    n = 128 if protocol == "fvd128" else 16
    assert m["protocol"]["params"]["fake"]["num_frames"] == n
