"""Video Inception Score: the formula in closed form, StyleGAN-V's shuffle/split rule, the C3D-UCF101 converters
(TGAN Chainer .npz and StyleGAN-V-style TorchScript, generated here with the right names and shapes) giving
identical networks, clear errors for partial files, and refusal to score without the C3D weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vgbench.detectors.c3d import C3DDetector, C3DUCF101, C3DWeightsError, convert_c3d, expected_shapes
from vgbench.metrics.inception_score import inception_score, video_inception_score

# --------------------------------------------------------------------------- the formula


def test_is_closed_form_one_hot_balanced_splits():
    probs = np.eye(8)[np.arange(160) % 8]  # every split of 16 rows holds each of the 8 classes twice
    mean, std, splits = inception_score(probs, 10, shuffle_seed=None)
    assert mean == pytest.approx(8.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    assert len(splits) == 10


def test_is_closed_form_soft_predictions():
    k, a = 5, 0.3
    probs = (1 - a) * np.eye(k)[np.arange(100) % k] + a / k  # known softmax, marginal uniform in every split
    h = -(1 - a + a / k) * math.log(1 - a + a / k) - (k - 1) * (a / k) * math.log(a / k)
    mean, std, _ = inception_score(probs, 10, shuffle_seed=None)
    assert mean == pytest.approx(k * math.exp(-h), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_is_of_identical_predictions_is_one_and_zero_probabilities_are_fine():
    p = np.tile([0.7, 0.3, 0.0], (30, 1))
    mean, std, _ = inception_score(p, 10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_shuffle_and_split_rule_match_stylegan_v():
    """RandomState(42).shuffle of the rows, split bounds i*N//10 (204/205 for N = 2048), np.std (population)."""
    rs = np.random.RandomState(7)
    probs = rs.dirichlet(np.full(101, 0.05), size=2048)
    mean, std, splits = inception_score(probs, 10, 42)
    p = probs.copy()
    np.random.RandomState(42).shuffle(p)
    ref = []
    for i in range(10):
        part = p[i * 2048 // 10:(i + 1) * 2048 // 10]
        ref.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(part.mean(0, keepdims=True))), 1))))
    np.testing.assert_allclose(splits, ref, rtol=1e-12)
    assert mean == pytest.approx(np.mean(ref), rel=1e-12) and std == pytest.approx(np.std(ref), rel=1e-12)
    assert [(i + 1) * 2048 // 10 - i * 2048 // 10 for i in range(10)].count(204) == 2
    assert inception_score(probs, 10, 0)[0] != pytest.approx(mean, rel=1e-9)  # the seed matters


class KnownSoftmax:
    """A classifier whose softmax is known: class c = first pixel value mod 4, probability 0.7 there, 0.1 elsewhere."""

    name = "known"
    feature_dim = 4
    provenance = {"name": "known", "sha256": None}

    def __call__(self, videos):
        out = []
        for v in videos:
            assert v.shape[0] == 16  # the first 16 frames of each video
            p = np.full(4, 0.1)
            p[int(v[0, 0, 0, 0]) % 4] = 0.7
            out.append(p)
        return np.asarray(out, np.float32)


def test_video_is_pipeline_with_known_classifier():
    n = 40
    vids = np.zeros((n, 20, 8, 8, 3), np.uint8)
    vids[:, :, :, :, :] = (np.arange(n) % 4)[:, None, None, None, None]
    with pytest.warns(UserWarning, match="not protocol-complete|required"):
        r = video_inception_score(vids, "is_ucf101", detector=KnownSoftmax(), device="cpu", progress=False)
    probs = KnownSoftmax()(list(vids[:, :16])).astype(np.float64)
    mean, std, _ = inception_score(probs, 10, 42)
    assert r.value == pytest.approx(mean, rel=1e-6) and r.std == pytest.approx(std, rel=1e-5, abs=1e-9)
    m = r.record["metrics"]["is_ucf101"]
    assert m["counts"]["fake_used"] == n and not m["protocol_complete"] and m["std"] == r.std


# --------------------------------------------------------------------------- C3D converters


@pytest.fixture(scope="module")
def c3d_weights():
    """Random weights with the real names and shapes, and a BGR per-pixel mean like mean2.npz (3x16x128x128)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in expected_shapes().items():
        if k == "mean":
            continue
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        sd[k] = torch.randn(shape, generator=g) * (1.0 / math.sqrt(fan_in) if len(shape) > 1 else 0.01)
    mean128 = (torch.rand(3, 16, 128, 128, generator=g) * 40 + torch.tensor([90.0, 97.0, 101.0])[:, None, None, None])
    return sd, mean128


class _Bias(nn.Module):  # TGAN2's chainer Bias link: holds b = 128 - mean
    def __init__(self, b):
        super().__init__()
        self.b = nn.Parameter(b)

    def forward(self, x):
        return x + self.b


class _MimicC3D(nn.Module):
    """A TorchScript C3D laid out like a port of TGAN2's model (input [-1, 1] RGB at 112x112, output softmax)."""

    def __init__(self, sd, mean112):
        super().__init__()
        for name in ("conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"):
            c = nn.Conv3d(sd[name + ".weight"].shape[1], sd[name + ".weight"].shape[0], 3, 1, 1)
            c.weight.data, c.bias.data = sd[name + ".weight"].clone(), sd[name + ".bias"].clone()
            setattr(self, name, c)
        for name in ("fc6", "fc7", "fc8"):
            lin = nn.Linear(sd[name + ".weight"].shape[1], sd[name + ".weight"].shape[0])
            lin.weight.data, lin.bias.data = sd[name + ".weight"].clone(), sd[name + ".bias"].clone()
            setattr(self, name, lin)
        self.mean = _Bias(128.0 - mean112)

    def forward(self, x):
        x = self.mean(x.flip(1) * 128.0)
        x = torch.relu(self.conv1a(x))
        x = torch.max_pool3d(x, [1, 2, 2], [1, 2, 2], [0, 0, 0], [1, 1, 1], True)
        x = torch.relu(self.conv2a(x))
        x = torch.max_pool3d(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], True)
        x = torch.relu(self.conv3b(torch.relu(self.conv3a(x))))
        x = torch.max_pool3d(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], True)
        x = torch.relu(self.conv4b(torch.relu(self.conv4a(x))))
        x = torch.max_pool3d(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], True)
        x = torch.relu(self.conv5b(torch.relu(self.conv5a(x))))
        x = torch.max_pool3d(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], True)
        x = torch.relu(self.fc6(torch.flatten(x, 1)))
        x = torch.relu(self.fc7(x))
        return torch.softmax(self.fc8(x), 1)


