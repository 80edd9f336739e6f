"""Every transcribed leaderboard cell re-read from the paper text files.

For each paper table, ``LAYOUTS`` says where the table starts in the text (an anchor line) and which
benchmark x metric each printed column holds. The test rebuilds every printed table row from the leaderboard
files and compares it, number by number and in column order, with the row in the paper text, so a typo, a
swapped column or a forgotten cell fails. Numbers quoted from running text are checked against their
sentence. A hand-picked sample of cells (independent of the data files) is checked as well. The papers live
outside the repository (``../shared/papers``); these tests skip cleanly when that folder is absent.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from vgbench.leaderboard.store import load_leaderboards

REPO = Path(__file__).resolve().parents[1]
PAPERS_DIR = REPO.parent / "shared" / "papers"
LB_DIR = REPO / "leaderboards"

pytestmark = pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason=f"paper texts not found at {PAPERS_DIR}")

_TOKEN = re.compile(r"N/A|n/a|\d+(?:\.\d+)?")
_TAG = re.compile(r"<[^>]+>")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(_TAG.sub(" ", text))


def cols(*spec: str) -> list[tuple[tuple[str, str], ...]]:
    """'ffs.fvd16' -> one printed cell; 'a.x+a.y' -> one printed cell holding two values (e.g. '191/920')."""
    return [tuple(tuple(part.split(".")) for part in s.split("+")) for s in spec]


SGV4 = ["ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128", "ucf101.fvd16", "ucf101.fvd128",
        "rainbowjelly.fvd16", "rainbowjelly.fvd128"]

# (paper key, table) -> layout. kind: "tsv" (one row per line, label then cells), "flat" (a whole table on
# one line, as in the MoStGAN-V appendix text), "transposed" (methods are columns).
LAYOUTS = {
    ("stylegan_v", "1"): dict(kind="tsv", anchor="Method\tFaceForensics\t\tSkyTimelapse\t\tUCF101",
                              cols=cols(*SGV4, "*.train_gpu_days")),
    ("stylegan_v", "2"): dict(kind="tsv", anchor="Method\tFaceForensics 256 ²\t\tSkyTimelapse 256 ²",
                              cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128")),
    ("stylegan_v", "3"): dict(kind="tsv", anchor="Number of frames\tFaceForensics",
                              cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128")),
    ("stylegan_v", "4"): dict(kind="tsv", anchor="Method\tFF\tST", cols=cols("ffs.fvd16", "sky.fvd16")),
    ("stylegan_v", "5"): dict(kind="tsv", anchor="Method\tInception Score [56]", cols=cols("ucf101.is")),
    ("stylegan_v", "6"): dict(kind="tsv", anchor="Method\tFVD_{16}\tFID\tTraining cost",
                              cols=cols("ffs.fvd16", "ffs.fid", "ffs.train_gpu_days")),
    ("mostgan_v", "1"): dict(kind="tsv", anchor="Method\tFaceForensics 256 <sup>2</sup>\t\tSkyTimelapse",
                             cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128", "rainbowjelly.fvd16",
                                       "rainbowjelly.fvd128", "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v", "2"): dict(kind="tsv", anchor="Number of Motion Styles\tFaceForensics",
                             cols=cols("ffs.fvd16", "ffs.fvd128", "rainbowjelly.fvd16", "rainbowjelly.fvd128",
                                       "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v", "3"): dict(kind="tsv", anchor="Modulation\tFaceForensics",
                             cols=cols("ffs.fvd16", "ffs.fvd128", "rainbowjelly.fvd16", "rainbowjelly.fvd128",
                                       "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v", "4"): dict(kind="tsv", anchor="Methods\tFaceForensics $256^2$\t\tCelebV-HQ",
                             cols=cols("ffs.fvd16", "ffs.fvd128", "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v_appendix", "5"): dict(kind="flat", anchor="Method FaceForensics SkyTimelapse CelebV-HQ MoStGAN-V",
                                      cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128",
                                                "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v_appendix", "6"): dict(kind="flat", anchor="Dimension FaceForensics SkyTimelapse CelebV-HQ",
                                      cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128",
                                                "celebvhq.fvd16", "celebvhq.fvd128")),
    ("mostgan_v_appendix", "7"): dict(kind="flat", anchor="Rank FaceForensics SkyTimelapse CelebV-HQ",
                                      cols=cols("ffs.fvd16", "ffs.fvd128", "sky.fvd16", "sky.fvd128",
                                                "celebvhq.fvd16", "celebvhq.fvd128")),
    ("motionvideogan", "I"): dict(kind="tsv", anchor="Approach\tUCF101\tFaceForensics\tSkyTimelapse",
                                  cols=cols("ucf101.fid", "ffs.fid", "sky.fid")),
    ("motionvideogan", "II"): dict(kind="tsv", anchor="Approach\tFVD $(\\downarrow)$\tIS",
                                   cols=cols("ucf101.fvd16", "ucf101.is")),
    ("motionvideogan", "III"): dict(kind="tsv", anchor="Approach\tFaceForensics\tSkyTimelapse",
                                    cols=cols("ffs.fvd16", "sky.fvd16")),
    ("motionvideogan", "IV"): dict(kind="tsv", anchor="Discriminator Settings\tLoss\tFVD", cols=cols("ffs.fvd16")),
    ("motionvideogan", "V"): dict(kind="transposed", anchor="Frame Interval k\t2\t3\t4\t5",
                                  lines=[("FVD (↓)", cols("ffs.fvd16")[0])]),
    ("motionvideogan", "VI"): dict(kind="tsv", anchor="Method\tUCF101\t\tFaceForensics\t\tSkyTimelapse",
                                   cols=cols("ucf101.fid", "ucf101.train_kimg", "ffs.fid", "ffs.train_kimg",
                                             "sky.fid", "sky.train_kimg")),
    ("ctsvg", "1"): dict(kind="tsv", anchor="Method\tFVD <sub>16/64</sub>",
                         cols=cols("mead_ctsvg.fvd16+mead_ctsvg.fvd64", "mead_ctsvg.lia_rt", "mead_ctsvg.arcface")),
    ("ctsvg", "2"): dict(kind="transposed", anchor="Methods\tStyleGAN-V\tImaGINator\tOurs(C)",
                         lines=[("FVD <sub>16</sub> ↓", cols("utd_mhad.fvd16")[0]),
                                ("(top-1, top-3)% ↑", cols("utd_mhad.top1+utd_mhad.top3")[0])]),
    ("ctsvg", "3"): dict(kind="tsv", anchor="Ablation\tFVD <sub>16</sub>\taccuracy",
                         cols=cols("utd_mhad.fvd16", "utd_mhad.top1+utd_mhad.top3")),
}


@pytest.fixture(scope="module")
def lb():
    return load_leaderboards(LB_DIR)


@pytest.fixture(scope="module")
def papers(lb):
    return {key: (PAPERS_DIR / p.file).read_text(encoding="utf-8") for key, p in lb.papers.items()}


def _table_rows(lb):
    """(paper, table) -> printed label -> {(benchmark, metric): cell literal as stored}."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    raw = {}
    import tomllib
    for bench in lb.benchmarks.values():
        data = tomllib.loads(bench.path.read_text(encoding="utf-8"))
        raw[bench.id] = data["rows"]
        for r in data["rows"]:
            src = r["source"]
            if "table" not in src:
                continue
            for key, val in r.items():
                if key in ("method", "variant", "printed", "kind", "group", "source", "protocol",
                           "protocol_detail", "quoted_from", "notes"):
                    continue
                cells = out[(src["paper"], src["table"])][r["printed"]]
                assert (bench.id, key) not in cells, f"{bench.id}: two rows printed {r['printed']!r} in one table"
                cells[(bench.id, key)] = val
    return out


