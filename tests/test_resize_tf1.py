"""The TF1 resize kernel and the fvd16_tf / fvd128_tf protocols that use it (the original TF FVD's resize)."""
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from vgbench.detectors.resize import resize_tf1_bilinear
from vgbench.protocols import ProtocolError, load_protocol

SIZES = [((256, 256), (224, 224)),  # the FVD case: 256x256 datasets
         ((64, 64), (224, 224)),    # upscale
         ((128, 96), (224, 224)),   # non-square
         ((720, 1280), (224, 224)),
         ((7, 300), (224, 224)),
         ((37, 53), (11, 19)),
         ((224, 224), (224, 224))]  # already at size: unchanged


def tf1_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] interpolation matrix of TF1 resize_bilinear (align_corners=False, half_pixel_centers=False),
    straight from its sampling equations: source position j * (in / out), the scale and the product in float32
    (CalculateResizeScale, LegacyScaler), neighbours floor and floor + 1 clamped to the last pixel, linear weights."""
    m = np.zeros((n_out, n_in))
    scale = np.float32(n_in) / np.float32(n_out)
    for j in range(n_out):
        src = float(np.float32(j) * scale)
        lo = math.floor(src)
        frac = src - lo
        m[j, lo] += 1 - frac
        m[j, min(lo + 1, n_in - 1)] += frac
    return m


def tf1_reference(images: np.ndarray, size) -> np.ndarray:
    """[N, H, W, C] -> float64 [N, oh, ow, C] as a product with the two interpolation matrices (a formulation
    independent of the kernel's gathers and lerps)."""
    my, mx = tf1_matrix(images.shape[1], size[0]), tf1_matrix(images.shape[2], size[1])
    return np.einsum("ih,nhwc,jw->nijc", my, images.astype(np.float64), mx, optimize=True)


@pytest.mark.parametrize("src,size", SIZES)
def test_kernel_matches_the_sampling_equations(src, size):
    x = np.random.default_rng(sum(src)).uniform(-1, 1, (2, *src, 3)).astype(np.float32)
    out = resize_tf1_bilinear(torch.from_numpy(x), size).numpy()
    assert out.shape == (2, *size, 3) and out.dtype == np.float32
    assert np.abs(out - tf1_reference(x, size)).max() < 1e-6
    if src == size:
        assert np.array_equal(out, x)


def test_kernel_grid_has_no_half_pixel_offset():
    """256 -> 224 (scale 8/7): output pixel 7k samples source 8k (up to the float32 rounding of 7k * 8/7, which is
    below 3e-5), so it copies input pixel 8k; torch's half-pixel grid samples 8k + (8/7 - 1) / 2 = 8k + 0.071 instead."""
    x = torch.rand(1, 256, 256, 3)
    out = resize_tf1_bilinear(x, (224, 224))
    assert (out[:, ::7, ::7] - x[:, ::8, ::8]).abs().max() < 3e-5
    nchw = x.permute(0, 3, 1, 2)
    half = torch.nn.functional.interpolate(nchw, size=(224, 224), mode="bilinear", align_corners=False)
    assert (half[..., ::7, ::7] - nchw[..., ::8, ::8]).abs().max() > 0.01


def test_tf_preprocess_resizes_then_scales(i3d_detector):
    """fvd16_tf: TF1 resize of the 0..255 frames, then 2x/255 - 1; fvd16 (default) is torch's half-pixel kernel."""
    clip = np.random.default_rng(3).integers(0, 256, (1, 10, 50, 70, 3), dtype=np.uint8)
    tf = i3d_detector.with_resize("tf1_resize_bilinear")
    assert tf.net is i3d_detector.net and i3d_detector.resize_mode == "bilinear"
    x = tf.preprocess(torch.from_numpy(clip))
    assert x.shape == (1, 3, 10, 224, 224)
    ref = tf1_reference(clip[0], (224, 224)) * 2 / 255 - 1  # [T, 224, 224, 3]
    assert np.abs(x[0].permute(1, 2, 3, 0).numpy() - ref).max() < 1e-6
    assert (i3d_detector.preprocess(torch.from_numpy(clip)) - x).abs().max() > 0.05
    with pytest.raises(ValueError, match="unknown I3D resize 'nearest'"):
        i3d_detector.with_resize("nearest")


def test_fvd16_tf_detector_runs_i3d_on_the_tf1_resized_clip():
    from vgbench.detectors import detector_for

    det_tf = detector_for(load_protocol("fvd16_tf"), "cpu")
    det_16 = detector_for(load_protocol("fvd16"), "cpu")
    assert (det_tf.resize_mode, det_16.resize_mode) == ("tf1_resize_bilinear", "bilinear")
    assert det_tf.net is det_16.net  # one network, two input contracts
    t = np.arange(10)[:, None, None]
    yy, xx = np.mgrid[:256, :256]
    clip = ((np.sin(xx / 3.0 + t) * np.cos(yy / 5.0) + 1) * 127.5)[..., None] * np.array([1.0, 0.6, 0.3])
    clip = clip.round().astype(np.uint8)[None]  # [1, 10, 256, 256, 3], fine detail that the kernels see differently
    f_tf, f_16 = det_tf(clip), det_16(clip)
    x = (tf1_reference(clip[0], (224, 224)) * 2 / 255 - 1).transpose(3, 0, 1, 2)  # [3, T, 224, 224]
    with torch.inference_mode():
        ref = det_16.net(torch.from_numpy(x[None].astype(np.float32))).numpy()
    assert np.abs(f_tf - ref).max() < 1e-4  # measured: 1.0e-5 (logits up to 30)
    assert np.abs(f_tf - f_16).max() > 0.05  # measured: 0.18


def test_tf_protocols_differ_from_their_base_only_in_the_resize():
    from vgbench.detectors.i3d import RESIZE_MODES
    from vgbench.protocols import DETECTOR_RESIZES

    assert set(DETECTOR_RESIZES["i3d"]) == set(RESIZE_MODES)
    for base in ("fvd16", "fvd128"):
        p, q = load_protocol(base), load_protocol(f"{base}_tf")
        assert q.name == f"{base}_tf" and q.params_sha256 != p.params_sha256
        rest = {k: v for k, v in q.params.items() if k != "detector"}
        assert rest == {k: v for k, v in p.params.items() if k != "detector"}
        changed = {k for k in set(p["detector"]) | set(q["detector"]) if p["detector"].get(k) != q["detector"].get(k)}
        assert changed == {"resize_mode", "half_pixel_centers", "scale"}
        assert q["detector"]["resize_mode"] == "tf1_resize_bilinear" and q["detector"]["align_corners"] is False
        assert q["detector"]["half_pixel_centers"] is False and q["detector"]["antialias"] is False


def _edited(tmp_path: Path, base: str, old: str, new: str) -> Path:
    text = Path(load_protocol(base).path).read_text()
    assert old in text
    p = tmp_path / f"{base}_edited.toml"
    p.write_text(text.replace(old, new))
    return p


@pytest.mark.parametrize("base,old,new,match", [
    ("fvd16", 'resize_mode = "bilinear"', 'resize_mode = "bicubic"', "'bicubic' is not implemented by the i3d"),
    ("fvd16", "antialias = false", "antialias = true", r"antialias must be False"),
    ("fvd16", "resize = [224, 224]", "resize = [112, 112]", r"resize must be \[224, 224\]"),
    ("fvd16_tf", "half_pixel_centers = false", "half_pixel_centers = true", "half_pixel_centers must be False"),
    ("fvd16_tf", "half_pixel_centers = false\n", "", "half_pixel_centers must be False .* got None"),
    ("fid_video", 'resize_mode = "tf1_legacy_bilinear"', 'resize_mode = "bilinear"', "not implemented by the incep"),
])
def test_a_resize_the_detector_does_not_implement_is_refused(tmp_path, base, old, new, match):
    with pytest.raises(ProtocolError, match=match):
        load_protocol(_edited(tmp_path, base, old, new))


def test_statistics_of_one_kernel_are_refused_by_the_other(tmp_path, meancolor):
    from vgbench.metrics.fvd import compute_stats, fvd

    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(16, base=i) for i in range(3)})
    path = compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False).save(
        tmp_path / "real16.npz")
    with pytest.raises(ProtocolError, match=r"computed under protocol fvd16@.*not fvd16_tf@"):
        fvd(path, path, "fvd16_tf")


