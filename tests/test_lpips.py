"""LPIPS (vgbench.detectors.lpips): layout, math against an independent formulation and closed forms, golden numbers
from the reference ``lpips`` package on generated weights, weight-file checks."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from vgbench.detectors import lpips as L

# torchvision's trunk layout, as the reference implementation slices it: conv indices and tap indices.
VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
ALEX_CONVS = [0, 3, 6, 8, 10]


def make_backbone(net: str, seed: int = 0) -> dict:
    """Generated weights in torchvision's key layout (He-scaled normal weights, small biases)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in L.backbone_shapes(net).items():
        if k.endswith("weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            out[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            out[k] = torch.randn(shape, generator=g) * 0.05
    return out


def make_heads(net: str, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(shape, generator=g) * 0.2 for k, shape in L.head_shapes(net).items()}


def make_images(seed: int = 2, n: int = 3, size: int = 64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    y = (x + 0.4 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)
    return x, y


def reference_lpips(net, backbone, heads, x0, x1):
    """A second, straightforward formulation written from the paper's equation: explicit layer list with the
    official constants, F.conv2d on the raw state dict, norms via torch.linalg.vector_norm, heads as a weighted
    channel sum."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    if net == "vgg":
        plan = [0, "r", 2, "r", "T", "p2", 5, "r", 7, "r", "T", "p2", 10, "r", 12, "r", 14, "r", "T", "p2", 17, "r",
                19, "r", 21, "r", "T", "p2", 24, "r", 26, "r", 28, "r", "T"]
        conv_args = {i: (1, 1) for i in VGG_CONVS}
    else:
        plan = [0, "r", "T", "p3", 3, "r", "T", "p3", 6, "r", "T", 8, "r", "T", 10, "r", "T"]
        conv_args = {0: (4, 2), 3: (1, 2), 6: (1, 1), 8: (1, 1), 10: (1, 1)}

    def taps(x):
        h, out = (x - shift) / scale, []
        for step in plan:
            if isinstance(step, int):
                s, p = conv_args[step]
                h = F.conv2d(h, backbone[f"features.{step}.weight"], backbone[f"features.{step}.bias"], stride=s,
                             padding=p)
            elif step == "r":
                h = h.clamp_min(0)
            elif step == "T":
                out.append(h / (torch.linalg.vector_norm(h, dim=1, keepdim=True) + 1e-10))
            else:
                k = int(step[1])
                h = F.max_pool2d(h, kernel_size=k, stride=2)
        return out

    total = 0
    for k, (a, b) in enumerate(zip(taps(x0), taps(x1))):
        w = heads[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
        total = total + ((a - b) ** 2 * w).sum(1).mean((1, 2))
    return total


@pytest.fixture(scope="module", params=["vgg", "alex"])
def model(request):
    net = request.param
    return net, make_backbone(net), make_heads(net), L.LPIPS(net, make_backbone(net), make_heads(net))


def test_layouts_match_torchvision_and_official_heads():
    vgg = L.backbone_shapes("vgg")
    assert sorted(vgg) == sorted([f"features.{i}.{p}" for i in VGG_CONVS for p in ("weight", "bias")])
    assert sum(torch.Size(s).numel() for s in vgg.values()) == 14_714_688  # VGG-16 trunk
    assert vgg["features.28.weight"] == (512, 512, 3, 3) and vgg["features.0.weight"] == (64, 3, 3, 3)
    alex = L.backbone_shapes("alex")
    assert sorted(alex) == sorted([f"features.{i}.{p}" for i in ALEX_CONVS for p in ("weight", "bias")])
    assert sum(torch.Size(s).numel() for s in alex.values()) == 2_469_696  # AlexNet trunk
    assert alex["features.0.weight"] == (64, 3, 11, 11) and alex["features.3.weight"] == (192, 64, 5, 5)
    assert L.head_shapes("vgg") == {"lin0.model.1.weight": (1, 64, 1, 1), "lin1.model.1.weight": (1, 128, 1, 1),
                                    "lin2.model.1.weight": (1, 256, 1, 1), "lin3.model.1.weight": (1, 512, 1, 1),
                                    "lin4.model.1.weight": (1, 512, 1, 1)}
    assert [s[1] for s in L.head_shapes("alex").values()] == [64, 192, 384, 256, 256]


def test_matches_independent_formulation(model):
    net, backbone, heads, m = model
    x, y = make_images()
    with torch.no_grad():
        got = m(x, y)
        want = reference_lpips(net, backbone, heads, x, y)
    assert got.shape == (3,)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert float(got.min()) > 1e-3  # a real, non-trivial distance


def test_closed_forms(model):
    net, backbone, heads, m = model
    x, y = make_images(seed=5)
    with torch.no_grad():
        assert torch.equal(m(x, x), torch.zeros(3))  # d(x, x) = 0 exactly
        torch.testing.assert_close(m(x, y), m(y, x), rtol=0, atol=0)  # symmetric
        total, per_layer = m(x, y, per_layer=True)
        assert per_layer.shape == (3, 5)
        torch.testing.assert_close(per_layer.sum(1), total)
        # each pair is scored on its own: batch of one equals its row of the batch
        torch.testing.assert_close(m(x[1:2], y[1:2]), total[1:2], rtol=1e-5, atol=1e-8)
        # the heads act linearly: doubling them doubles the distance
        m2 = L.LPIPS(net, backbone, {k: 2 * v for k, v in heads.items()})
        torch.testing.assert_close(m2(x, y), 2 * total, rtol=1e-6, atol=0)


def test_one_layer_known_value():
    """Only the first head, all ones: LPIPS = spatial mean of ||n0 - n1||^2 = mean of 2 - 2 cos(f0, f1) at
    relu1_2 (up to the 1e-10 in the normaliser)."""
    backbone = make_backbone("vgg")
    heads = {k: torch.zeros(s) for k, s in L.head_shapes("vgg").items()}
    heads["lin0.model.1.weight"] = torch.ones(1, 64, 1, 1)
    m = L.LPIPS("vgg", backbone, heads)
    x, y = make_images(seed=7, n=2, size=32)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def relu1_2(v):
        h = F.relu(F.conv2d((v - shift) / scale, backbone["features.0.weight"], backbone["features.0.bias"],
                            padding=1))
        return F.relu(F.conv2d(h, backbone["features.2.weight"], backbone["features.2.bias"], padding=1))

    cos = F.cosine_similarity(relu1_2(x), relu1_2(y), dim=1, eps=1e-30)
    want = (2 - 2 * cos).mean((1, 2))
    with torch.no_grad():
        torch.testing.assert_close(m(x, y), want, rtol=1e-5, atol=1e-7)


# Reference values: the `lpips` package 0.1.4 (richzhang/PerceptualSimilarity), LPIPS(net=..., pnet_rand=True) with
# make_backbone()/make_heads() loaded into its slices, on make_images(seed=2, n=3, size=64) (computed in a scratch
# environment with torchvision 0.28.0; torchmetrics 1.9.0 gives the same numbers; not part of vgbench).
GOLDEN = {"vgg": [0.0501174591, 0.0492089652, 0.0482381508], "alex": [0.0566854179, 0.0560313761, 0.0551140942]}


def test_golden_against_reference_package(model):
    net, _, _, m = model
    x, y = make_images()
    with torch.no_grad():
        got = m(x, y)
    torch.testing.assert_close(got, torch.tensor(GOLDEN[net]), rtol=2e-5, atol=1e-7)


def test_gradients_reach_the_input(model):
    _, _, _, m = model
    x, y = make_images(seed=3, n=2)
    x = x.clone().requires_grad_(True)
    m(x, y).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(not p.requires_grad for p in m.parameters())


def test_bad_inputs_and_files(tmp_path):
    m = L.LPIPS("vgg", make_backbone("vgg"), make_heads("vgg"))
    with pytest.raises(ValueError, match="equal shapes"):
        m(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        m(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="unknown LPIPS backbone"):
        L.backbone_shapes("squeeze")
    heads = make_heads("vgg")
    good = tmp_path / "vgg.pth"
    torch.save(heads, good)
    assert set(L.convert_heads(good, "vgg")) == set(heads)
    bad = dict(heads)
    bad["lin2.model.1.weight"] = torch.zeros(1, 255, 1, 1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(L.LPIPSWeightsError, match=r"lin2.model.1.weight \(1, 255, 1, 1\)"):
        L.convert_heads(tmp_path / "bad.pth", "vgg")
    del bad["lin2.model.1.weight"]
    torch.save(bad, tmp_path / "missing.pth")
    with pytest.raises(L.LPIPSWeightsError, match="missing tensors.*lin2"):
        L.convert_heads(tmp_path / "missing.pth", "vgg")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(L.LPIPSWeightsError, match="junk.pth: not a plain torch state dict"):
        L.convert_heads(tmp_path / "junk.pth", "vgg")


def test_backbone_import_checks_the_torchvision_hash_prefix(tmp_path, monkeypatch):
    from vgbench import weights
    from vgbench.utils import sha256_file

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    f = tmp_path / "vgg16-generated.pth"
    torch.save({**make_backbone("vgg"), "classifier.0.weight": torch.zeros(4, 4)}, f)
    with pytest.raises(weights.WeightsError, match="does not start with 397923af.*vgg16-397923af.pth"):
        weights.import_file("vgg16_imagenet", f)
    assert not weights.is_present("vgg16_imagenet")
    # the rest of the path (trunk kept, classifier dropped, hash recorded) with the prefix of this file
    monkeypatch.setitem(L.NETS["vgg"], "sha256_prefix", sha256_file(f)[:8])
    weights.import_file("vgg16_imagenet", f)
    state, prov = weights.load_state_dict("vgg16_imagenet", auto_fetch=False)
    assert set(state) == set(L.backbone_shapes("vgg"))
    assert prov["sha256"] == sha256_file(f)


def test_missing_backbone_message_names_weight_and_import(tmp_path, monkeypatch):
    from vgbench import weights

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    with pytest.raises(weights.WeightsError) as e:
        L.load_lpips("vgg", auto_fetch=False)
    msg = str(e.value)
    assert "vgg16_imagenet" in msg and "vgg16-397923af.pth" in msg
    assert "vgbench weights import vgg16_imagenet" in msg and "download.pytorch.org/models/vgg16-397923af.pth" in msg


def install_cached(home, name: str, state: dict, source_sha256: str = "generated") -> None:
    """Put a generated state dict into a weights cache the way the store writes it (tests only)."""
    from vgbench.utils import sha256_file

    d = home / "weights"
    d.mkdir(parents=True, exist_ok=True)
    torch.save(state, d / f"{name}.pt")
    (d / f"{name}.json").write_text(json.dumps({"name": name, "source_sha256": source_sha256,
                                                "converted_sha256": sha256_file(d / f"{name}.pt"),
                                                "imported_from": "test"}))


def test_load_lpips_from_the_store_records_both_files(tmp_path, monkeypatch):
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    install_cached(tmp_path, "lpips_vgg", make_heads("vgg"), "h" * 64)
    install_cached(tmp_path, "vgg16_imagenet", make_backbone("vgg"), "b" * 64)
    m = L.load_lpips("vgg", auto_fetch=False)
    assert m.provenance["heads"]["weights"] == "lpips_vgg"
    # the heads entry is pinned: the record carries the pinned hash of the official file
    assert m.provenance["heads"]["sha256"] == "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"
    assert m.provenance["backbone"] == {"weights": "vgg16_imagenet", "sha256": "b" * 64,
                                        "converted_sha256": m.provenance["backbone"]["converted_sha256"]}
    x, y = make_images()
    with torch.no_grad():
        torch.testing.assert_close(m(x, y), reference_lpips("vgg", make_backbone("vgg"), make_heads("vgg"), x, y),
                                   rtol=1e-5, atol=1e-7)
