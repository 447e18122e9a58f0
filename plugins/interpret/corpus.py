"""Natural-image corpora: where neurons find their top patches.

The paper ranks patches over ImageNet validation; ``--images DIR`` takes any folder
of images (one centre crop per file, as CLIP sees them). With no folder, the corpus
is the photographs and textures scikit-image ships inside its wheel, tiled into
overlapping crops, so the analysis runs offline with nothing downloaded.

Some corpus images hold text, for the Any Word class's check that a unit fires on
writing in natural images too: in the built-in corpus the crops of ``page.png`` (a
printed page) and ``text.png`` (lettering on a textured photo) (:data:`TEXT_IMAGES`);
in a ``--images`` folder every file under a sub-folder named ``text`` (any depth, any
case).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from colorbench.errors import ColorbenchError

#: images of ``skimage/data`` that load offline (no pooch download); tiny test
#: images and binary masks are left out
SKIMAGE_IMAGES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "color.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "logo.png",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)


#: built-in corpus images that show text (their crops feed the Any Word natural-text check)
TEXT_IMAGES = ("page.png", "text.png")
#: a ``--images`` sub-folder of this name (any depth, any case) holds text images
TEXT_FOLDER = "text"


@dataclass(frozen=True)
class Item:
    """One corpus image: a file, rescaled so its shorter side is ``scale``, cropped at ``box``.

    ``text``: the image shows writing (see the module docstring).
    """

    path: Path
    scale: int
    box: tuple[int, int]  # top-left (x, y) of the square crop
    text: bool = False


class Corpus:
    """An indexable list of ``size x size`` RGB crops, decoded on demand."""

    def __init__(self, items: Sequence[Item], size: int = 224, skipped: int = 0, name: str = ""):
        self.items = list(items)
        self.size = size
        self.skipped = skipped
        self.name = name
        self._decode = lru_cache(maxsize=16)(self._decode_file)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def text_items(self) -> list[int]:
        """Indices of the items that show text."""
        return [i for i, item in enumerate(self.items) if item.text]

    def _decode_file(self, path: Path, scale: int) -> Image.Image:
        try:
            with Image.open(path) as image:
                image = _to_rgb(image)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise ColorbenchError(
                f"cannot decode image {path}: {exc}; remove or replace the file"
            ) from None
        return image.resize(_scaled_size(image.size, scale), Image.Resampling.BICUBIC)

    def load(self, indices: Sequence[int]) -> torch.Tensor:
        """``[B, 3, size, size]`` uint8 crops of the given items."""
        crops = []
        for i in indices:
            item = self.items[int(i)]
            x, y = item.box
            image = self._decode(item.path, item.scale)
            crop = image.crop((x, y, x + self.size, y + self.size))
            crops.append(torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy()))
        return torch.stack(crops).permute(0, 3, 1, 2).contiguous()


def _scaled_size(size: tuple[int, int], scale: int) -> tuple[int, int]:
    """(width, height) after rescaling so that the shorter side is ``scale``."""
    w, h = size
    factor = scale / min(w, h)
    return max(scale, round(w * factor)), max(scale, round(h * factor))


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparent areas on white rather than on undefined colours."""
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB")
    return image.convert("RGB")


def _readable(path: Path) -> bool:
    """Whether ``path`` is an image Pillow can decode; a decompression bomb (a small file that
    claims billions of pixels) is not."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
    return True


def folder_corpus(folder: str | Path, size: int = 224) -> Corpus:
    """Every readable image under ``folder`` (recursively), one centre crop each.

    Files that are not images or cannot be read are skipped and counted
    (``Corpus.skipped``); a folder that cannot be read, or holds no image, is an error.
    """
    root = Path(folder)
    if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
        raise ColorbenchError(f"--images {folder}: not a readable folder; pass a folder of images")
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file())
    except OSError as exc:
        raise ColorbenchError(
            f"--images {folder}: cannot list it ({exc}); check permissions"
        ) from None
    items, skipped = [], 0
    for path in files:
        if not _readable(path):
            skipped += 1
            continue
        with Image.open(path) as image:
            sw, sh = _scaled_size(image.size, size)
        shows_text = any(part.lower() == TEXT_FOLDER for part in path.relative_to(root).parts[:-1])
        items.append(Item(path, size, ((sw - size) // 2, (sh - size) // 2), shows_text))
    if not items:
        raise ColorbenchError(
            f"--images {folder}: no readable image among {len(files)} files; "
            "pass a folder of PNG/JPEG images"
        )
    return Corpus(items, size, skipped, name=str(root))


def skimage_corpus(size: int = 224, scale: int = 448, stride: int = 112) -> Corpus:
    """scikit-image's bundled images, each rescaled to shorter side ``scale`` and tiled.

    Overlapping ``size`` crops every ``stride`` pixels give a few hundred patches
    from twenty images: enough for top-k statistics in a smoke run, not ImageNet.
    """
    import skimage

    data = Path(skimage.__file__).parent / "data"
    items = []
    for name in SKIMAGE_IMAGES:
        path = data / name
        if not path.is_file():
            continue
        with Image.open(path) as image:
            sw, sh = _scaled_size(image.size, scale)
        items += [
            Item(path, scale, (x, y), name in TEXT_IMAGES)
            for y in range(0, sh - size + 1, stride)
            for x in range(0, sw - size + 1, stride)
        ]
    if not items:
        raise ColorbenchError(
            f"scikit-image's sample images are missing from {data}; pass --images DIR"
        )
    return Corpus(items, size, name=f"scikit-image {skimage.__version__} sample images")
