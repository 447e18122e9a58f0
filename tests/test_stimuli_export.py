"""``generate``: PNGs plus metadata.csv in Hugging Face imagefolder layout, and contact sheets."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from colorbench.errors import ColorbenchError
from colorbench.stimuli import ShapesSet, StroopWhiteSet
from colorbench.stimuli.export import generate
from colorbench.stimuli.sheet import sheet_samples


def as_array(batch, i):
    return batch.images[i].permute(1, 2, 0).numpy()


def test_generate_writes_every_image_with_its_ground_truth(tmp_path, capsys):
    stimulus_set = StroopWhiteSet()
    written = generate(stimulus_set, samples=2, out=tmp_path / "set", quiet=True)
    assert written == 180 and capsys.readouterr().out == ""
    metadata = pd.read_csv(tmp_path / "set" / "metadata.csv")
    assert len(metadata) == 180 and metadata["file_name"].is_unique
    assert {"file_name", "sample_id", "combination", "sample", "word", "font", "background",
            "font_face", "font_size", "x", "y"} <= set(metadata.columns)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "set" / "images").iterdir()) == sorted(
        f.split("/")[-1] for f in metadata["file_name"]
    )
    for row in metadata.iloc[[0, 77, 179]].itertuples():
        sample = stimulus_set.sample(row.combination, row.sample)
        assert row.sample_id == sample.sample_id and row.word == sample.attrs["word"]
        assert (row.x, row.y, row.font_face) == tuple(
            sample.attrs[k] for k in ("x", "y", "font_face")
        )
        png = np.asarray(Image.open(tmp_path / "set" / row.file_name).convert("RGB"))
        assert np.array_equal(png, as_array(stimulus_set.render([sample]), 0))


def test_contact_sheet_spreads_over_the_combinations(tmp_path):
    stimulus_set = ShapesSet()
    assert generate(stimulus_set, samples=3, out=None, sheet=tmp_path / "s" / "sheet.png") == 0
    sheet = np.asarray(Image.open(tmp_path / "s" / "sheet.png").convert("RGB"))
    picked = sheet_samples(stimulus_set, 48, 3)
    assert len({s.attrs["shape"] for s in picked}) == 8
    assert len({s.attrs["background"] for s in picked}) == 11
    assert {s.sample for s in picked} == {0, 1, 2}
    first = stimulus_set.render(picked[:2])
    assert np.array_equal(sheet[30 : 30 + 224, 6 : 6 + 224], as_array(first, 0))
    assert np.array_equal(sheet[30 : 30 + 224, 236 : 236 + 224], as_array(first, 1))


@pytest.mark.parametrize("samples", [0, -3, 1.5])
def test_bad_sample_counts_are_refused(tmp_path, samples):
    with pytest.raises(ColorbenchError, match="--samples"):
        generate(StroopWhiteSet(), samples=samples, out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_unwritable_destinations_are_refused_in_one_line(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ColorbenchError, match="--out") as error:
        generate(StroopWhiteSet(), samples=1, out=blocker / "set", quiet=True)
    assert "\n" not in str(error.value)
    with pytest.raises(ColorbenchError, match="--sheet"):
        generate(StroopWhiteSet(), samples=1, out=None, sheet=blocker / "sheet.png")
    with pytest.raises(ColorbenchError, match="nothing to write"):
        generate(StroopWhiteSet(), samples=1, out=None)
