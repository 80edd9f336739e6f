"""Configs stored in network pickles, read and resolved without running any code.

Official snapshots keep their configs as OmegaConf objects (or plain dicts) whose values may be interpolations.
OmegaConf pickles a ``DictConfig`` node together with its ``_parent`` pointer, so the ``cfg`` node a network was
built with (StyleGAN-V / MoStGAN-V: ``cfg.model.generator``) carries the whole experiment config up its parent
chain, and ``training_set_kwargs.cfg`` (``cfg.dataset``) carries it too. :func:`stored_tree` turns such an inert
node (see :mod:`vgbench.models.checkpoint`) into plain data: the root of the stored tree and the node's place in it.
:func:`resolve` then resolves interpolations the way OmegaConf does, over plain data only:

* ``${a.b.c}`` -- absolute, from the root of the stored tree (OmegaConf 2.0 and later);
* ``${.x}``, ``${..x}`` -- relative to the node holding the value, one more dot per level up (OmegaConf >= 2.1);
* the target may itself be an interpolation or a whole node (``sampling: ${sampling}``); list items are addressed
  by index (``${a.0}``); path components that are interpolations are followed.

Left as they are and reported in :attr:`Resolved.unresolved` (dotted key -> reason), never evaluated: custom
resolvers (``${env:HOME}``, ``${oc.env:X}``, ``${hydra:runtime.cwd}``; they call code), string interpolation
(``'ffs_${dataset.resolution}'``), missing values (``???``), targets outside the stored tree, and cycles. A caller
decides which of these matter (only values a network reads do) and refuses or falls back explicitly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .checkpoint import InertObject, plain

__all__ = ["Resolved", "stored_tree", "resolve", "resolve_plain", "is_interpolation", "lookup", "MISSING"]

_REFERENCE = re.compile(r"^\$\{\s*(\.*)([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)?\s*\}$")
_RESOLVER = re.compile(r"\$\{\s*[A-Za-z0-9_.\-]+\s*:")
MISSING = object()


class _Unresolved(Exception):
    pass


def is_interpolation(value) -> bool:
    """A string OmegaConf would interpolate (or ``???``, a mandatory value that was never set)."""
    return isinstance(value, str) and ("${" in value or value == "???")


@dataclass
class Resolved:
    """A config with its interpolations resolved where the stored tree allows it."""

    value: Any
    unresolved: dict[str, str] = field(default_factory=dict)  # dotted key (relative to the node) -> reason
    path: tuple = ()  # where the node sits in the stored tree, e.g. ('model', 'generator')


def stored_tree(node) -> tuple[Any, tuple]:
    """(plain root of the stored tree, path of ``node`` in it) for a pickled OmegaConf node; for anything else
    (a plain dict, an ``EasyDict`` record) ``(plain(node), ())``. The node's own content is placed at its path
    (deep copies made by OmegaConf 2.0 point to a parent that holds an equal copy of the node, not the node)."""
    chain = [node]
    while _is_container(chain[-1]) and _is_container(chain[-1].state.get("_parent")):
        parent = chain[-1].state["_parent"]
        if any(parent is c for c in chain):  # a damaged file: parents in a loop
            return plain(node), ()
        chain.append(parent)
    if len(chain) == 1:
        return plain(node), ()
    path = []
    for child, parent in zip(chain, chain[1:]):
        key = _key_in(parent, child)
        if key is None:  # not reachable from its parent: the node is the root of its own tree
            return plain(node), ()
        path.append(key)
    path = tuple(reversed(path))
    root = plain(chain[-1])
    parent = lookup(root, path[:-1])
    if isinstance(parent, dict):
        parent[path[-1]] = plain(node)
    else:
        parent[int(path[-1])] = plain(node)
    return root, path


def _is_container(obj) -> bool:
    return isinstance(obj, InertObject) and isinstance(obj.state, dict) and "_content" in obj.state


def _key_in(parent, child):
    """The key of ``child`` in ``parent``: its metadata key if the parent has it, else found by identity."""
    content = parent.state.get("_content")
    meta = child.state.get("_metadata")
    key = meta.state.get("key") if meta is not None and isinstance(getattr(meta, "state", None), dict) else None
    if isinstance(content, dict) and key is not None and key in content:
        return str(key)
    if isinstance(content, (list, tuple)) and isinstance(key, int) and 0 <= key < len(content):
        return str(key)
    items = content.items() if isinstance(content, dict) else enumerate(content or ())
    for k, v in items:
        if v is child:
            return str(k)
    return None


def lookup(tree, path) -> Any:
    """The plain value at ``path`` (a tuple of keys, list indices as strings), or :data:`MISSING`."""
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def resolve(root, path: tuple = (), fallback_roots: tuple = ()) -> Resolved:
    """Resolve the interpolations of the node at ``path`` of ``root`` (plain data, e.g. from :func:`stored_tree`).

    ``fallback_roots``: other stored copies of the experiment config (e.g. the one up ``training_set_kwargs.cfg``'s
    parent chain); an absolute interpolation whose target is not in ``root`` is looked up there.
    """
    node = lookup(root, path)
    if node is MISSING:
        raise KeyError(".".join(path))
    unresolved: dict[tuple, str] = {}
    out = _Resolver(root, tuple(fallback_roots)).tree(node, tuple(path), (), unresolved)
    n = len(path)
    return Resolved(out, {".".join(k[n:]): why for k, why in unresolved.items()}, tuple(path))


class _Resolver:
    def __init__(self, root, fallback_roots: tuple):
        self.roots = (root,) + fallback_roots

    def tree(self, value, path: tuple, stack: tuple, unresolved: dict):
        """``value`` sits at ``path``: resolve it and everything below it; what stays unresolved is recorded in
        ``unresolved`` (path -> reason) and kept as the original string."""
        if isinstance(value, dict):
            return {k: self.tree(v, path + (str(k),), stack, unresolved) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.tree(v, path + (str(i),), stack, unresolved) for i, v in enumerate(value)]
        if not is_interpolation(value):
            return value
        try:
            return self.value(value, path, stack, lambda rel, why: unresolved.__setitem__(path + rel, why))
        except _Unresolved as e:
            unresolved[path] = f"{value!r}: {e}"
            return value

    def value(self, value: str, path: tuple, stack: tuple, leftover=None):
        """Resolve one interpolation string sitting at ``path`` (raises :class:`_Unresolved`). A target that is a
        node is resolved as far as it goes; ``leftover(relative key, reason)`` hears what stayed unresolved in it."""
        if value == "???":
            raise _Unresolved("a mandatory value ('???') that was never set")
        m = _REFERENCE.match(value.strip())
        if not m:
            if _RESOLVER.search(value):
                raise _Unresolved("a custom resolver; vgbench never runs resolvers")
            raise _Unresolved("string interpolation is not resolved by vgbench")
        dots, key = m.group(1), m.group(2) or ""
        parts = tuple(key.split(".")) if key else ()
        roots = self.roots
        target = parts
        if dots:  # relative: only inside the tree that holds the value
            up, container = len(dots) - 1, path[:-1]
            if up > len(container):
                raise _Unresolved("the relative interpolation goes above the root of the stored config")
            target, roots = container[:len(container) - up] + parts, self.roots[:1]
        if target in stack:
            raise _Unresolved("cyclic interpolation")
        found = []
        for root in roots:
            v = self._walk(root, target, stack + (target,))
            if v is MISSING:
                continue
            sub = self if root is self.roots[0] else _Resolver(root, tuple(r for r in self.roots if r is not root))
            if is_interpolation(v):
                found.append(sub.value(v, target, stack + (target,), leftover))
            elif isinstance(v, (dict, list, tuple)):
                inner: dict[tuple, str] = {}
                found.append(sub.tree(v, target, stack + (target,), inner))
                for k, why in inner.items():
                    if leftover is not None:
                        leftover(k[len(target):], why)
            else:
                found.append(v)
        if not found:
            raise _Unresolved(f"'{'.'.join(target)}' does not resolve inside the stored config")
        if any(f != found[0] for f in found[1:]):
            raise _Unresolved(f"the stored copies of the config disagree on '{'.'.join(target)}': {found}")
        return found[0]

    def _walk(self, root, target: tuple, stack: tuple):
        """The stored value at ``target`` of ``root``, following interpolations met on the way."""
        node, cur = root, ()
        for part in target:
            if is_interpolation(node):
                node = _Resolver(root, tuple(r for r in self.roots if r is not root)).value(node, cur, stack)
            nxt = lookup(node, (part,))
            if nxt is MISSING:
                return MISSING
            node, cur = nxt, cur + (part,)
        return node


def resolve_plain(cfg: dict) -> dict:
    """Resolve a plain config against itself as root (what ``OmegaConf.create(cfg)`` does); raise ``ValueError``
    naming the first value that does not resolve."""
    r = resolve(cfg)
    if r.unresolved:
        key, why = next(iter(r.unresolved.items()))
        raise ValueError(f"cfg interpolation at '{key}' {why}")
    return r.value
