"""Regenerate the shipped tiny reference statistics and the golden demo values (a deliberate act).

    python scripts/make_reference_stats.py

Writes reference_stats/tiny_fvd16.npz (+ .json manifest) and tests/golden/tiny_fvd16.json. Commit both with
a note explaining why the numbers moved.
"""
import json
import warnings
from pathlib import Path

import vgbench
from vgbench.metrics.fvd import IncompleteProtocolWarning

ROOT = Path(__file__).resolve().parents[1]


def main():
    st = vgbench.stats("builtin:tiny", "fvd16", "real", out=ROOT / "reference_stats" / "tiny_fvd16.npz",
                       device="cpu")
    print(f"reference_stats/tiny_fvd16.npz: {st.n} videos")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        demo = vgbench.demo(device="cpu")
    golden = {
        "comment": "FVD16 of builtin:tiny-heldout / tiny-static against reference_stats/tiny_fvd16.npz (CPU); "
                   "regenerate with scripts/make_reference_stats.py",
        "demo": {k: round(v.value, 6) for k, v in demo.items()},
        "fvd_rtol": 1e-3,
        "mu_atol": 1e-3,
        "self_fvd_atol": 0.01,
    }
    out = ROOT / "tests" / "golden" / "tiny_fvd16.json"
    out.write_text(json.dumps(golden, indent=2) + "\n")
    print(json.dumps(golden["demo"]))


if __name__ == "__main__":
    main()
