"""Natural-image corpora: the offline default and image folders with junk in them."""

from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from PIL import Image

from colorbench.errors import ColorbenchError
from colorbench.plugins.interpret.corpus import (
    SKIMAGE_IMAGES,
    TEXT_IMAGES,
    folder_corpus,
    skimage_corpus,
)


def test_default_corpus_uses_only_images_the_wheel_ships():
    data = Path(skimage.__file__).parent / "data"
    assert all((data / name).is_file() for name in SKIMAGE_IMAGES)
    corpus = skimage_corpus()
    assert len(corpus) > 100  # twenty images tiled into overlapping crops
    crops = corpus.load([0, len(corpus) - 1])
    assert crops.shape == (2, 3, 224, 224) and crops.dtype == torch.uint8


def test_folder_corpus_skips_and_counts_non_images(tmp_path):
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, 200:] = (255, 0, 0)  # right half red: the centre crop is half red
    Image.fromarray(rgb).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    corpus = folder_corpus(tmp_path)
    assert (len(corpus), corpus.skipped) == (2, 2)
    crop = corpus.load([0])[0]
    assert crop.shape == (3, 224, 224)
    red = (crop[0] > 200) & (crop[1] < 50)
    assert red.float().mean().item() == pytest.approx(0.5, abs=0.02)


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ColorbenchError, match="no readable image"):
        folder_corpus(tmp_path)


def test_text_images_are_known_in_both_corpora(tmp_path):
    corpus = skimage_corpus()
    names = {corpus.items[i].path.name for i in corpus.text_items}
    assert names == set(TEXT_IMAGES) and set(TEXT_IMAGES) <= set(SKIMAGE_IMAGES)
    assert all(corpus.items[i].path.name not in TEXT_IMAGES for i in range(len(corpus))
               if i not in set(corpus.text_items))  # fmt: skip
    rgb = np.zeros((240, 240, 3), np.uint8)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "Text").mkdir()
    Image.fromarray(rgb).save(tmp_path / "photos" / "a.png")
    Image.fromarray(rgb).save(tmp_path / "photos" / "Text" / "sign.png")
    Image.fromarray(rgb).save(tmp_path / "text.png")  # a file named text is not a text folder
    folder = folder_corpus(tmp_path)
    assert [folder.items[i].path.name for i in folder.text_items] == ["sign.png"]
