"""Dataset cards: the TOML files in ``datasets/`` that say what a dataset is (resolution, fps, split, protocols,
where its real videos are expected, shipped reference statistics). ``--dataset NAME`` names one."""
from __future__ import annotations

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import VgbenchError
from ..io.sources import VideoSource, open_source
from ..utils import bundled_dir

__all__ = ["DatasetError", "list_cards", "load_card", "real_source"]


class DatasetError(VgbenchError, ValueError):
    """An unknown dataset card, or a card whose real videos were not given."""


def list_cards() -> list[str]:
    return sorted(p.stem for p in bundled_dir("datasets").glob("*.toml"))


def load_card(name: str) -> dict:
    p = bundled_dir("datasets") / f"{name}.toml"
    if not p.is_file():
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(list_cards())}")
    card = tomllib.loads(p.read_text())
    card["card_path"] = str(p)
    return card


def real_source(card: dict, data: str | None) -> tuple[VideoSource, str]:
    """The card's real videos: ``data`` when given (``--data``), else the card's own ``data`` entry."""
    spec = data or card.get("data")
    if spec is None:
        raise DatasetError(f"dataset {card['name']!r} ships no videos: pass --data ROOT ({card.get('layout', '')})")
    return open_source(spec), spec
