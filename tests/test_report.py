"""Per-video report (vgbench.report): Mahalanobis distances and nearest neighbours in closed form, the ranking of
a planted outlier, the self-contained HTML page and its GIF thumbnails, the CLI."""
import base64
import io
import json
import re
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import MeanColorDetector
from vgbench.metrics.base import IncompleteProtocolWarning
from vgbench.metrics.stats import FeatureError, VideoStats
from vgbench.report import clip_gif, per_video_report, video_distances


def _st(features, ids=None):
    x = np.asarray(features, np.float64)
    mu = x.mean(0)
    sigma = (x - mu).T @ (x - mu) / len(x)  # population covariance, as the protocols
    ids = ids or [f"v{i}" for i in range(len(x))]
    return VideoStats(mu, sigma, len(x), {}, ids, [0] * len(x), x.astype(np.float32))


def test_closed_form_distances():
    real = _st([[1, 1], [1, -1], [-1, 1], [-1, -1]])  # mean 0, covariance I
    fake = _st([[3, 4], [0, 0], [1, 1]])
    d = video_distances(real, fake, ridge=0)
    assert d["mahalanobis"] == pytest.approx([5.0, 0.0, np.sqrt(2)], rel=1e-12)
    assert d["nearest"].tolist() == [0, 0, 0] and d["nearest_distance"] == pytest.approx([np.sqrt(13), np.sqrt(2), 0])
    assert d["real_mahalanobis"] == pytest.approx([np.sqrt(2)] * 4)
    d = video_distances(real, fake, ridge=0.5)  # eps = 0.5 * tr(I) / 2 = 0.5
    assert d["eps"] == 0.5 and d["mahalanobis"][0] == pytest.approx(5 / np.sqrt(1.5), rel=1e-12)
    scaled = _st([[2, 10], [2, -10], [-2, 10], [-2, -10]])  # covariance diag(4, 100)
    assert video_distances(scaled, _st([[2, 10]]), ridge=0)["mahalanobis"][0] == pytest.approx(np.sqrt(2))
    with pytest.raises(FeatureError, match="singular"):
        video_distances(_st([[1, 0], [-1, 0]]), fake, ridge=0)
    with pytest.raises(FeatureError, match="fake statistics keep no per-video features"):
        video_distances(real, VideoStats(fake.mu, fake.sigma, 3, {}))


def _static(colors, t=16):
    c = np.asarray(colors, np.uint8)
    return np.broadcast_to(c[:, None, None, None, :], (len(c), t, 8, 8, 3)).copy()


def _sets():
    rng = np.random.default_rng(0)
    colors = rng.integers(60, 200, (20, 3))
    real = _static(colors, t=20)
    fake = _static(np.concatenate([colors[:5], [[255, 0, 255]]]))  # five copies of real colours, one outlier
    return real, fake


def test_report_ranks_the_outlier_and_writes_a_self_contained_page(tmp_path):
    real, fake = _sets()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        res = per_video_report(real, fake, detector=MeanColorDetector(), top=2, html=tmp_path / "r.html",
                               progress=False)
    v = res["videos"]
    assert v[0]["id"].endswith("5") and v[0]["mahalanobis"] > 3 * res["real_mahalanobis_median"]
    assert [x["mahalanobis"] for x in v] == sorted((x["mahalanobis"] for x in v), reverse=True)
    for x in v[1:]:  # the copies: a real video with the same colour, at distance 0
        assert x["nearest_distance"] == 0.0 and x["nearest_real"][-1] == x["id"][-1]
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page and "http" not in page.replace('lang="en"', "")
    gifs = re.findall(r'src="data:image/gif;base64,([^"]+)"', page)
    assert len(gifs) == 8  # 2 worst + 2 best, each beside its nearest real video
    img = Image.open(io.BytesIO(base64.b64decode(gifs[0])))
    assert img.size == (8, 8) and img.n_frames == 1  # a static clip: PIL merges identical frames
    worst = page.index("farthest from the real distribution")
    assert page.index(v[0]["id"], worst) < page.index(v[1]["id"], worst)

    stats = tmp_path / "fake.npz"
    from vgbench.metrics.fvd import compute_stats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        compute_stats(fake, "fvd16", "fake", detector=MeanColorDetector(), progress=False).save(stats)
        again = per_video_report(real, stats, detector=MeanColorDetector(), html=tmp_path / "s.html", progress=False)
    assert again["videos"] == v and "no video" in (tmp_path / "s.html").read_text()
    # a statistics file of other detector weights is refused, naming both
    other = VideoStats.load(stats)
    other.manifest["detector"]["sha256"] = "f" * 64
    other.save(tmp_path / "other.npz")
    from vgbench.protocols import ProtocolError
    with pytest.raises(ProtocolError, match="different detector weights \\(None vs f{64}\\)"):
        per_video_report(real, tmp_path / "other.npz", detector=MeanColorDetector(), progress=False)


def test_clip_gif_frames_and_scale():
    frames = np.zeros((5, 40, 200, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(5)[:, None, None] * 50
    img = Image.open(io.BytesIO(clip_gif(frames, max_side=100)))
    assert img.size == (100, 20) and img.n_frames == 5
    img.seek(4)
    assert img.convert("RGB").getpixel((0, 0))[0] == 200


def test_cli(tmp_path, monkeypatch):
    import vgbench.detectors as D
    from vgbench.cli import main

    monkeypatch.setattr(D, "get_detector", lambda name="i3d", device=None, auto_fetch=True: MeanColorDetector())
    real, fake = _sets()
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    html = tmp_path / "report.html"
    args = ["report", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--html", str(html), "--top", "1",
            "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "worst: 000005  Mahalanobis 6.877" in r.output and html.is_file()
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output
    r = CliRunner().invoke(main, args + ["--overwrite", "--json"])
    assert json.loads(r.output)["videos"][0]["id"] == "000005"