def _group_tokens(cells: dict, group, layout_benches) -> list[str] | None:
    """Tokens a printed cell should hold; None when the row has none of its values (cell not in this row)."""
    vals = []
    for bench, metric in group:
        if bench == "*":
            found = {cells[(b, metric)] for b in layout_benches if (b, metric) in cells}
            assert len(found) <= 1, f"{metric} differs between benchmarks: {found}"
            vals.extend(found)
        elif (bench, metric) in cells:
            vals.append(cells[(bench, metric)])
    if not vals:
        return None
    if len(vals) > 1 and all(v in ("N/A", "n/a") for v in vals) and len(set(vals)) == 1:
        return [vals[0]]  # one printed "n/a" for the pair (top-1, top-3)
    return [t for v in vals for t in tokens(str(v))]


def _anchor_index(lines: list[str], anchor: str) -> int:
    hits = [i for i, line in enumerate(lines) if line.startswith(anchor) or (anchor in line and len(anchor) > 40)]
    assert len(hits) == 1, f"anchor {anchor!r} found {len(hits)} times"
    return hits[0]


def _block(lines: list[str], start: int) -> list[str]:
    """The table's lines: from below the anchor to the first blank line."""
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        out.append(line)
    return out


def test_every_table_row_is_covered_by_a_layout(lb):
    used = {(r.source.paper, r.source.table) for r in lb.rows() if r.origin == "published" and r.source.table}
    assert used - set(LAYOUTS) == set(), "tables without a layout in this test"
    assert set(LAYOUTS) - used == set(), "layouts for tables with no rows"


