"""``vgbench data prepare`` and ``vgbench data verify``: build a dataset card's real set from the raw download with
its recipe (:mod:`vgbench.data.recipes`), and check a built set against its manifest.

Output: the StyleGAN-V layout ``ROOT/<video>/<%06d.jpg>`` and ``ROOT/manifest.json``. The manifest records the
card, the recipe (name, version, every parameter and quirk, the ``--set`` overrides), the library versions that
made the pixels, per video the source files' sha256, the frame count, the frame size and a digest of its frame
files, every source that could not be used (file and problem), and ``listing_content_hash``: the hash of the
video listing that the statistics cache keys on (:meth:`~vgbench.io.base.VideoSource.content_hash` of
``ROOT`` opened as a frames folder), so a cached statistic can be traced back to its preparation.

A recipe with subsets (UTD-MHAD's split) writes ``ROOT/<subset>/<video>/<%06d.jpg>`` instead: each subset folder is
a frames folder of its own, ``listing_content_hash`` is ``{subset: hash}``, the manifest lists ``subsets``, and
what the recipe knows about each video (``about``: e.g. its action and subject) is in its manifest entry. Files the
recipe writes beside the videos (:meth:`~.recipes.Recipe.side_files`, e.g. ``ROOT/train/dataset.json``) are written
once all jobs are done, and their sha256 is recorded under ``files`` and re-checked by ``verify``.

Work is split in jobs (one per raw video), run in ``workers`` processes. A job writes its frames into
``ROOT/.vgbench-partial/<job>/<video>/``; when it is complete its record is written (atomically) to
``ROOT/.vgbench-prepare/<job>.json`` and only then are its folders renamed into ``ROOT``. A run that is killed
leaves finished videos in place and a partial folder that the next run of the same command deletes and redoes;
a finished video is never written again. ``ROOT`` must be empty or hold a run of the same card, source, recipe and
parameters; the state folders are removed once ``manifest.json`` is written.

With ``zip_output`` the finished folder is also written as ``ROOT.zip`` in the layout StyleGAN-V's loader reads
(one top-level folder named like ``ROOT``, explicit directory entries, frames stored uncompressed, the manifest
inside); its sha256 and listing hash (equal to the folder's: ids, frame counts and uncompressed sizes) are added to
``ROOT/manifest.json``. An existing ``ROOT.zip`` is only replaced if the manifest records it.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import shutil
import zipfile
from pathlib import Path

from ..io.base import VideoReadError
from ..io.frames import FrameFolderSource
from ..io.images import IMAGE_EXTS
from ..io.zipframes import ZipFramesSource
from ..provenance import utc_now
from ..utils import atomic_write, sha256_file, sha256_json
from .cards import load_card
from .recipes import Job, PrepareError, get_recipe
from .steps import encode_jpeg

__all__ = ["prepare", "verify", "PrepareError", "MANIFEST", "FORMAT"]

MANIFEST = "manifest.json"
FORMAT = "vgbench-prepared-dataset/1"
STATE, PARTIAL = ".vgbench-prepare", ".vgbench-partial"


def _identity(card: str, recipe, params: dict, source: Path) -> dict:
    """What must match for a run to continue in a folder: card, recipe, version, parameters, quirks and the raw
    folder (a run never mixes two sources)."""
    return {"card": card, "source": str(source.resolve()), "recipe": recipe.name, "version": recipe.version,
            "params": {k: v for k, v in params.items() if k not in recipe.quirks},
            "quirks": {k: params[k] for k in recipe.quirks}}


def _libraries() -> dict:
    import av
    import PIL

    libs = {"pillow": PIL.__version__, "av": av.__version__}
    try:
        import cv2

        libs["opencv"] = cv2.__version__
    except ImportError:
        libs["opencv"] = None
    return libs


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PrepareError(f"{path}: cannot read it ({e}); it is not a manifest of vgbench data prepare") from e


def _check_root(out: Path, identity: dict) -> dict:
    """The records of an earlier run of the same preparation in ``out`` ({job: record}); refuses anything else."""
    if out.exists() and not out.is_dir():
        raise PrepareError(f"{out} is a file; --out must be a folder")
    if not out.exists() or not any(out.iterdir()):
        return {}
    state = out / STATE
    if (out / MANIFEST).is_file():
        earlier = _read_json(out / MANIFEST)
    elif (state / "recipe.json").is_file():
        earlier = _read_json(state / "recipe.json")
    else:
        raise PrepareError(f"{out} is not empty and holds no {MANIFEST} of vgbench data prepare; refusing to write "
                           f"into it (choose an empty or new folder)")
    theirs = {k: earlier.get(k) for k in identity}
    if theirs != identity:
        diff = sorted(k for k in identity if theirs[k] != identity[k])
        raise PrepareError(f"{out} was prepared with another {' / '.join(diff)}: {json.dumps(theirs, sort_keys=True)}"
                           f"; this run asks for {json.dumps(identity, sort_keys=True)}. Use a new folder")
    records = dict(earlier.get("jobs", {}))
    if state.is_dir():
        for p in sorted(state.glob("*.json")):
            if p.name != "recipe.json":
                rec = _read_json(p)
                records[rec["job"]] = rec
    return records


def _frames_digest(items) -> str:
    """Digest of one video's frame files: sha256 of the JSON list of [file name, sha256 of its bytes]."""
    return sha256_json([[name, digest] for name, digest in items])


