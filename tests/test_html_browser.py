"""The pages and figures vgbench writes, opened in a real headless browser (Debian's chromium, through the DevTools
protocol: tests/chromium.py): they load without console errors, tables sort, plots and thumbnails render.

Skipped only when chromium is missing; .ci/run installs it (apt-get install chromium)."""
import shutil
import warnings

import numpy as np
import pytest

from chromium import MISSING, find_chromium, load_page
from conftest import MeanColorDetector
from test_leaderboard import LB_DIR, invoke, record, write_jsonl

pytestmark = pytest.mark.skipif(find_chromium() is None, reason=MISSING)

IMAGES = "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"


def test_the_check_sees_each_kind_of_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>t</title></head><body><img src="missing.png">'
                    '<script>console.error("planted"); setTimeout(() => { throw new Error("late boom"); }, 10);'
                    "</script></body></html>")
    errors, (images,) = load_page(page, [IMAGES])
    assert len(errors) == 3 and images == [False]
    assert any("ERR_FILE_NOT_FOUND" in e and "missing.png" in e for e in errors)
    assert "console.error: planted" in errors and any("late boom" in e for e in errors)


SORT_FIRST_METRIC = """(() => {
  const t = document.getElementById('table-ffs');
  const th = t.tHead.rows[t.tHead.rows.length - 1].querySelector('th[data-type=num]');
  const col = Array.from(th.parentNode.cells).indexOf(th);
  th.click();
  const v = Array.from(t.tBodies[0].rows).map(r => r.cells[col].getAttribute('data-value'))
                 .filter(x => x !== '').map(parseFloat);
  return [th.getAttribute('aria-sort'), v.every((x, i) => i === 0 || v[i - 1] <= x), v.length];
})()"""


def test_leaderboard_page_with_measured_intervals(tmp_path):
    from vgbench.leaderboard import load_leaderboards, render

    lbdir = tmp_path / "leaderboards"
    shutil.copytree(LB_DIR, lbdir, ignore=shutil.ignore_patterns("measured"))
    rec = record(41.5)
    rec["metrics"]["fvd16"]["ci95"] = {"low": 39.0, "high": 45.0, "method": "basic bootstrap", "B": 500, "seed": 0}
    assert invoke("add", write_jsonl(tmp_path / "r.jsonl", rec), "--leaderboard-dir", lbdir).exit_code == 0
    page = tmp_path / "lb.html"
    page.write_text(render(load_leaderboards(lbdir), None, "html"), encoding="utf-8")
    errors, (images, (sort_dir, ordered, n), cis) = load_page(
        page, [IMAGES, SORT_FIRST_METRIC, "Array.from(document.querySelectorAll('span.ci')).map(s => s.textContent)"])
    assert errors == []
    assert len(images) >= 8 and all(images)  # every plot decoded and drawn
    assert sort_dir == "ascending" and ordered and n >= 5
    assert cis == [" [39.00, 45.00]"] * 2  # the main table and the "all transcribed rows" one


def test_per_video_report_page(tmp_path):
    from vgbench.metrics.base import IncompleteProtocolWarning
    from vgbench.report import per_video_report

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (10, 20, 16, 16, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (6, 16, 16, 16, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        per_video_report(real, fake, detector=MeanColorDetector(), top=2, html=tmp_path / "r.html", progress=False)
    errors, (images, frames) = load_page(tmp_path / "r.html", [IMAGES, "document.images[0].naturalWidth"])
    assert errors == [] and len(images) == 8 and all(images) and frames == 16


def test_length_figure_svg(tmp_path):
    from vgbench.temporal import length_svg

    curve = [{"protocol": "fvd16", "frames": 16, "value": 100.0, "low": 90.0, "high": 112.0},
             {"protocol": "fvd32", "frames": 32, "value": 150.0, "low": 140.0, "high": 161.0},
             {"protocol": "fvd128", "frames": 128, "unavailable": "too short"}]
    path = tmp_path / "curve.svg"
    path.write_text(length_svg({"a & b": curve}))
    errors, (circles, width) = load_page(path, ["document.querySelectorAll('circle').length",
                                                "document.documentElement.getBBox().width"])
    assert errors == [] and circles == 2 and width > 600
