"""Leaderboards: schema validation, located errors, ingest of measured results, and every output format."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from vgbench.leaderboard import LeaderboardError, MissingDependencyError, load_leaderboards, render
from vgbench.leaderboard.cells import parse_cell
from vgbench.leaderboard.cli import leaderboard
from vgbench.leaderboard.store import default_leaderboard_dir
from vgbench.leaderboard.table import build_table
from vgbench.leaderboard.tomlwrite import dumps_rows_file

REPO = Path(__file__).resolve().parents[1]
LB_DIR = REPO / "leaderboards"
I3D_SHA = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"


@pytest.fixture(scope="module")
def lb():
    return load_leaderboards(LB_DIR)


@pytest.fixture
def lbdir(tmp_path):
    """A private copy of the leaderboard folder (without measured rows) to modify."""
    dst = tmp_path / "leaderboards"
    shutil.copytree(LB_DIR, dst, ignore=shutil.ignore_patterns("measured"))
    return dst


def record(value=41.234, method="mostgan_v", dataset="ffs", **overrides) -> dict:
    rec = {
        "schema": "vgbench.result/1", "created": "2026-11-22T05:00:00Z",
        "model": {"name": method, "checkpoint": "x.pkl", "checkpoint_sha256": "ab" * 32} if method else None,
        "dataset": {"name": dataset} if dataset else None,
        "metrics": {"fvd16": {"value": value,
                              "protocol": {"name": "fvd16", "version": "1.0.0", "params_sha256": "cd" * 32},
                              "detector": {"name": "i3d", "weights": "i3d_kinetics400", "sha256": I3D_SHA},
                              "counts": {"real_used": 704, "fake_used": 2048}, "protocol_complete": True}},
        "seeds": {"offset_seed": 0},
        "env": {"vgbench": "0.1.0", "git_commit": "abc123def4567890", "python": "3.11.7",
                "packages": {"torch": "2.13.0"}},
    }
    rec.update(overrides)
    return rec


def write_jsonl(path: Path, *records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def invoke(*args):
    return CliRunner().invoke(leaderboard, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------ data + schema


def test_every_file_validates_and_counts(lb):
    counts = {b.id: len(b.rows) for b in lb.benchmarks.values()}
    assert counts == {"ffs": 76, "sky": 49, "ucf101": 24, "rainbowjelly": 18, "celebvhq": 25, "mead1024": 1,
                      "mead_ctsvg": 6, "utd_mhad": 7, "horseback": 2}
    assert list(lb.benchmarks)[:4] == ["ffs", "sky", "ucf101", "rainbowjelly"]
    assert set(lb.papers) == {"stylegan_v", "mostgan_v", "mostgan_v_appendix", "motionvideogan", "ctsvg"}
    for row in lb.rows():
        assert row.source.file == lb.papers[row.source.paper].file
        assert row.protocol in lb.protocols and row.line is not None
    res = invoke("validate", "--leaderboard-dir", LB_DIR)
    assert res.exit_code == 0 and "ok: 9 benchmarks, 208 rows" in res.output


def test_missing_values_are_never_zero(lb):
    vgpt = next(r for r in lb.benchmarks["ffs"].rows if r.method == "VideoGPT" and r.source.table == "1")
    assert vgpt.cells["fvd128"].value is None and vgpt.cells["fvd128"].missing == "N/A"
    imag = next(r for r in lb.benchmarks["utd_mhad"].rows if r.method == "ImaGINator")
    assert imag.cells["top1"].value == 0.0  # a real 0 % accuracy, printed "(0,25)"
    sgv = next(r for r in lb.benchmarks["utd_mhad"].rows if r.method == "StyleGAN-V")
    assert sgv.cells["top1"].is_missing and sgv.cells["top3"].missing == "n/a"


def test_parse_cell():
    c = parse_cell("23.94 ± 0.73")
    assert (c.value, c.std, c.display()) == (23.94, 0.73, "23.94 ± 0.73")
    assert parse_cell("0.97±0.018").display() == "0.97 ± 0.018"
    assert parse_cell("209.90").display() == "209.90"  # printed precision survives
    assert parse_cell("7.5 + 9", allow_sum=True).value == 16.5
    assert parse_cell("0").value == 0.0 and parse_cell("N/A").value is None
    for bad in ("7.5 + 9", "12,3", "", True, float("nan"), [1]):
        with pytest.raises(ValueError):
            parse_cell(bad)


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old,new,needle,message", [
    ('fvd128 = "89.34"\ntrain_gpu_days = "8"', 'fvd_128 = "89.34"\ntrain_gpu_days = "8"', "fvd_128 =",
     "unknown key 'fvd_128' (did you mean 'fvd128'?)"),
    ('fvd16 = "124.7"\nfvd128 = "257.3"', 'fvd16 = "124,7"\nfvd128 = "257.3"', 'fvd16 = "124,7"', "cannot read '124,7'"),
    ('kind = "reference"', 'kind = "baseline"', 'kind = "baseline"', "'kind' must be one of"),
    ('protocol = "stylegan_v_fvd_subtleties"\nprotocol_detail = "First n', 'protocol = "nope"\nprotocol_detail = "First n',
     'protocol = "nope"', "unknown protocol 'nope'"),
])
def test_malformed_row_names_file_and_line(lbdir, old, new, needle, message):
    path = lbdir / "ffs.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(LeaderboardError) as e:
        load_leaderboards(lbdir)
    line = _line_of(path, needle)
    assert f"{path}:{line}:" in str(e.value) and message in str(e.value)
    res = invoke("validate", "--leaderboard-dir", lbdir)
    assert res.exit_code == 1 and f"ffs.toml:{line}:" in res.output


def test_duplicate_row_and_bad_source_are_located(lbdir):
    path = lbdir / "sky.toml"
    text = path.read_text()
    first = text.index("[[rows]]")
    block = text[first:text.index("[[rows]]", first + 1)]
    path.write_text(text + "\n" + block.replace("004_1dac75df22c80c58.txt", "999.txt"))
    path2 = lbdir / "rainbowjelly.toml"
    path2.write_text(path2.read_text() + "\n" + block)
    with pytest.raises(LeaderboardError) as e:
        load_leaderboards(lbdir)
    errors = {str(x) for x in e.value.errors}
    n_sky = len(path.read_text().splitlines())
    assert any("sky.toml:" in x and "does not match paper 'stylegan_v'" in x for x in errors)
    assert any("rainbowjelly.toml:" in x and "duplicate row" in x for x in errors)
    assert n_sky > 0


def test_toml_syntax_error_has_line(lbdir):
    path = lbdir / "horseback.toml"
    path.write_text(path.read_text().replace('fvd = "146.65"', 'fvd = "146.65'))
    with pytest.raises(LeaderboardError) as e:
        load_leaderboards(lbdir)
    assert e.value.path == str(path) and e.value.line == _line_of(path, 'fvd = "146.65')


def test_default_dir_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("VGBENCH_LEADERBOARDS", raising=False)
    assert default_leaderboard_dir() == LB_DIR
    monkeypatch.setenv("VGBENCH_LEADERBOARDS", str(tmp_path))
    assert default_leaderboard_dir() == tmp_path


def test_toml_writer_round_trips():
    rows = [{"method": 'odd "name"\\ with\ttab', "fvd16": 1e-05, "n": 3, "ok": True,
             "provenance": {"packages": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"},
                            "seeds": {"offset_seed": 0}, "metrics": {"fvd16": {"x": "y"}}}}]
    text = dumps_rows_file({"schema": "s", "benchmark": "b"}, rows, comment="hello")
    assert tomllib.loads(text) == {"schema": "s", "benchmark": "b", "rows": rows}


# ------------------------------------------------------------------------------------------------ ingest


def test_add_record_then_dedupe(lbdir, tmp_path):
    published = (lbdir / "ffs.toml").read_bytes()
    results = write_jsonl(tmp_path / "results.jsonl", record())
    res = invoke("add", results, "--leaderboard-dir", lbdir)
    assert res.exit_code == 0, res.output
    assert "added 1 row(s) to ffs: MoStGAN-V" in res.output
    data = tomllib.loads((lbdir / "measured" / "ffs.toml").read_text())
    (row,) = data["rows"]
    assert row["origin"] == "measured" and row["fvd16"] == 41.234 and row["method"] == "MoStGAN-V"
    prov = row["provenance"]
    assert prov["record_method"] == "mostgan_v" and prov["checkpoint_sha256"] == "ab" * 32
    assert prov["vgbench"] == "0.1.0" and prov["git_commit"] == "abc123def4567890"
    m = prov["metrics"]["fvd16"]
    assert (m["protocol_version"], m["detector_sha256"], m["params_sha256"]) == ("1.0.0", I3D_SHA, "cd" * 32)
    assert m["real_used"] == 704 and m["protocol_complete"] is True

    res = invoke("add", results, "--leaderboard-dir", lbdir)
    assert res.exit_code == 0 and "already present" in res.output and "nothing new to add" in res.output
    assert len(tomllib.loads((lbdir / "measured" / "ffs.toml").read_text())["rows"]) == 1
    assert (lbdir / "ffs.toml").read_bytes() == published  # published rows are never touched
    assert not [p for p in (lbdir / "measured").iterdir() if p.name.endswith(".tmp")]
    assert "measured" in invoke("list", "--leaderboard-dir", lbdir).output


def test_two_measured_rows_side_by_side_with_published(lbdir, tmp_path):
    results = write_jsonl(tmp_path / "r.jsonl", record(41.0), record(43.5, created="2026-11-23T00:00:00Z"))
    assert invoke("add", results, "--leaderboard-dir", lbdir).exit_code == 0
    table = build_table(load_leaderboards(lbdir), ["ffs"])
    labels = [(r.method, r.origin) for r in table.rows]
    i = labels.index(("MoStGAN-V", "published"))
    assert labels[i + 1:i + 3] == [("MoStGAN-V", "measured")] * 2
    md = render(load_leaderboards(lbdir), ["ffs"], "md")
    assert "measured with vgbench 0.1.0 @abc123d" in md and "41.00" in md and "43.50" in md
    assert "checkpoint sha256 abababababab" in md and f"detector i3d sha256 {I3D_SHA[:12]}" in md


@pytest.mark.parametrize("mutate,message", [
    (lambda r: r["metrics"]["fvd16"]["protocol"].pop("version"), "has no protocol version"),
    (lambda r: r["metrics"]["fvd16"]["detector"].pop("sha256"), "has no detector sha256"),
    (lambda r: r.update(model=None), "pass --method NAME"),
    (lambda r: r.update(dataset=None), "pass --benchmark NAME"),
    (lambda r: r.update(dataset={"name": "kinetics"}), "unknown benchmark 'kinetics'"),
    (lambda r: r.update(dataset={"name": "mead"}), "matches several benchmarks"),
    (lambda r: r["metrics"]["fvd16"].update(value=float("nan")), "no finite numeric 'value'"),
    (lambda r: r.update(metrics={"kid": {"value": 1.0}}), "none of the record's metrics"),
    (lambda r: r.update(schema="other/1"), "not a vgbench result record"),
])
def test_add_refuses_bad_records_naming_file_and_line(lbdir, tmp_path, mutate, message):
    bad = record()
    mutate(bad)
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record(50.0)) + "\n\n" + json.dumps(bad) + "\n")
    res = invoke("add", path, "--leaderboard-dir", lbdir)
    assert res.exit_code == 1 and f"{path}:3:" in res.output and message in res.output
    assert not (lbdir / "measured").exists()  # all-or-nothing: the good first record was not written either


def test_add_overrides_aliases_and_warnings(lbdir, tmp_path):
    rec = record(method=None, dataset=None)
    rec["metrics"]["is_ucf101"] = {"value": 30.1, "std": 0.5, "protocol": {"name": "is_ucf101", "version": "1"},
                                   "detector": {"name": "c3d", "sha256": "ef" * 32}}
    rec["metrics"]["fvd16"]["protocol_complete"] = False
    rec["metrics"]["kid"] = {"value": 0.1}
    path = write_jsonl(tmp_path / "r.jsonl", rec)
    res = invoke("add", path, "--method", "MyGAN", "--benchmark", "UCF-101", "--leaderboard-dir", lbdir)
    assert res.exit_code == 0, res.output
    assert "metric 'kid' has no leaderboard column" in res.output
    lbm = load_leaderboards(lbdir)
    (row,) = lbm.benchmarks["ucf101"].measured
    assert row.method == "MyGAN" and row.cells["is"].value == 30.1 and row.cells["is"].std == 0.5
    assert "protocol incomplete" in row.notes[0]
    md = render(lbm, ["ucf101"], "md")
    assert "MyGAN" in md and "30.10 ± 0.50" in md and "**30.10 ± 0.50**" in md  # best IS (real videos excluded)


def test_bad_jsonl_line_is_located(lbdir, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record()) + "\n{not json\n")
    res = invoke("add", path, "--leaderboard-dir", lbdir)
    assert res.exit_code == 1 and f"{path}:2: not valid JSON" in res.output


def test_add_refuses_the_bundled_copy(lbdir, tmp_path, monkeypatch):
    import vgbench.leaderboard.ingest as ingest

    monkeypatch.setattr(ingest, "bundled_leaderboard_dir", lambda: lbdir)
    res = invoke("add", write_jsonl(tmp_path / "r.jsonl", record()), "--leaderboard-dir", lbdir)
    assert res.exit_code == 1 and "bundled inside the installed package" in res.output


# ------------------------------------------------------------------------------------------------ rendering


def _md_rows(md: str) -> dict[str, list[str]]:
    lines = [l for l in md.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for l in lines[2:]:
        cells = [c.strip() for c in l.strip("|").split("|")]
        rows[re.sub(r"<sup>.*?</sup>", "", cells[0])] = dict(zip(header, cells))
    return rows


def test_render_markdown_ffs(lb):
    md = invoke("render", "--benchmark", "ffs", "--leaderboard-dir", LB_DIR).output
    rows = _md_rows(md)
    assert list(rows) == ["MoCoGAN", "MoCoGAN+SG2", "MoCoGAN-HD", "VideoGPT", "DIGAN", "StyleGAN-V", "StyleGAN2",
                          "MoStGAN-V", "MotionVideoGAN"]
    assert rows["StyleGAN-V"]["FVD16 ↓"] == "47.41" and rows["StyleGAN-V"]["FID ↓"] == "9.445"
    assert rows["MoStGAN-V"]["FVD16 ↓"] == "**39.7**" and rows["MoStGAN-V"]["FVD128 ↓"] == "**72.6**"
    assert rows["VideoGPT"]["FVD128 ↓"] == "—" and rows["MoCoGAN-HD"]["Training cost (GPU-days) ↓"] == "7.5 + 9"
    assert rows["MoCoGAN-HD"]["FID ↓"] == "**7.12**"   # StyleGAN2's 8.42 is a reference row, and not lower anyway
    assert rows["StyleGAN2"]["Training cost (GPU-days) ↓"] == "7.72"  # reference rows never bold
    assert rows["MoCoGAN"]["Training cost (GPU-days) ↓"] == "**5**"
    assert rows["StyleGAN-V"]["Source"].startswith("StyleGAN-V Tab. 1, 6")
    assert "Protocol as stated by MoStGAN-V" in md and "— = not reported" in md


def test_best_value_lower_and_higher(lb):
    t = build_table(lb, ["ucf101"])
    best = {c: r.label for r in t.rows for c in r.best}
    assert best["ucf101.fvd16"] == "MotionVideoGAN" and best["ucf101.is"] == "MotionVideoGAN"  # 1031.4 / 25.88
    assert best["ucf101.fvd128"] == "StyleGAN-V"
    t = build_table(lb, ["mead_ctsvg"])
    best = {c: sorted(r.label for r in t.rows if c in r.best) for c in {c for r in t.rows for c in r.best}}
    assert best["mead_ctsvg.lia_rt"] == ["CTSVG (unconditional)"]          # higher is better: 0.79
    assert best["mead_ctsvg.arcface"] == ["CTSVG (unconditional)"]         # 0.97
    assert best["mead_ctsvg.fvd16"] == ["CTSVG (conditional)"]             # lower is better: 115


def test_best_value_ties_are_all_bold(lbdir):
    path = lbdir / "celebvhq.toml"
    path.write_text(path.read_text().replace('fvd16 = "72.9"', 'fvd16 = "56.1"', 1))
    t = build_table(load_leaderboards(lbdir), ["celebvhq"])
    assert sorted(r.label for r in t.rows if "celebvhq.fvd16" in r.best) == ["DIGAN", "MoStGAN-V"]


def test_default_selection_and_filters(lb):
    default = build_table(lb, ["ffs"])
    assert all(r.kind in ("main", "reference") and not any(x.quoted_from for x in r.rows) for r in default.rows)
    full = build_table(lb, ["ffs"], kinds=["main", "ablation", "protocol", "component", "reference"], with_quoted=True)
    assert len(full.rows) > 60
    proto = build_table(lb, ["ffs"], kinds=["protocol"])
    assert not any(r.best for r in proto.rows)  # no "best" among protocol variants of one checkpoint
    assert {r.cells["ffs.fvd16"].display() for r in proto.rows} >= {"76.82 ± 1.57", "342.5"}
    with pytest.raises(LeaderboardError, match="unknown paper"):
        build_table(lb, ["ffs"], papers=["nope"])


def test_multi_benchmark_reproduces_stylegan_v_table1_layout(lb):
    t = build_table(lb, ["ffs", "sky", "ucf101", "rainbowjelly"], kinds=["main"], papers=["stylegan_v"])
    keys = [c.key for c in t.columns]
    assert keys[:2] == ["ffs.fvd16", "ffs.fvd128"] and keys[-1] == "train_gpu_days"  # cost collapsed
    sgv = next(r for r in t.rows if r.label == "StyleGAN-V")
    assert [sgv.cells[k].display() for k in ("ffs.fvd16", "sky.fvd128", "ucf101.fvd16", "rainbowjelly.fvd128")] == \
        ["47.41", "197.0", "1431.0", "262.5"]
    assert "rainbowjelly.fvd16" in next(r for r in t.rows if r.label == "VideoGPT").best  # 136.0


def test_render_csv(lb):
    text = render(lb, ["utd_mhad"], "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    by = {r["method"]: r for r in rows}
    assert by["ImaGINator"]["top1"] == "0.0" and by["StyleGAN-V"]["top1"] == ""  # 0 stays 0, n/a stays empty
    assert by["CTSVG (conditional)"]["fvd16"] == "184.55" and "fvd16" in by["CTSVG (conditional)"]["best"]
    text = render(lb, ["ucf101"], "csv")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["method"] == "DIGAN")
    assert (row["is"], row["is_std"], row["fvd128"]) == ("23.16", "1.13", "2293.7")


def test_render_latex_structure_and_compile(lb, tmp_path):
    tex = render(lb, ["ffs", "sky"], "latex", standalone=True)
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", body).group(1)
    for marker in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-", r"\multicolumn{"):
        assert marker in body
    data_rows = [l for l in body.splitlines() if l.endswith(r"\\") and "Method" not in l and "multicolumn" not in l]
    assert data_rows and all(l.count(" & ") == len(spec) - 1 for l in data_rows)
    assert r"\textbf{39.7}" in tex and "---" in tex and r"$\downarrow$" in tex
    assert tex.count("{") == tex.count("}") and "²" not in tex and "_" not in re.sub(r"\$[^$]*\$|\\_", "", tex)
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: structural checks only")
    (tmp_path / "t.tex").write_text(tex)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


@pytest.fixture(scope="module")
def html_page(lb):
    return render(lb, None, "html")


def test_render_html_structure(lb, html_page):
    page = html_page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for bid in lb.benchmarks:
        assert f'id="table-{bid}"' in page and f'id="bench-{bid}"' in page
    assert not re.search(r"""(src|href)=["']https?://""", page)  # self-contained
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) >= 8 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    assert "Training cost (GPU-days) vs FVD16" in page and "FVD16 vs FVD128" in page
    assert page.count("<table") == page.count("</table>") and "table.sortable" in page
    assert '<td data-value="47.41">47.41</td>' in page and "<strong>39.7</strong>" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_render_html_in_headless_chromium(html_page, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed: structural checks only")
    page = tmp_path / "lb.html"
    page.write_text(html_page, encoding="utf-8")
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
                           "--dump-dom", page.as_uri() + "#selftest"], capture_output=True, text=True, timeout=60)
    n_tables = html_page.count('class="lb sortable"')
    assert f'data-sortable="{n_tables}"' in proc.stdout, proc.stderr[-2000:]
    assert f'data-selftest="ok:{n_tables}"' in proc.stdout


