"""The real-statistics cache of ``vgbench eval``: ``$VGBENCH_HOME/stats/<dataset>-<protocol>-<key16>.npz`` with the
key the sha256 of (protocol parameters hash, detector weights sha256, content hash of the video listing). Each
component must change the file on its own, so statistics are never reused for other weights, another protocol
or other videos."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from vgbench.metrics import base as M
from vgbench.io.sources import open_source
from vgbench.protocols import load_protocol

SHA_A, SHA_B = "a" * 64, "b" * 64
I3D_SHA = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"  # the weights fvd16 names


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cache_file_name_is_the_documented_key(home):
    p = load_protocol("fvd16")
    key = hashlib.sha256(json.dumps({"protocol": p.params_sha256, "detector": SHA_A, "content": "c1"},
                                    sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert M.cache_path({"name": "ffs"}, p, SHA_A, "c1") == home / "stats" / f"ffs-fvd16-{key[:16]}.npz"


def test_every_component_changes_the_file_on_its_own(home, tmp_path):
    p16, p128 = load_protocol("fvd16"), load_protocol("fvd128")
    seeded = tmp_path / "fvd16_seed1.toml"
    seeded.write_text(open(p16.path).read().replace("offset_seed = 0", "offset_seed = 1"))
    same_name = load_protocol(seeded)  # still named fvd16: only its parameters differ
    assert same_name.name == "fvd16"
    base = M.cache_path({"name": "ffs"}, p16, SHA_A, "c1")
    assert base == M.cache_path({"name": "ffs"}, load_protocol("fvd16"), SHA_A, "c1")
    variants = [
        M.cache_path({"name": "ffs"}, p16, SHA_B, "c1"),  # other detector weights
        M.cache_path({"name": "ffs"}, p16, None, "c1"),  # weights unknown
        M.cache_path({"name": "ffs"}, p16, SHA_A, "c2"),  # other videos
        M.cache_path({"name": "ffs"}, same_name, SHA_A, "c1"),  # other protocol parameters
        M.cache_path({"name": "ffs"}, p128, SHA_A, "c1"),  # other protocol
        M.cache_path({"name": "sky"}, p16, SHA_A, "c1"),  # other dataset
    ]
    assert len({base, *variants}) == 7
    assert all(v.name.startswith("ffs-fvd16-") and v.parent == home / "stats" for v in variants[:4])


def test_descriptive_protocol_text_keeps_the_cache(home, tmp_path):
    p16 = load_protocol("fvd16")
    reworded = tmp_path / "fvd16.toml"
    text = open(p16.path).read()
    reworded.write_text(text.replace(f'description = "{p16.description}"', 'description = "reworded"'))
    assert load_protocol(reworded).description == "reworded"
    assert M.cache_path({"name": "ffs"}, load_protocol(reworded), SHA_A, "c") == M.cache_path({"name": "ffs"}, p16,
                                                                                                   SHA_A, "c")


def _detector(sha: str | None, scale: float) -> MeanColorDetector:
    class Scaled(MeanColorDetector):
        def __call__(self, videos):
            return super().__call__(videos) * scale

    det = Scaled()
    det.provenance = {"name": "meancolor", "sha256": sha}
    return det


def test_real_stats_are_recomputed_for_other_detector_weights(home, tmp_path):
    """Statistics made with the protocol's weights must not be reused for a detector of unknown weights (sha256
    None, which no compatibility check can refuse), and the reverse: two caches, never shared."""
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=9 * i) for i in range(3)})
    card, p = {"name": "unit"}, load_protocol("fvd16")
    data = str(tmp_path / "real")
    content = open_source(data).content_hash()
    b, where_b = M.real_stats(card, data, p, _detector(I3D_SHA, 2.0), "cpu", progress=False, num_workers=0)
    assert where_b == str(M.cache_path(card, p, I3D_SHA, content))
    a, where_a = M.real_stats(card, data, p, _detector(None, 1.0), "cpu", progress=False, num_workers=0)
    assert where_a == str(M.cache_path(card, p, None, content)) != where_b
    assert np.allclose(b.mu, 2 * a.mu) and not np.allclose(b.mu, a.mu)
    again, where_again = M.real_stats(card, data, p, _detector(None, 1.0), "cpu", progress=False,
                                      compute=lambda *a, **k: pytest.fail("recomputed although cached"))
    assert where_again == where_a and np.array_equal(again.mu, a.mu)
    assert sorted(x.name for x in (home / "stats").glob("*.npz")) == sorted(
        [where_a.rsplit("/", 1)[1], where_b.rsplit("/", 1)[1]])
