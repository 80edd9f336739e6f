"""Mutation testing of vgbench's core modules with mutmut 3 (see docs/testing.md).

    python scripts/mutation.py run              # fresh run over every core module, then the report
    python scripts/mutation.py run frechet      # only some modules (names from SCOPE below)
    python scripts/mutation.py run --survivors  # re-run only the mutants that survived last time
    python scripts/mutation.py report --diffs   # scores per module; the diff of every unexplained survivor
    python scripts/mutation.py equivalents      # the equivalent-mutant list as the table in docs/testing.md

mutmut copies ``vgbench/`` to ``mutants/`` with every mutant behind a switch, runs the fast unit tests named in
``[tool.mutmut] pytest_add_cli_args_test_selection`` (pyproject.toml) once to record which tests call which function,
then runs each mutant against only those tests. SCOPE lists what is mutation-tested: whole modules, or for the large
ones the functions that hold the rule (mutmut names a mutant ``<module>.x_<function>__mutmut_<n>`` and a method
``<module>.xǁ<Class>ǁ<method>__mutmut_<n>``). EQUIVALENT (scripts/mutation_equivalent.toml) lists the surviving
mutants that no test can kill because they do not change behaviour, each with its reason; they are matched by
function and mutated line, not by number, so edits elsewhere do not invalidate the list. The score of a module is
killed / (mutants - equivalent); ``report`` exits 1 when a module is below ``--min-score`` (default 90).
"""
from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = REPO / "scripts" / "mutation_equivalent.toml"

#: module label -> mutmut name globs (each glob also matches the function's own name, which mutmut uses to pick tests)
SCOPE = {
    "readers": ["vgbench.io.*"],
    "clips": ["vgbench.features.x_clip_offset*", "vgbench.features.xǁClipSpecǁ*", "vgbench.features.x__read_job*"],
    "protocols": ["vgbench.protocols.*"],
    "stats": ["vgbench.metrics.stats.*"],
    "frechet": ["vgbench.metrics.frechet.*"],
    "i3d_preprocess": ["vgbench.detectors.i3d.xǁI3DDetectorǁpreprocess*", "vgbench.detectors.i3d.xǁInceptionI3dǁforward*"],
    "quantise_seeds": ["vgbench.models.base.x_to_uint8*", "vgbench.models.base.x_video_seed*",
                       "vgbench.models.base.x_time_grid*", "vgbench.models.base.xǁAdapterǁsample*",
                       "vgbench.models.base.xǁAdapterǁiter_videos*"],
    "eval_fake_clips_cache": ["vgbench.metrics.base.x_fake_clips*", "vgbench.metrics.base.x_cache_path*"],
    "safe_unpickling": ["vgbench.safe_pickle.*", "vgbench.models.checkpoint.xǁ_NetworkUnpicklerǁ*",
                        "vgbench.models.checkpoint.x__reconstructor*", "vgbench.models.checkpoint.x__newobj*",
                        "vgbench.models.checkpoint.x_inert_class*", "vgbench.models.checkpoint.x_load_network_pickle*"],
}

KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _in_scope(key: str, modules) -> str | None:
    for label in modules:
        if any(fnmatch.fnmatchcase(key, g) for g in SCOPE[label]):
            return label
    return None