@pytest.mark.parametrize("key", sorted(LAYOUTS), ids=lambda k: f"{k[0]}-T{k[1]}")
def test_table_matches_paper_text(lb, papers, key):
    layout = LAYOUTS[key]
    rows = _table_rows(lb)[key]
    lines = papers[key[0]].splitlines()
    start = _anchor_index(lines, layout["anchor"])
    checked = 0
    if layout["kind"] == "transposed":
        labels = lines[start].split("\t")[1:]
        assert sorted(labels) == sorted(rows), f"printed labels {labels} vs data {sorted(rows)}"
        for prefix, group in layout["lines"]:
            line = next(l for l in lines[start + 1:start + 6] if l.startswith(prefix + "\t"))
            paper_cells = line.split("\t")[1:]
            for label, cell in zip(labels, paper_cells):
                expected = _group_tokens(rows[label], group, [])
                assert expected == tokens(cell), f"{key} {label!r} {prefix!r}: data {expected} vs paper {cell!r}"
                checked += 1
    else:
        benches = sorted({b for g in layout["cols"] for b, _ in g if b != "*"})
        for label, cells in rows.items():
            expected = []
            for group in layout["cols"]:
                t = _group_tokens(cells, group, benches)
                expected.extend(t or [])
            if layout["kind"] == "tsv":
                window = _block(lines, start)
                match = [l for l in window if l.startswith(label + "\t")]
                assert len(match) == 1, f"{key}: row {label!r} found {len(match)} times below the anchor"
                got = tokens(match[0][len(label):])
                assert got == expected, f"{key} row {label!r}: data {expected} vs paper {got}"
            else:
                text = lines[start]
                pos = text.find(" " + label + " ", len(layout["anchor"]) - len(label) - 2)
                assert pos >= 0, f"{key}: row {label!r} not found in the flattened table"
                got = tokens(text[pos + len(label) + 1:])[:len(expected)]
                assert got == expected, f"{key} row {label!r}: data {expected} vs paper {got}"
            checked += len(expected)
    assert checked > 0


def test_text_quoted_numbers_match_their_sentence(lb, papers):
    n = 0
    for row in lb.rows():
        if row.origin != "published" or not row.source.text:
            continue
        text = " ".join(papers[row.source.paper].split())
        printed = " ".join(row.printed.split())
        assert printed in text, f"{row.benchmark}: {printed!r} not in {row.source.file}"
        for key, cell in row.cells.items():
            assert cell.text and cell.text in tokens(printed), f"{row.benchmark} {row.method} {key}: {cell.text}"
            n += 1
    assert n >= 8


