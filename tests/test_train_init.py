"""`vgbench train --init CKPT` (fine-tuning): a new run starts from the networks of a checkpoint -- a vgbench
training state or .vgb of the same model, or the authors' own files (a StyleGAN2-ADA persistence pickle, CTSVG's
torch.save dict, MotionVideoGAN's modelR/modelD_3d files) -- with every key and shape checked, no code run from the
file, the source recorded; mismatches and misuse are errors naming the file."""
from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest
import torch

from vgbench.training.config import load_config
from vgbench.training.loop import TrainingError, train, trainer_class

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module

FIX = Path(__file__).parent / "fixtures" / "motionvideogan_tiny"


def _trainer(model: str, data: str, run: Path, *, sets=(), **kw):
    cfg = load_config(model, "tiny", sets)
    cfg["data_source"] = data
    return trainer_class(model)(cfg, run, data, progress=False, **kw)


def _same(module: torch.nn.Module, state: dict) -> bool:
    own = module.state_dict()
    return own.keys() == state.keys() and all(torch.equal(own[k], state[k].to(own[k].dtype)) for k in own)


def _perturbed(module: torch.nn.Module, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: v + torch.randn(v.shape, generator=g) * 0.01 if v.is_floating_point() else v.clone()
            for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def stylegan_state(tmp_path_factory):
    """A vgbench training state and .vgb of the tiny StyleGAN-V after 1 step."""
    run = tmp_path_factory.mktemp("init") / "run"
    train("stylegan_v", "tiny", None, run, config="tiny", kimg=0.012, progress=False)
    return run


def test_a_training_state_starts_every_network_and_nothing_else(stylegan_state, tmp_path):
    state_path = next(stylegan_state.glob("snapshot-*.state.pt"))
    st = torch.load(state_path, map_location="cpu", weights_only=True)
    tr = _trainer("stylegan_v", "builtin:tiny", tmp_path / "a", init=state_path)
    for name in ("G", "D", "G_ema"):
        assert _same(tr.networks()[name], st[name]), name
    assert tr.step == 0 and tr.cur_nimg == 0 and not tr.G_opt.state  # a new run: counters and Adam start fresh
    assert tr.init_record["networks"] == ["D", "G", "G_ema"] and len(tr.init_record["sha256"]) == 64
    assert tr.G.training and not tr.G_ema.training


def test_a_vgb_starts_g_and_g_ema_and_the_run_records_it(stylegan_state, tmp_path):
    from vgbench.models.checkpoint import load_native

    vgb = next(stylegan_state.glob("snapshot-*.vgb"))
    _, state = load_native(vgb)
    fresh = _trainer("stylegan_v", "builtin:tiny", tmp_path / "fresh")
    from click.testing import CliRunner

    from vgbench.cli import main

    run = tmp_path / "b"
    r = CliRunner().invoke(main, ["train", "--model", "stylegan_v", "--dataset", "tiny", "--config", "tiny", "--out",
                                  str(run), "--kimg", "0.012", "--init", str(vgb), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 1
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["init"]["path"] == str(vgb) and cfg["init"]["networks"] == ["G", "G_ema"]
    start = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["init"]["sha256"] == cfg["init"]["sha256"]
    tr = _trainer("stylegan_v", "builtin:tiny", tmp_path / "c", init=vgb)
    assert _same(tr.G, state) and _same(tr.G_ema, state)
    assert _same(tr.D, fresh.D.state_dict())  # the discriminator keeps its seeded initialisation


def test_an_official_persistence_pickle(tmp_path):
    """The authors' network-snapshot-*.pkl (written in their layout by vgbench's fixture writer: G and G_ema)."""
    from vgbench.models import stylegan_v
    from vgbench.models.official_pickle import write_snapshot

    ref = _trainer("stylegan_v", "builtin:tiny", tmp_path / "ref")
    G = stylegan_v.Generator(**ref.gkw)
    G.load_state_dict(_perturbed(ref.G, 1))
    pkl = write_snapshot(tmp_path / "network-snapshot-000100.pkl", G, ref.gkw)
    tr = _trainer("stylegan_v", "builtin:tiny", tmp_path / "a", init=pkl)
    assert _same(tr.G, G.state_dict()) and _same(tr.G_ema, G.state_dict())
    assert tr.init_record["networks"] == ["G", "G_ema"]


def test_ctsvg_authors_dict(tmp_path):
    from tests.test_train_ctsvg import _frames_folder

    data = str(_frames_folder(tmp_path / "data"))
    ref = _trainer("ctsvg", data, tmp_path / "ref")
    theirs = {"g": _perturbed(ref.G, 1), "d": _perturbed(ref.D, 2), "d2": _perturbed(ref.D2, 3),
              "g_ema": _perturbed(ref.G, 4), "g_optim": {}, "args": argparse.Namespace(size=16)}
    path = tmp_path / "100000.pt"
    torch.save(theirs, path)
    tr = _trainer("ctsvg", data, tmp_path / "a", init=path)
    for ours, key in (("G", "g"), ("D", "d"), ("D2", "d2"), ("G_ema", "g_ema")):
        assert _same(tr.networks()[ours], theirs[key]), ours
    torch.save({"g_ema": theirs["g_ema"]}, tmp_path / "g_ema_only.pt")  # a release with G_ema alone
    tr = _trainer("ctsvg", data, tmp_path / "b", init=tmp_path / "g_ema_only.pt")
    assert _same(tr.G, theirs["g_ema"]) and _same(tr.D, ref.D.state_dict())


def test_motionvideogan_modelr_and_its_discriminators(tmp_path):
    from tests.test_train_motionvideogan import SETS, _frames_folder

    data = str(_frames_folder(tmp_path / "data"))
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    lstm = torch.load(FIX / "checkpoints/tiny/modelR_epoch_99.pth", map_location="cpu", weights_only=True)
    ref = _trainer("motionvideogan", data, tmp_path / "ref", sets=SETS)
    torch.save(lstm, ckpt / "modelR_epoch_99.pth")
    tr = _trainer("motionvideogan", data, tmp_path / "a", sets=SETS,
                  init=ckpt / "modelR_epoch_99.pth")
    assert _same(tr.G, lstm) and tr.init_record["networks"] == ["G"]
    d, d2 = _perturbed(ref.D, 1), _perturbed(ref.D2, 2)
    torch.save(d, ckpt / "modelD_3d_epoch_99.pth")
    torch.save(d2, ckpt / "modelD_3d_R_epoch_99.pth")
    tr = _trainer("motionvideogan", data, tmp_path / "b", sets=SETS,
                  init=ckpt / "modelR_epoch_99.pth")
    assert _same(tr.G, lstm) and _same(tr.D, d) and _same(tr.D2, d2)


def test_mismatches_are_errors_naming_the_file(stylegan_state, tmp_path):
    state_path = next(stylegan_state.glob("snapshot-*.state.pt"))
    vgb = next(stylegan_state.glob("snapshot-*.vgb"))
    with pytest.raises(TrainingError, match=r"the training state of a stylegan_v run, not of this one"):
        _trainer("mostgan_v", "builtin:tiny", tmp_path / "a", init=state_path)
    with pytest.raises(TrainingError, match=r"a stylegan_v checkpoint; this run starts from mostgan_v"):
        _trainer("mostgan_v", "builtin:tiny", tmp_path / "b", init=vgb)
    st = torch.load(state_path, map_location="cpu", weights_only=True)
    first = next(iter(st["D"]))
    st["D"][first] = st["D"][first][..., :1]  # another shape: a D built by another config
    torch.save(st, tmp_path / "other.state.pt")
    with pytest.raises(TrainingError, match=r"other.state.pt: weights do not match D as this config builds it: .*"
                                            r"1 with other shapes"):
        _trainer("stylegan_v", "builtin:tiny", tmp_path / "c", init=tmp_path / "other.state.pt")
    with pytest.raises(TrainingError, match="a resumed run continues from its own state"):
        train("stylegan_v", None, None, stylegan_state, resume=True, init=str(vgb), progress=False)
    bad = tmp_path / "junk.pkl"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(TrainingError, match="junk.pkl"):
        _trainer("stylegan_v", "builtin:tiny", tmp_path / "d", init=bad)
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    evil = tmp_path / "network-snapshot-evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": Payload()}))
    with pytest.raises(TrainingError, match="network-snapshot-evil.pkl"):
        _trainer("stylegan_v", "builtin:tiny", tmp_path / "f", init=evil)
    assert not (tmp_path / "pwned").exists()  # refused before anything ran
    nan = {k: v.clone() for k, v in torch.load(state_path, map_location="cpu", weights_only=True)["G"].items()}
    next(v for v in nan.values() if v.is_floating_point()).fill_(float("nan"))
    torch.save({"format": "vgbench.train-state/1", "model": "stylegan_v", "config": {}, "G": nan}, tmp_path / "n.pt")
    with pytest.raises(TrainingError, match="non-finite values in G"):
        _trainer("stylegan_v", "builtin:tiny", tmp_path / "e", init=tmp_path / "n.pt")
