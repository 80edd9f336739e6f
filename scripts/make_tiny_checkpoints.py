"""Create the tiny StyleGAN-V and MoStGAN-V checkpoints shipped in tests/fixtures/ (a deliberate act).

    python scripts/make_tiny_checkpoints.py            # writes the .pkl files
    python scripts/make_tiny_checkpoints.py --golden   # also re-measures tests/golden/tiny_models.json

The networks are vgbench's own modules in their tiny configurations (`tiny_config`), initialised with fixed
seeds and written in the official StyleGAN2-ADA persistence-pickle layout (placeholder source text, OmegaConf
configs), so the shipped files exercise exactly the loading path of the authors' checkpoints. Needs omegaconf.
"""
import argparse
import json
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden" / "tiny_models.json"
NUM_FAKE = 48


def make(kind: str) -> Path:
    from vgbench.models import mostgan_v, stylegan_v
    from vgbench.models.official_pickle import write_snapshot

    mod = stylegan_v if kind == "stylegan_v" else mostgan_v
    kwargs = mod.tiny_config(kind)
    torch.manual_seed(0)
    G = mod.Generator(**kwargs).eval()
    out = FIXTURES / f"{kind}_tiny.pkl"
    write_snapshot(out, G, kwargs, dataset_cfg={"name": "tiny", "fps": 30, "resolution": kwargs["img_resolution"]},
                   with_optimizer=False)
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1e6:.2f} MB")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--golden", action="store_true")
    a = ap.parse_args()
    paths = {k: make(k) for k in ("stylegan_v", "mostgan_v")}
    if a.golden:
        from vgbench.evaluate import evaluate

        golden = {"comment": f"FVD16 of the tiny fixtures on builtin:tiny ({NUM_FAKE} fake videos, seed 0, CPU); "
                             "regenerate with scripts/make_tiny_checkpoints.py --golden",
                  "num_fake": NUM_FAKE, "fvd_rtol": 1e-3, "fvd16": {}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for kind, p in paths.items():
                rec = evaluate(kind, str(p), "tiny", num_fake=NUM_FAKE, device="cpu", progress=False)
                golden["fvd16"][kind] = round(rec["metrics"]["fvd16"]["value"], 6)
        GOLDEN.write_text(json.dumps(golden, indent=2) + "\n")
        print(json.dumps(golden["fvd16"]))


if __name__ == "__main__":
    main()
