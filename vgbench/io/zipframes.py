"""The frames layout inside a zip, ``[top/]<video>/<frame image>`` (StyleGAN-V's ``zip -r name.zip name/``), read
member by member without unpacking; a video's stamp is its members' CRCs."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from ..utils import natural_sorted, sha256_json
from .base import Video, VideoReadError, _ListedSource, _stack
from .images import IMAGE_EXTS, _decode_image

__all__ = ["ZipFramesSource", "ZipFrameVideo"]


class ZipFrameVideo(Video):
    _handles: dict = {}

    def __init__(self, vid: str, zip_path: str, members: list[str], size: int, fps: float | None = None,
                 crc: str = ""):
        self.id, self.zip_path, self.members, self._bytes, self.fps = vid, zip_path, members, size, fps
        self.path = f"{zip_path}:{os.path.dirname(members[0])}"
        self._crc = crc

    def stamp(self):
        return [self._bytes, self._crc]

    @property
    def num_frames(self):
        return len(self.members)

    def nbytes_hint(self):
        return self._bytes

    def _zip(self) -> zipfile.ZipFile:
        key = (os.getpid(), self.zip_path)  # one handle per process: safe with DataLoader workers
        z = ZipFrameVideo._handles.get(key)
        if z is None:
            z = ZipFrameVideo._handles[key] = zipfile.ZipFile(self.zip_path)
        return z

    def _read(self, indices):
        z = self._zip()
        frames = []
        for i in indices:
            name = self.members[i]
            try:
                data = z.read(name)
            except (zipfile.BadZipFile, OSError, KeyError) as e:
                raise VideoReadError(f"{self.zip_path}:{name}", f"cannot read zip member: {e}") from e
            frames.append(_decode_image(io.BytesIO(data), f"{self.zip_path}:{name}", len(indices)))
        return _stack(frames, self.path)


class ZipFramesSource(_ListedSource):
    """The frames layout inside a zip: ``[top/]<video>/<frame>`` (StyleGAN-V's ``zip -r name.zip name/``)."""

    kind = "frames_zip"

    def __init__(self, path: str | Path, fps: float | None = None):
        self.path, self.fps = Path(path), fps
        self._videos: list[ZipFrameVideo] | None = None

    def _scan(self):
        if self._videos is None:
            try:
                with zipfile.ZipFile(self.path) as z:
                    infos = [i for i in z.infolist() if not i.is_dir()
                             and Path(i.filename).suffix.lower() in IMAGE_EXTS
                             and not i.filename.startswith("__MACOSX/")]
            except zipfile.BadZipFile as e:
                raise VideoReadError(str(self.path), f"not a readable zip file: {e}") from e
            depths = {i.filename.count("/") for i in infos}
            if len(depths) > 1:
                raise VideoReadError(str(self.path), "frames lie at different folder depths; expected "
                                                     "[top/]<video>/<frame> for every frame")
            if depths == {0}:
                raise VideoReadError(str(self.path), "frames must be inside one folder per video")
            if depths and depths.pop() > 2:
                raise VideoReadError(str(self.path), "folders nested too deep; expected [top/]<video>/<frame>")
            groups: dict[str, list[zipfile.ZipInfo]] = {}
            for i in infos:
                groups.setdefault(os.path.dirname(i.filename), []).append(i)
            videos = []
            for folder in natural_sorted(groups):
                members = natural_sorted([i.filename for i in groups[folder]])
                size = sum(i.file_size for i in groups[folder])
                crc = sha256_json(sorted([i.filename, i.CRC] for i in groups[folder]))  # the zip's own checksums
                videos.append(ZipFrameVideo(os.path.basename(folder), str(self.path), members, size, self.fps, crc))
            self._videos = videos
        return self._videos