# An independent sample: (benchmark, paper, table, printed row label, metric, value as printed). Each is looked
# up in the data *and* searched in the paper text on the line of the row label (near the method name).
SAMPLE = [
    ("ffs", "stylegan_v", "1", "StyleGAN-V (ours)", "fvd128", "89.34"),
    ("sky", "stylegan_v", "1", "DIGAN [5] (concurrent work)", "fvd16", "83.11"),
    ("ucf101", "stylegan_v", "1", "MoCoGAN-HD [67]", "fvd128", "2606.5"),
    ("rainbowjelly", "stylegan_v", "1", "MoCoGAN [69]", "fvd128", "549.7"),
    ("ffs", "stylegan_v", "1", "MoCoGAN-HD [67]", "train_gpu_days", "7.5 + 9"),
    ("ffs", "stylegan_v", "2", "w/o our G", "fvd128", "41.77"),
    ("sky", "stylegan_v", "3", "$k = 8$", "fvd16", "73.12"),
    ("sky", "stylegan_v", "4", "Proper computation", "fvd16", "61.95 ± 0.92"),
    ("ucf101", "stylegan_v", "5", "Real videos", "is", "97.23 ± 0.38"),
    ("ffs", "stylegan_v", "6", "StyleGAN-V (ours)", "fid", "9.445"),
    ("celebvhq", "mostgan_v", "1", "MoCoGAN-HD [28]", "fvd128", "753.1"),
    ("rainbowjelly", "mostgan_v", "2", "K=1 (w/o MoStAtt)", "fvd128", "122.1"),
    ("celebvhq", "mostgan_v", "3", "strategy ii", "fvd128", "209.90"),
    ("ffs", "mostgan_v", "4", "w/ motion-diff", "fvd128", "140.6"),
    ("sky", "mostgan_v_appendix", "5", "w/o", "fvd128", "143.2"),
    ("celebvhq", "mostgan_v_appendix", "6", "d=256", "fvd16", "64.9"),
    ("sky", "mostgan_v_appendix", "7", "R=10", "fvd16", "83.3"),
    ("ucf101", "motionvideogan", "I", "MotionStyleGAN", "fid", "37.70"),
    ("ucf101", "motionvideogan", "II", "MotionVideoGAN (ours)", "is", "25.88 ± 0.39"),
    ("sky", "motionvideogan", "III", "MotionVideoGAN (ours)", "fvd16", "157.9"),
    ("ffs", "motionvideogan", "IV", "BVD+TVD+ID", "fvd16", "112.6"),
    ("sky", "motionvideogan", "VI", "StyleGAN2", "train_kimg", "12633"),
    ("mead_ctsvg", "ctsvg", "1", "Ours(UC)", "arcface", "0.97±0.018"),
    ("mead_ctsvg", "ctsvg", "1", "ImaGINator", "lia_rt", "0.041"),
    ("mead_ctsvg", "ctsvg", "1", "StyleGANV", "fvd64", "920"),
    ("utd_mhad", "ctsvg", "3", "w/o $\\mathbf{D}_t$", "fvd16", "526.21"),
]


@pytest.mark.parametrize("bench,paper,table,label,metric,value", SAMPLE,
                         ids=[f"{s[0]}-{s[1]}-T{s[2]}-{s[4]}" for s in SAMPLE])
def test_sample_cell(lb, papers, bench, paper, table, label, metric, value):
    row = next(r for r in lb.benchmarks[bench].rows
               if r.source.paper == paper and r.source.table == table and r.printed == label)
    cell = row.cells[metric]
    assert cell.display() == value.replace("±", " ± ").replace("  ", " ") or \
        f"{cell.text}±{cell.std_text}" == value
    want = tokens(value)
    near = []
    text = papers[paper]
    for m in re.finditer(re.escape(label), text):
        after = text[m.end():m.end() + 160].split("\n")[0] if "\t" in text[m.end():m.end() + 2] else \
            text[m.end():m.end() + 160]
        got = tokens(after)
        near.append(any(got[i:i + len(want)] == want for i in range(len(got))))
    assert any(near), f"{value} not found near {label!r} in {paper}"
    assert len({s[1] for s in SAMPLE}) == 5  # all five paper files are sampled


def test_missing_tables_of_the_appendix_are_recorded(lb, papers):
    missing = lb.papers["mostgan_v_appendix"].missing_tables
    assert len(missing) == 2
    assert "Table 9" in papers["mostgan_v_appendix"]
    assert "MUGEN" in papers["mostgan_v_appendix"] and not re.search(r"MoStGAN-Vtext\s+\d", papers["mostgan_v_appendix"])
