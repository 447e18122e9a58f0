"""``colorbench new-plugin task|model DIR``: a plugin folder that passes ``check-plugin``.

The templates in ``colorbench/templates/<kind>/`` are working plugins named
``colorbench-squares`` (distribution) / ``colorbench_squares`` (module and plugin name);
the new folder gets them with those two names replaced by ones made from DIR's name.
docs/PLUGINS.md walks through the task template line by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from colorbench.errors import ColorbenchError

KINDS = ("task", "model")
DIST, MODULE = "colorbench-squares", "colorbench_squares"
#: template file -> where it goes in the new folder (``{module}`` is the module name)
LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "__init__.py.tmpl": "{module}/__init__.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}


@dataclass(frozen=True)
class NewPlugin:
    """What was written: the distribution name and the module (= plugin) name."""

    name: str
    module: str


def template_text(kind: str, filename: str) -> str:
    """A template file as shipped (names not yet replaced)."""
    return files("colorbench").joinpath("templates", kind, filename).read_text(encoding="utf-8")


def new_plugin(kind: str, folder: Path) -> NewPlugin:
    """Write the ``kind`` template into ``folder`` (absent or empty), named after it."""
    if kind not in KINDS:
        raise ColorbenchError(f"unknown plugin kind {kind!r}; use one of {', '.join(KINDS)}")
    folder = Path(folder)
    name = folder.name.lower()
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", name):
        raise ColorbenchError(
            f"cannot name a plugin after folder {folder.name!r}; use letters, digits and "
            "hyphens, starting with a letter (e.g. colorbench-mytask)"
        )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ColorbenchError(f"{folder} exists and is not an empty folder; name a new one")
    module = name.replace("-", "_")
    for source, target in LAYOUT.items():
        text = template_text(kind, source).replace(DIST, name).replace(MODULE, module)
        path = folder / target.format(module=module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return NewPlugin(name, module)