def _run_job(recipe_name: str, params: dict, job: Job, out: str) -> dict:
    """Write one job's frames into its partial folder; its record, or ``{"job", "bad"}`` if the source is unusable.
    Runs in a worker process."""
    recipe = get_recipe(recipe_name)
    tmp = Path(out) / PARTIAL / job.id
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    videos: dict[str, dict] = {}
    digests: dict[str, list] = {}
    gen = recipe.frames(job, params)
    try:
        while True:
            try:
                name, img = next(gen)
            except StopIteration as stop:
                notes = dict(stop.value or {})
                break
            if name not in videos:
                (tmp / name).mkdir(parents=True)
                videos[name] = {"frames": 0, "size": list(img.size)}
                digests[name] = []
            elif list(img.size) != videos[name]["size"]:
                raise VideoReadError(next(iter(job.files.values())), f"frames of different sizes in video {name}")
            data = encode_jpeg(img, params["jpeg_quality_quirk"], params["jpeg_quality"])
            fname = f"{videos[name]['frames']:06d}.jpg"
            (tmp / name / fname).write_bytes(data)
            digests[name].append((fname, hashlib.sha256(data).hexdigest()))
            videos[name]["frames"] += 1
    except VideoReadError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return {"job": job.id, "files": sorted(job.files.values()), "bad": str(e)}
    for name in notes.pop("drop", []):
        shutil.rmtree(tmp / name)
        videos.pop(name)
    for name, v in videos.items():
        v["frames_sha256"] = _frames_digest(digests[name])
    sources = {role: {"file": path, "sha256": sha256_file(path)} for role, path in job.files.items()
               if os.path.isfile(path)}
    return {"job": job.id, "sources": sources, "videos": videos, **notes}


def _finish(out: Path, record: dict) -> None:
    """Record a finished job (atomically), then move its videos into ``out`` (a video already there stays)."""
    with atomic_write(out / STATE / f"{record['job']}.json") as f:
        json.dump(record, f, sort_keys=True)
    tmp = out / PARTIAL / record["job"]
    for name in record["videos"]:
        if not (out / name).exists() and (tmp / name).is_dir():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp / name, out / name)
    shutil.rmtree(tmp, ignore_errors=True)