def test_a_detector_with_another_kernel_is_refused(tmp_path, i3d_detector):
    from vgbench.metrics.fvd import compute_stats

    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(16, base=i) for i in range(3)})
    with pytest.raises(ProtocolError, match="fvd16_tf resizes with 'tf1_resize_bilinear' but the i3d detector"):
        compute_stats(tmp_path / "real", "fvd16_tf", "real", detector=i3d_detector, progress=False)


class KernelRecorder(MeanColorDetector):
    """A cheap stand-in that, like I3DDetector, has a resize_mode and with_resize; it records the kernels used."""

    resize_mode = "bilinear"
    provenance = {"name": "i3d", "sha256": "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"}

    def __init__(self, used: set):
        super().__init__()
        self.used = used

    def with_resize(self, mode):
        other = copy.copy(self)
        other.resize_mode = mode
        return other

    def __call__(self, videos):
        self.used.add(self.resize_mode)
        return super().__call__(videos)


@pytest.fixture
def recorded_kernels(monkeypatch):
    import vgbench.detectors as D

    used: set = set()
    det = KernelRecorder(used)
    monkeypatch.setattr(D, "get_detector", lambda name="i3d", device=None, auto_fetch=True: det)
    return used


def test_fvd_and_eval_build_the_detector_with_the_protocols_kernel(tmp_path, monkeypatch, recorded_kernels):
    from vgbench import evaluate as E
    from vgbench.metrics.fvd import fvd

    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=3 * i) for i in range(4)})
    write_frames_dataset(tmp_path / "fake", {f"f{i}": ramp_video(16, base=5 * i) for i in range(3)})
    with pytest.warns(UserWarning, match="not protocol-complete"):
        fvd(tmp_path / "real", tmp_path / "fake", "fvd16_tf", progress=False)
    assert recorded_kernels == {"tf1_resize_bilinear"}
    recorded_kernels.clear()
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    with pytest.warns(UserWarning, match="3 fake videos of 2048"):
        rec = E.evaluate("folder", str(tmp_path / "fake"), "ffs", data=str(tmp_path / "real"),
                         metrics=["fvd16", "fvd16_tf"], progress=False)
    assert recorded_kernels == {"bilinear", "tf1_resize_bilinear"}
    m16, mtf = rec["metrics"]["fvd16"], rec["metrics"]["fvd16_tf"]
    assert mtf["protocol"]["params"]["detector"]["resize_mode"] == "tf1_resize_bilinear"
    assert m16["real_stats"]["file"] != mtf["real_stats"]["file"]  # cached per protocol
    assert {r["check"]: r["ok"] for r in E.check("folder", str(tmp_path / "fake"), "sky",
                                                 metrics=["fvd16_tf", "fvd128_tf"])}["protocol fvd128_tf"]


def test_cli_lists_and_shows_the_tf_protocols():
    from click.testing import CliRunner

    from vgbench.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["protocols", "list"])
    assert r.exit_code == 0
    rows = {line.split()[0]: line.split()[2] for line in r.output.splitlines() if line.strip()}
    assert rows["fvd16_tf"] == load_protocol("fvd16_tf").params_sha256[:12]
    assert rows["fvd128_tf"] == load_protocol("fvd128_tf").params_sha256[:12]
    r = runner.invoke(main, ["protocols", "show", "fvd128_tf"])
    shown = json.loads(r.output)["params"]
    assert shown["detector"]["resize_mode"] == "tf1_resize_bilinear" and shown["real"]["num_frames"] == 128


def test_leaderboards_never_file_tf_results_under_fvd16():
    from vgbench.leaderboard.metrics import metric_for_record_key

    assert metric_for_record_key("fvd16", "fvd16").key == "fvd16"
    for name in ("fvd16_tf", "fvd128_tf"):
        assert metric_for_record_key(name, name) is None  # ingest skips them with a warning