@pytest.fixture(scope="module")
def c3d_files(c3d_weights, tmp_path_factory):
    sd, mean128 = c3d_weights
    d = tmp_path_factory.mktemp("c3d")
    npz_dir = d / "tgan"
    npz_dir.mkdir()
    np.savez(npz_dir / "conv3d_deepnetA_ucf.npz", **{k.replace(".weight", "/W").replace(".bias", "/b"): v.numpy()
                                                    for k, v in sd.items()})
    np.savez(npz_dir / "mean2.npz", mean=mean128.numpy())
    scripted = torch.jit.script(_MimicC3D(sd, mean128[:, :, 8:120, 8:120]))
    scripted.save(str(d / "c3d_ucf101.pt"))
    return npz_dir / "conv3d_deepnetA_ucf.npz", d / "c3d_ucf101.pt", scripted


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_both_formats_convert_to_the_same_network(c3d_files, c3d_weights):
    npz_path, pt_path, scripted = c3d_files
    a, b = convert_c3d(npz_path), convert_c3d(pt_path)
    assert set(a) == set(b) == set(expected_shapes())
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    torch.testing.assert_close(a["mean"], c3d_weights[1][:, :, 8:120, 8:120])
    clip = np.random.RandomState(0).randint(0, 256, (2, 16, 112, 112, 3), dtype=np.uint8)
    pa, pb = C3DDetector(a)(list(clip)), C3DDetector(b)(list(clip))
    np.testing.assert_array_equal(pa, pb)
    assert pa.shape == (2, 101) and np.allclose(pa.sum(1), 1, atol=1e-5)
    # the TorchScript file run as written (trusted: we made it) agrees with the native network
    with torch.no_grad():
        ref = scripted(torch.from_numpy(clip).float().permute(0, 4, 1, 2, 3) / 127.5 - 1).double().numpy()
    np.testing.assert_allclose(pa, ref, atol=1e-5)