def prepare(card: str, source, out, *, sets: dict | None = None, workers: int = 1, progress: bool = True,
            zip_output: bool = False) -> dict:
    """Build ``card``'s real set from ``source`` into ``out`` with the card's recipe; ``sets`` overrides recipe
    parameters ({key: value or "text"}); ``zip_output`` also writes ``out.zip``. Resumes an interrupted run of the
    same preparation. Returns the manifest."""
    info = load_card(card)
    spec = info.get("prepare")
    if not spec:
        raise PrepareError(f"dataset card {card!r} has no [prepare] recipe"
                           + (f": {info['notes']}" if info.get("notes") else ""))
    recipe = get_recipe(spec["recipe"])
    if zip_output and recipe.subsets:
        raise PrepareError(f"--zip writes one StyleGAN-V zip of a single frames folder; {card}'s output is split into "
                           f"{' and '.join(recipe.subsets)} folders (use them as they are)")
    sets = dict(sets or {})
    params = recipe.resolve(spec.get("params", {}), sets)
    source, out = Path(source), Path(out)
    if not source.exists():
        raise PrepareError(f"{source}: no such file or folder")
    identity = _identity(card, recipe, params, source)
    records = _check_root(out, identity)
    if zip_output:
        _check_zip(out)
    jobs = recipe.jobs(source, params)
    names = {v for rec in records.values() for v in rec["videos"]}
    for stray in sorted(_folders(out, recipe.subsets) - names) if out.exists() else ():
        raise PrepareError(f"{out / stray} was not written by this preparation (no record names it); move it away")
    (out / STATE).mkdir(parents=True, exist_ok=True)
    with atomic_write(out / STATE / "recipe.json") as f:
        json.dump(identity, f, sort_keys=True)
    for rec in records.values():  # a run killed between a record and its renames
        _finish(out, rec)
    todo = [j for j in jobs if j.id not in records]
    bad = _run_all(recipe.name, params, todo, out, records, workers, progress, card)
    manifest = _write_manifest(out, identity, recipe, spec, sets, records, bad)
    if zip_output:
        manifest["zip"] = _write_zip(out)
        with atomic_write(out / MANIFEST) as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def _folders(out: Path, subsets) -> set[str]:
    """The folders in ``out`` that are (or would be) videos: ``<video>``, or ``<subset>/<video>`` for a recipe with
    subsets (any other top folder is listed as it is, as a stray)."""
    names = set()
    for p in out.iterdir():
        if not p.is_dir() or p.name in (STATE, PARTIAL):
            continue
        if p.name in subsets:
            names |= {f"{p.name}/{q.name}" for q in p.iterdir() if q.is_dir()}
        else:
            names.add(p.name)
    return names


def _listing_hash(out: Path, subsets, videos) -> str | dict | None:
    """The stats cache's listing hash of ``out`` opened as a frames folder; per subset folder for a split."""
    if not videos:
        return None
    if not subsets:
        return FrameFolderSource(out).content_hash()
    return {s: FrameFolderSource(out / s).content_hash() for s in sorted({n.split("/")[0] for n in videos})}


def _write_side_files(out: Path, files: dict) -> dict:
    """Write the recipe's side files (JSON, atomically); ``{relative path: sha256}``."""
    digests = {}
    for rel, value in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            json.dump(value, f, indent=1, sort_keys=True)
        digests[rel] = sha256_file(path)
    return digests


def _zip_path(out: Path) -> Path:
    return out.with_name(out.name + ".zip")


def _check_zip(out: Path) -> None:
    """Refuse to replace a ``ROOT.zip`` that this preparation did not write (the manifest names its sha256)."""
    path = _zip_path(out)
    if not path.exists():
        return
    recorded = _read_json(out / MANIFEST).get("zip") if (out / MANIFEST).is_file() else None
    if not recorded or not path.is_file() or sha256_file(path) != recorded["sha256"]:
        raise PrepareError(f"{path} exists and is not the zip this preparation wrote; move it away")


def _write_zip(out: Path) -> dict:
    """``out.zip``: ``<name>/``, ``<name>/<video>/`` directory entries and the frames (stored), plus the manifest."""
    path, top = _zip_path(out), out.name
    videos = sorted(p.name for p in out.iterdir() if p.is_dir())
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        for folder in [top] + [f"{top}/{v}" for v in videos]:
            info = zipfile.ZipInfo(folder + "/")
            info.external_attr = (0o40755 << 16) | 0x10  # a directory, as `zip -r` writes it
            z.writestr(info, b"")
        for v in videos:
            for frame in sorted(os.listdir(out / v)):
                z.write(out / v / frame, f"{top}/{v}/{frame}")
        z.write(out / MANIFEST, f"{top}/{MANIFEST}")
    return {"path": str(path.resolve()), "sha256": sha256_file(path),
            "listing_content_hash": ZipFramesSource(path).content_hash()}


