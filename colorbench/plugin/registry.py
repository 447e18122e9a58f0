"""Registries of models, tasks, stimulus sets and analyses, filled by plugin hooks."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from colorbench.errors import ColorbenchError, PluginError, suggest
from colorbench.names import path_name_problem, printable


@dataclass(frozen=True)
class Entry:
    """A registered object, the id it answers to and the plugin that provided it."""

    name: str
    obj: Any
    plugin: str
    description: str = ""

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.name for ch in "*?[")


class Registry:
    """Name -> object, with fnmatch patterns for families, conflicts and suggestions.

    Names come from third-party plugins, so they are checked when registered: no control
    characters, and with ``path_names`` (tasks, stimulus sets, analyses, whose names become
    folder names) nothing that could leave the results folder, such as ``..``. Two plugins
    whose ids or patterns could both answer one name are a conflict, like a duplicate id:
    otherwise ``*`` from one plugin would silently take ``random-RN50`` from another.
    """

    def __init__(self, kind: str, path_names: bool = False) -> None:
        self.kind = kind
        self.path_names = path_names
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, obj: Any, plugin: str, description: str = "") -> None:
        if not isinstance(name, str) or not name or printable(name) != name:
            raise PluginError(
                f"plugin {plugin!r} registered a {self.kind} with no valid name: "
                f"{printable(repr(name))}; fix or disable it with -p no:{plugin}"
            )
        problem = path_name_problem(name) if self.path_names else None
        if problem:
            raise PluginError(
                f"plugin {plugin!r} registered a {self.kind} named {problem}; "
                f"fix or disable it with -p no:{plugin}"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise PluginError(
                f"{self.kind} {name!r} is registered by both plugin {other!r} "
                f"and plugin {plugin!r}; "
                f"disable one with -p no:{plugin}"
            )
        new = Entry(name, obj, plugin, description)
        for entry in self._entries.values():
            if entry.plugin != plugin and (new.is_pattern or entry.is_pattern):
                if patterns_overlap(name, entry.name):
                    raise PluginError(
                        f"{self.kind} {'pattern' if new.is_pattern else 'id'} {name!r} of "
                        f"plugin {plugin!r} overlaps {entry.name!r} of plugin {entry.plugin!r} "
                        f"(some ids would match both); disable one with -p no:{entry.plugin} "
                        f"or -p no:{plugin}"
                    )
        self._entries[name] = new

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def resolve(self, name: str) -> Entry:
        """The entry for ``name``: an exact id first, else the first matching pattern."""
        if name in self._entries:
            return self._entries[name]
        for entry in self:
            if entry.is_pattern and fnmatch.fnmatchcase(name, entry.name):
                return entry
        hint = suggest(name, self.names()) or self._known()
        raise ColorbenchError(
            f"unknown {self.kind} {name!r}{hint}; `colorbench list` shows them all"
        )

    def _known(self, shown: int = 6) -> str:
        """``" (known: a, b, ...)"``: the shortest names, when none is close to what was typed."""
        names = sorted(self.names(), key=lambda n: (len(n), n))[:shown]
        if not names:
            return f" (no {self.kind} is registered)"
        more = f", and {len(self) - len(names)} more" if len(self) > len(names) else ""
        return f" (known: {', '.join(names)}{more})"

    def get(self, name: str) -> Any:
        return self.resolve(name).obj


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some name matches both fnmatch patterns (an exact id is a pattern too).

    A ``[...]`` set is read as any one character, so two patterns that only a set keeps
    apart are still reported: for plugin conflicts, a false alarm beats a silent takeover.
    """
    ta, tb = _glob_tokens(a), _glob_tokens(b)

    @cache
    def meet(i: int, j: int) -> bool:
        if i < len(ta) and ta[i] == "*":
            return meet(i + 1, j) or (j < len(tb) and meet(i, j + 1))
        if j < len(tb) and tb[j] == "*":
            return meet(i, j + 1) or (i < len(ta) and meet(i + 1, j))
        if i == len(ta) or j == len(tb):
            return i == len(ta) and j == len(tb)
        same = ta[i] == tb[j] or "?" in (ta[i], tb[j])
        return same and meet(i + 1, j + 1)

    return meet(0, 0)


def _glob_tokens(pattern: str) -> tuple[str, ...]:
    """``"*"``, ``"?"`` (also standing for a ``[...]`` set) or one literal character per token."""
    tokens, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        close = pattern.find("]", i + 2) if ch == "[" else -1
        if ch in "*?":
            tokens.append(ch)
        elif close != -1:
            tokens.append("?")
            i = close
        else:
            tokens.append(ch)
        i += 1
    return tuple(tokens)