def test_preprocessing_resizes_with_corner_alignment(c3d_weights):
    net = C3DUCF101()
    net.mean.copy_(c3d_weights[1][:, :, 8:120, 8:120])
    clip = np.random.RandomState(1).randint(0, 256, (1, 16, 64, 96, 3), dtype=np.uint8)
    x = net.preprocess(torch.from_numpy(clip))
    assert x.shape == (1, 3, 16, 112, 112)
    u = torch.from_numpy(clip).float()[0] / 127.5 - 1  # [T, H, W, 3]
    # corners of an align_corners=True resize are the source corners; channel 0 is blue (RGB -> BGR)
    exp = (u[:, 0, 0, 2] + 1) * 128 - c3d_weights[1][0, :, 8, 8]
    torch.testing.assert_close(x[0, 0, :, 0, 0], exp, rtol=0, atol=1e-3)
    exp = (u[:, -1, -1, 0] + 1) * 128 - c3d_weights[1][2, :, 119, 119]
    torch.testing.assert_close(x[0, 2, :, -1, -1], exp, rtol=0, atol=1e-3)


def test_partial_or_wrong_files_list_what_is_missing(c3d_weights, tmp_path):
    sd, mean128 = c3d_weights
    partial = {k.replace(".weight", "/W").replace(".bias", "/b"): v.numpy() for k, v in sd.items()
               if not k.startswith("fc7")}
    np.savez(tmp_path / "partial.npz", **partial)  # and no mean2.npz beside it
    with pytest.raises(C3DWeightsError, match="fc7.weight, fc7.bias, mean"):
        convert_c3d(tmp_path / "partial.npz")
    wrong = {k.replace(".weight", "/W").replace(".bias", "/b"): v.numpy() for k, v in sd.items()}
    wrong["fc8/W"] = np.zeros((10, 4096), np.float32)
    np.savez(tmp_path / "wrong.npz", mean=mean128.numpy(), **wrong)
    with pytest.raises(C3DWeightsError, match=r"fc8.weight: \(10, 4096\) instead of \(101, 4096\)"):
        convert_c3d(tmp_path / "wrong.npz")
    (tmp_path / "junk.bin").write_bytes(b"junk")
    with pytest.raises(C3DWeightsError, match="neither"):
        convert_c3d(tmp_path / "junk.bin")


def test_weights_import_and_detector(c3d_files, tmp_path, monkeypatch):
    from vgbench import weights
    from vgbench.detectors import get_detector

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    get_detector.cache_clear()
    assert weights.info("c3d_ucf101")["source"] == "user file"
    with pytest.raises(weights.WeightsError, match="vgbench weights import c3d_ucf101"):
        get_detector("c3d", "cpu")
    weights.import_file("c3d", c3d_files[1])
    det = get_detector("c3d", "cpu")
    assert det.provenance["sha256"] == weights.info("c3d")["sha256"] and len(det.provenance["content_sha256"]) == 64
    npz_state = convert_c3d(c3d_files[0])
    assert weights.state_sha256(npz_state) == det.provenance["content_sha256"]  # same weights, either format
    get_detector.cache_clear()


# --------------------------------------------------------------------------- refusal without weights


def test_eval_refuses_before_generating_without_c3d(tmp_path, monkeypatch):
    from vgbench import evaluate, weights
    from vgbench.models import base

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))

    def no_sampling(*a, **k):
        raise AssertionError("generated videos although the C3D weights are missing")

    monkeypatch.setattr(base.Adapter, "sample", no_sampling)
    with pytest.raises(weights.WeightsError, match="vgbench weights import c3d_ucf101"):
        evaluate.evaluate("stylegan_v", "tests/fixtures/stylegan_v_tiny.pkl", "tiny", metrics=["is_ucf101"],
                          num_fake=20, progress=False, device="cpu")


def test_cli_is_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vgbench.cli import main

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    r = CliRunner().invoke(main, ["is", "builtin:tiny", "--no-progress", "--device", "cpu"])
    assert r.exit_code == 1 and "vgbench weights import c3d_ucf101" in r.output and "Traceback" not in r.output