def _mutants() -> dict[str, int | None]:
    """mutant name -> mutmut exit code (None: not run), from mutants/**/*.meta."""
    out: dict[str, int | None] = {}
    for meta in sorted((REPO / "mutants" / "vgbench").rglob("*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def _status(code) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def _diff(name: str) -> str:
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        return get_diff_for_mutant(name)
    finally:
        os.chdir(cwd)


def _added_lines(diff: str) -> list[str]:
    return [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]


def load_equivalent() -> list[dict]:
    return tomllib.loads(EQUIVALENT_FILE.read_text()).get("equivalent", [])


def _function(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


def _is_equivalent(name: str, diff: str, entries: list[dict]) -> dict | None:
    added = _added_lines(diff)
    for e in entries:
        if _function(name) == e["function"] and e["line"].strip() in added:
            return e
    return None


def report(modules, min_score: float, diffs: bool) -> int:
    entries = load_equivalent()
    results = _mutants()
    if not any(_in_scope(name, modules) for name in results):
        print("no mutation results for these modules: run `python scripts/mutation.py run` first")
        return 1
    rows: dict[str, collections.Counter] = {m: collections.Counter() for m in modules}
    unexplained, used = [], set()
    for name, code in results.items():
        label = _in_scope(name, modules)
        if label is None:
            continue
        st = _status(code)
        rows[label]["mutants"] += 1
        if st in KILLED:
            rows[label]["killed"] += 1
            continue
        diff = _diff(name)
        eq = _is_equivalent(name, diff, entries) if st in ("survived", "no tests") else None
        if eq is not None:
            rows[label]["equivalent"] += 1
            used.add((eq["function"], eq["line"]))
            continue
        rows[label][st.replace(" ", "_")] += 1
        unexplained.append((name, st, diff))
    failed = False
    print(f"{'module':24} {'mutants':>7} {'killed':>6} {'equiv':>5} {'survived':>8} {'no tests':>8} {'other':>5} "
          f"{'score':>7}")
    for label, c in rows.items():
        other = c["mutants"] - c["killed"] - c["equivalent"] - c["survived"] - c["no_tests"]
        denom = c["mutants"] - c["equivalent"]
        score = 100.0 * c["killed"] / denom if denom else 100.0
        failed |= score < min_score
        print(f"{label:24} {c['mutants']:7d} {c['killed']:6d} {c['equivalent']:5d} {c['survived']:8d} "
              f"{c['no_tests']:8d} {other:5d} {score:6.1f}%")
    stale = [e for e in entries if (e["function"], e["line"]) not in used
             and _in_scope(e["function"] + "__mutmut_0", modules)]
    for e in stale:
        print(f"note: equivalent entry not seen this run (killed now, or the code changed): {e['function']}: "
              f"{e['line']}")
    for name, st, diff in unexplained:
        print(f"\n{st}: {name}")
        if diffs:
            print(diff)
    if failed:
        print(f"\nFAILED: a module scores below {min_score}% of non-equivalent mutants")
    return 1 if failed else 0


def run(modules, survivors: bool, fresh: bool, children: int) -> int:
    if fresh and (REPO / "mutants").exists():
        shutil.rmtree(REPO / "mutants")
    if survivors:
        names = [n for n, c in _mutants().items() if _in_scope(n, modules) and _status(c) not in KILLED]
        if not names:
            print("no surviving mutants to re-run")
            return 0
        # new tests were written for them: record again which test calls which function (about 35 s)
        (REPO / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    else:
        names = [g for m in modules for g in SCOPE[m]]
    t0 = time.time()
    rc = subprocess.call([sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *names], cwd=REPO)
    print(f"mutmut finished with exit code {rc} in {time.time() - t0:.0f} s")
    return rc


def equivalents_table() -> str:
    """The equivalent-mutant list as the markdown table of docs/testing.md."""
    rows = ["| function | mutated line | why no test of the job can kill it |", "| --- | --- | --- |"]
    for e in load_equivalent():
        func = e["function"].removeprefix("vgbench.").replace("xǁ", "").replace("ǁ", ".").replace(".x_", ".")
        line = e["line"].replace("|", "\\|")
        rows.append(f"| `{func}` | `{line}` | {e['reason']} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run mutmut over the scope, then report")
    r.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(SCOPE)} (default: all)")
    r.add_argument("--survivors", action="store_true", help="re-run only mutants that were not killed last time")
    r.add_argument("--keep", action="store_true", help="keep mutants/ from the last run (default: start fresh)")
    r.add_argument("--max-children", type=int, default=1, help="parallel mutant runs (default 1)")
    r.add_argument("--min-score", type=float, default=90.0)
    r.add_argument("--diffs", action="store_true", help="print the diff of every unexplained survivor")
    p = sub.add_parser("report", help="scores per module from the last run")
    p.add_argument("modules", nargs="*", metavar="MODULE")
    p.add_argument("--min-score", type=float, default=90.0)
    p.add_argument("--diffs", action="store_true")
    sub.add_parser("equivalents", help="print the equivalent-mutant list as a markdown table (docs/testing.md)")
    a = ap.parse_args(argv)
    if a.cmd == "equivalents":
        print(equivalents_table())
        return 0
    modules = list(a.modules) or list(SCOPE)
    unknown = sorted(set(modules) - set(SCOPE))
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(SCOPE)}")
    if a.cmd == "run":
        rc = run(modules, a.survivors, fresh=not (a.keep or a.survivors), children=a.max_children)
        if rc != 0:
            return rc
    return report(modules, a.min_score, a.diffs)


if __name__ == "__main__":
    sys.exit(main())