def test_html_cli_writes_file(tmp_path):
    out = tmp_path / "lb.html"
    res = invoke("render", "--format", "html", "--out", out, "--leaderboard-dir", LB_DIR)
    assert res.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")


def test_render_errors(lb):
    res = invoke("render", "--format", "md", "--leaderboard-dir", LB_DIR)
    assert res.exit_code == 1 and "--benchmark is required" in res.output
    res = invoke("render", "--benchmark", "nope", "--leaderboard-dir", LB_DIR)
    assert res.exit_code == 1 and "unknown benchmark 'nope'" in res.output


def test_missing_render_dependency_message(lb, monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.split(".")[0] in ("pandas", "tabulate"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError, match=r"pip install vgbench\[leaderboard\]"):
        render(lb, ["ffs"], "md")


def test_import_stays_light():
    code = ("import sys, vgbench.leaderboard, vgbench.leaderboard.cli; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'tabulate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_measured_intervals_become_cells_and_error_bars(lbdir, tmp_path):
    """A record's ci95 reaches the measured cell, the HTML cell (data-ci95) and the plot (asymmetric error bars)."""
    from vgbench.leaderboard import plots

    rec = record(41.5)
    rec["metrics"]["fvd16"]["ci95"] = {"low": 39.0, "high": 45.0, "method": "basic bootstrap", "B": 500, "seed": 0}
    rec["metrics"]["fvd128"] = {**rec["metrics"]["fvd16"], "value": 120.0,
                                "protocol": {"name": "fvd128", "version": "1.0.0", "params_sha256": "ef" * 32},
                                "ci95": {"unavailable": "statistics without per-video features"}}
    res = invoke("add", write_jsonl(tmp_path / "r.jsonl", rec), "--leaderboard-dir", lbdir)
    assert res.exit_code == 0, res.output
    (row,) = tomllib.loads((lbdir / "measured" / "ffs.toml").read_text())["rows"]
    assert row["fvd16"] == {"value": 41.5, "ci95": [39.0, 45.0]} and row["fvd128"] == 120.0
    lbm = load_leaderboards(lbdir)
    (m,) = lbm.benchmarks["ffs"].measured
    assert m.cells["fvd16"].ci95 == (39.0, 45.0) and m.cells["fvd128"].ci95 is None
    page = render(lbm, ["ffs"], "html")
    assert 'data-value="41.5" data-ci95="39.0 45.0" title="95% bootstrap interval [39.00, 45.00]"' in page
    assert '<span class="ci"> [39.00, 45.00]</span>' in page

    table = build_table(lbm, ["ffs"])
    pts = plots._points(table, "ffs", "fvd16", "fvd128")
    fig = plots.figure(pts, "x", "y", "t", log=True)
    (bars,) = [c for c in fig.axes[0].containers if type(c).__name__ == "ErrorbarContainer"]
    _, _, (xbars,) = bars  # only x has an interval: one LineCollection
    (seg,) = xbars.get_segments()
    assert seg.tolist() == [[39.0, 120.0], [45.0, 120.0]]
    published_only = [p for p in pts if p[3] == "published"]
    assert not [c for c in plots.figure(published_only, "x", "y", "t", log=True).axes[0].containers
                if type(c).__name__ == "ErrorbarContainer"]

    # the text formats print it after the value (and explain it once); csv gets two columns
    md = render(lbm, ["ffs"], "md")
    assert _md_rows(md)["MoStGAN-V"]["FVD16 ↓"] == "41.50 [39.00, 45.00]"
    assert "; [low, high] after a measured value = its 95% bootstrap interval (docs/confidence.md)." in md
    assert "| MoStGAN-V<sup>h</sup>        | 41.50 [39.00, 45.00] |     120.00 |        — |" in md
    assert "bootstrap interval" not in render(lb_published := load_leaderboards(LB_DIR), ["ffs"], "md")
    rows = list(csv.DictReader(io.StringIO(render(lbm, ["ffs"], "csv"))))
    assert list(rows[0])[6:11] == ["fvd16", "fvd16_ci95_low", "fvd16_ci95_high", "fvd128", "fid"]
    (meas,) = [r for r in rows if r["origin"] == "measured"]
    assert (meas["fvd16"], meas["fvd16_ci95_low"], meas["fvd16_ci95_high"]) == ("41.5", "39.0", "45.0")
    assert all(r["fvd16_ci95_low"] == r["fvd16_ci95_high"] == "" for r in rows if r["origin"] != "measured")
    assert "ci95" not in render(lb_published, ["ffs"], "csv")
    tex = render(lbm, ["ffs"], "latex")
    assert ("MoStGAN-V\\textsuperscript{h} & 41.50 [39.00, 45.00] & 120.00 & --- & --- & measured with vgbench 0.1.0 "
            "@abc123d \\\\") in tex
    assert "[low, high] after a measured value = its 95\\% bootstrap interval" in tex

    for bad, msg in (([1.0], "two finite numbers"), ([5.0, 4.0], "is above high")):
        with pytest.raises(ValueError, match=msg):
            parse_cell({"value": 4.5, "ci95": bad})
