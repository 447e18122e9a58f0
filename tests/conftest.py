"""Fixtures shared by the test modules.

Helper modules in this folder are named ``<topic>_support`` (``fake_support``: the plugin
with known answers; ``plugins_support``: throw-away plugin modules and distributions;
``openclip_support``, ``interpret_support``, ``harness_support/``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugins_support import private_site

from colorbench.pluginmanager import Plugins, load_plugins


@pytest.fixture
def plugins() -> Plugins:
    """Only ``fake_support``'s sets, tasks and adapters (no installed plugin)."""
    return load_plugins(["fake_support"], entrypoints=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An import path whose dist-info folders are the only installed plugins."""
    return private_site(tmp_path, monkeypatch)