def _run_all(recipe_name, params, todo, out, records, workers, progress, card) -> list[dict]:
    from tqdm import tqdm

    bad = []
    bar = tqdm(total=len(todo), desc=f"prepare {card}", unit="video", disable=not progress)

    def done(result):
        if "bad" in result:
            bad.append(result)
        else:
            _finish(out, result)
            records[result["job"]] = result
        bar.update(1)

    try:
        if workers <= 1:
            for job in todo:
                done(_run_job(recipe_name, params, job, str(out)))
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [pool.submit(_run_job, recipe_name, params, job, str(out)) for job in todo]
                try:
                    for fut in cf.as_completed(futures):
                        done(fut.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    except KeyboardInterrupt as e:
        e.add_note(f"vgbench: finished videos are kept in {out}; run the same command again to finish the rest")
        raise
    finally:
        bar.close()
    return bad


def _write_manifest(out, identity, recipe, spec, sets, records, bad) -> dict:
    shutil.rmtree(out / PARTIAL, ignore_errors=True)
    videos = {name: {**v, **rec.get("about", {}), "job": job, "sources": rec["sources"]}
              for job, rec in sorted(records.items()) for name, v in rec["videos"].items()}
    videos = dict(sorted(videos.items()))
    files = _write_side_files(out, recipe.side_files(videos))
    manifest = {
        "format": FORMAT, **identity, "recipe_description": recipe.description,
        "quirk_meaning": recipe.quirks, "overrides": sets, "unstated": spec.get("unstated", []),
        "created": utc_now(), "libraries": _libraries(),
        "jobs": dict(sorted(records.items())), "videos": videos,
        "num_videos": len(videos), "bad_sources": sorted(bad, key=lambda b: b["job"]),
        "listing_content_hash": _listing_hash(out, recipe.subsets, videos),
    }
    if recipe.subsets:
        manifest["subsets"] = list(recipe.subsets)
    if files:
        manifest["files"] = files
    with atomic_write(out / MANIFEST) as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    shutil.rmtree(out / STATE, ignore_errors=True)
    return manifest


def verify(root) -> dict:
    """Re-check ``root`` against its manifest: every video's frame count, size and frame-file digest, no video
    missing or extra, and the listing content hash. Returns ``{"ok", "videos", "problems": [...]}``."""
    from PIL import Image

    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise PrepareError(f"{root}: no {MANIFEST} (not made by vgbench data prepare)")
    manifest = _read_json(path)
    if manifest.get("format") != FORMAT:
        raise PrepareError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    problems = []
    subsets = manifest.get("subsets", [])
    on_disk = _folders(root, subsets)
    for name in sorted(on_disk - set(manifest["videos"])):
        problems.append(f"{name}: a folder the manifest does not list")
    for name, v in manifest["videos"].items():
        folder = root / name
        if not folder.is_dir():
            problems.append(f"{name}: missing")
            continue
        frames = sorted(n for n in os.listdir(folder) if Path(n).suffix.lower() in IMAGE_EXTS)
        if len(frames) != v["frames"]:
            problems.append(f"{name}: {len(frames)} frames, the manifest says {v['frames']}")
            continue
        with Image.open(folder / frames[0]) as im:
            if list(im.size) != v["size"]:
                problems.append(f"{name}: frames of {im.size[0]}x{im.size[1]}, the manifest says "
                                f"{v['size'][0]}x{v['size'][1]}")
        if _frames_digest((n, sha256_file(folder / n)) for n in frames) != v["frames_sha256"]:
            problems.append(f"{name}: frame files differ from those written (digest mismatch)")
    for rel, digest in manifest.get("files", {}).items():
        if not (root / rel).is_file():
            problems.append(f"{rel}: missing (the manifest records it)")
        elif sha256_file(root / rel) != digest:
            problems.append(f"{rel}: its sha256 differs from the manifest's")
    if not problems and manifest["videos"]:
        listing = _listing_hash(root, subsets, manifest["videos"])
        if listing != manifest["listing_content_hash"]:
            problems.append(f"listing content hash {listing} differs from the manifest's "
                            f"{manifest['listing_content_hash']}")
    if manifest.get("zip"):
        path = _zip_path(root)
        if not path.is_file():
            problems.append(f"{path}: missing (the manifest records it)")
        elif sha256_file(path) != manifest["zip"]["sha256"]:
            problems.append(f"{path}: its sha256 differs from the manifest's")
    return {"ok": not problems, "videos": len(manifest["videos"]), "problems": problems}
