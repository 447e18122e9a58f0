"""Registries of models, tasks, stimulus sets and analyses, filled by plugin hooks."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from colorbench.errors import ColorbenchError, PluginError, suggest


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
    """Name -> object, with fnmatch patterns for families, conflicts and suggestions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, obj: Any, plugin: str, description: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"plugin {plugin!r} registered a {self.kind} with no valid name: {name!r}"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise PluginError(
                f"{self.kind} {name!r} is registered by both plugin {other!r} "
                f"and plugin {plugin!r}; "
                f"disable one with -p no:{plugin}"
            )
        self._entries[name] = Entry(name, obj, plugin, description)

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
