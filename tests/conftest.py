"""Fixtures shared by the test modules.

Helper modules in this folder are named ``<topic>_support`` (``fake_support``: the plugin
with known answers; ``plugins_support``: throw-away plugin modules and distributions;
``openclip_support``, ``interpret_support``, ``harness_support/``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugins_support import private_site

from colorbench.plugin.pluginmanager import Plugins, load_plugins


@pytest.fixture
def plugins() -> Plugins:
    """Only ``fake_support``'s sets, tasks and adapters (no installed plugin)."""
    return load_plugins(["fake_support"], entrypoints=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An import path whose dist-info folders are the only installed plugins."""
    return private_site(tmp_path, monkeypatch)


#: black, white, red: every paper task still has its parts, at a fraction of the images
THREE_COLOURS = {
    "name": "three",
    "colors": [
        {"name": "black", "rgb": [0, 0, 0], "chromatic": False},
        {"name": "white", "rgb": [255, 255, 255], "chromatic": False},
        {"name": "red", "rgb": [255, 0, 0], "chromatic": True},
    ],
}


@pytest.fixture
def three_colours(tmp_path: Path) -> Path:
    """A palette file with three colours (end-to-end runs of real models stay fast)."""
    path = tmp_path / "palette.json"
    path.write_text(json.dumps(THREE_COLOURS))
    return path
