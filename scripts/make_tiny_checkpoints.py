"""Create the tiny official-format checkpoints shipped in tests/fixtures/ (a deliberate act).

    python scripts/make_tiny_checkpoints.py                        # writes every fixture
    python scripts/make_tiny_checkpoints.py --only digan --golden  # one fixture, and re-measure its golden FVD16

The networks are vgbench's own modules in tiny configurations, initialised with fixed seeds and written in the
layout the authors' code writes (StyleGAN2-ADA persistence pickles with placeholder source text and OmegaConf
configs, rosinality-style ``torch.save`` dicts, plain LSTM state dicts, ``.npy`` files), so the shipped files
exercise exactly the loading path of the authors' checkpoints. StyleGAN-V / MoStGAN-V are written here; each
other model's writer is ``scripts/tiny_fixtures/<model>.py`` (function ``make(fixtures_dir) -> path``).
``--golden`` re-measures FVD16 on builtin:tiny and updates only the chosen models' entries in
tests/golden/tiny_models.json. Needs omegaconf (a test extra).
"""
import argparse
import importlib.util
import json
import os
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden" / "tiny_models.json"
WRITERS = ROOT / "scripts" / "tiny_fixtures"
NUM_FAKE = 48
MODELS = ("stylegan_v", "mostgan_v", "motionvideogan", "ctsvg", "digan", "mocogan_hd")


def make_stylegan_family(kind: str) -> Path:
    from vgbench.models import mostgan_v, stylegan_v
    from vgbench.models.official_pickle import write_snapshot

    mod = stylegan_v if kind == "stylegan_v" else mostgan_v
    kwargs = mod.tiny_config(kind)
    torch.manual_seed(0)
    G = mod.Generator(**kwargs).eval()
    out = FIXTURES / f"{kind}_tiny.pkl"
    write_snapshot(out, G, kwargs, dataset_cfg={"name": "tiny", "fps": 30, "resolution": kwargs["img_resolution"]},
                   with_optimizer=False)
    return out


def make(kind: str) -> Path:
    if kind in ("stylegan_v", "mostgan_v"):
        out = make_stylegan_family(kind)
    else:
        spec = importlib.util.spec_from_file_location(f"tiny_fixture_{kind}", WRITERS / f"{kind}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out = Path(mod.make(FIXTURES))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.is_dir() else out.stat().st_size
    print(f"{out.relative_to(ROOT)}: {size / 1e6:.2f} MB")
    return out


def measure_golden(paths: dict[str, Path]) -> None:
    from vgbench.evaluate import evaluate

    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    golden.update({"comment": f"FVD16 of the tiny fixtures on builtin:tiny ({NUM_FAKE} fake videos, seed 0, CPU); "
                              "regenerate with scripts/make_tiny_checkpoints.py --golden",
                   "num_fake": NUM_FAKE, "fvd_rtol": 1e-3})
    golden.setdefault("fvd16", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, p in paths.items():
            rec = evaluate(kind, str(p), "tiny", num_fake=NUM_FAKE, device="cpu", progress=False)
            golden["fvd16"][kind] = round(rec["metrics"]["fvd16"]["value"], 6)
    golden["fvd16"] = dict(sorted(golden["fvd16"].items()))
    tmp = GOLDEN.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(golden, indent=2) + "\n")
    tmp.replace(GOLDEN)
    print(json.dumps({k: golden["fvd16"][k] for k in paths}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--golden", action="store_true", help="re-measure the golden FVD16 of the written fixtures")
    ap.add_argument("--only", action="append", choices=MODELS, help="only this model (repeatable)")
    a = ap.parse_args()
    paths = {k: make(k) for k in (a.only or MODELS)}
    if a.golden:
        measure_golden(paths)


if __name__ == "__main__":
    main()
