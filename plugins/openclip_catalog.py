"""Which ``<pretrained>-<arch>`` ids the open_clip family offers, without importing open_clip.

Every ``colorbench`` command loads every plugin, and ``import open_clip`` pulls in
torchvision, torch._dynamo and transformers (about 4 s on a busy CPU, on top of
torch). Registration only needs open_clip's list of (arch, pretrained tag) pairs, so
a snapshot of that list ships as ``openclip_pretrained.json``, keyed by the open_clip
version it was taken from. When the installed open_clip is another version, the list is
read from open_clip itself (slower, always right). Refresh the snapshot after upgrading
open_clip with ``python -m colorbench.plugins.openclip_catalog``.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("openclip_pretrained.json")
#: id prefixes of the two open_clip families that are patterns, not catalogue entries
RANDOM_PREFIX = "random-"
HUB_PREFIX = "hf-hub:"


def installed_version() -> str:
    """The installed open_clip_torch version (from package metadata: no import)."""
    return version("open_clip_torch")


def pretrained_pairs() -> list[tuple[str, str]]:
    """``(arch, tag)`` for every pretrained model the installed open_clip lists."""
    snapshot = json.loads(SNAPSHOT.read_text())
    if snapshot["open_clip"] == installed_version():
        return [(arch, tag) for arch, tag in snapshot["pretrained"]]
    return pairs_from_open_clip()


def pairs_from_open_clip() -> list[tuple[str, str]]:
    """The live list, from ``open_clip.list_pretrained()``."""
    import open_clip

    return [(arch, tag) for arch, tag in open_clip.list_pretrained()]


def model_ids() -> dict[str, tuple[str, str]]:
    """``{"<tag>-<arch>": (arch, tag)}``, e.g. ``"openai-RN50": ("RN50", "openai")``."""
    return {f"{tag}-{arch}": (arch, tag) for arch, tag in pretrained_pairs()}


def write_snapshot(path: Path = SNAPSHOT) -> None:
    """Store the installed open_clip's list as the snapshot."""
    from colorbench.atomic import write_text

    data = {"open_clip": installed_version(), "pretrained": pairs_from_open_clip()}
    write_text(path, json.dumps(data) + "\n")


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT} for open_clip {installed_version()}")
