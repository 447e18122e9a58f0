"""Export a stimulus set as PNG files for other tools (Hugging Face ``imagefolder`` layout).

``out/metadata.csv`` has a ``file_name`` column (relative to ``out``) and every
ground-truth attribute, so ``datasets.load_dataset("imagefolder", data_dir=out)``
reads the images together with their labels.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image

from colorbench.atomic import atomic_path
from colorbench.errors import ColorbenchError, Interrupted
from colorbench.runner.plan import check_samples
from colorbench.runner.progress import progress_bar
from colorbench.stimuli.base import StimulusSet
from colorbench.stimuli.sheet import save_contact_sheet

BATCH = 64
METADATA = "metadata.csv"


def generate(
    stimulus_set: StimulusSet,
    samples: int,
    out: Path | None,
    sheet: Path | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> int:
    """Write ``samples`` images per combination to ``out`` and/or a contact sheet to ``sheet``.

    Returns the number of images written to ``out`` (0 when only a sheet is asked for).
    A non-empty ``out`` is refused unless ``overwrite``, which first removes the images and
    metadata.csv an earlier export left there, so no stale file is mistaken for this one's.
    """
    samples = check_samples(samples)
    if out is None and sheet is None:
        raise ColorbenchError("nothing to write: give --out DIR, --sheet PNG or both")
    if sheet is not None and (Path(sheet).is_dir() or Path(sheet).suffix.lower() != ".png"):
        raise ColorbenchError(
            f"--sheet {sheet} is not a .png file name; pass e.g. --sheet sheet.png"
        )
    if out is not None:
        _clear(Path(out), overwrite)
    written = 0 if out is None else _write_images(stimulus_set, samples, Path(out), quiet)
    if sheet is not None:
        save_contact_sheet(stimulus_set, Path(sheet), samples)
    return written


def _clear(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out``; with ``overwrite``, remove what an export writes there."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ColorbenchError(
            f"--out {out} is not empty; pass --overwrite to replace the images and metadata.csv "
            "of an earlier export, or choose an empty folder"
        )
    images = out / "images"
    if images.is_symlink():
        raise ColorbenchError(f"{images} is a symlink; remove it (its target is left alone)")
    for path in [out / METADATA, *(images.glob("*.png") if images.is_dir() else ())]:
        if path.is_file() or path.is_symlink():
            path.unlink()


def _prepare(out: Path) -> Path:
    """Create ``out/images`` or say, in one line, why ``out`` cannot be written."""
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColorbenchError(
            f"cannot create {out}: {exc.strerror or exc}; choose a writable --out directory"
        ) from None
    if not os.access(out / "images", os.W_OK):
        raise ColorbenchError(f"{out} is not writable; choose a writable --out directory")
    return out / "images"


def _save_png(pixels, path: Path) -> None:
    try:
        Image.fromarray(pixels).save(path)
    except OSError as exc:
        raise ColorbenchError(
            f"cannot write {path}: {exc.strerror or exc}; free disk space or choose another --out"
        ) from None


def _write_images(stimulus_set: StimulusSet, samples: int, out: Path, quiet: bool) -> int:
    """Render in batches and encode PNGs on a few threads (Pillow's zlib releases the GIL)."""
    folder = _prepare(out)
    total = stimulus_set.size(samples)
    rows: list[dict] = []
    try:
        _render_all(stimulus_set, samples, folder, rows, quiet)
    except KeyboardInterrupt:
        _write_metadata(out, rows)
        raise Interrupted(
            f"interrupted; {len(rows)} of {total} images and their {METADATA} are in {out}; "
            "rerun with --overwrite to export them all"
        ) from None
    _write_metadata(out, rows)
    return len(rows)


def _write_metadata(out: Path, rows: list[dict]) -> None:
    with atomic_path(out / METADATA) as tmp:
        pd.DataFrame(rows, columns=None if rows else ["file_name"]).to_csv(tmp, index=False)


def _render_all(
    stimulus_set: StimulusSet, samples: int, folder: Path, rows: list[dict], quiet: bool
) -> None:
    """Append one metadata row per image once its PNG is on disk."""
    total = stimulus_set.size(samples)
    digits = len(str(stimulus_set.num_combinations() - 1)), len(str(samples - 1))
    with (
        progress_bar(quiet) as progress,
        ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool,
    ):
        task = progress.add_task(stimulus_set.name, total=total)
        for start in range(0, total, BATCH):
            batch = stimulus_set.render(
                stimulus_set.samples(start, min(start + BATCH, total), samples)
            )
            names = [
                f"{s.combination:0{digits[0]}d}_{s.sample:0{digits[1]}d}.png" for s in batch.samples
            ]
            pixels = batch.images.permute(0, 2, 3, 1).numpy()
            list(pool.map(_save_png, pixels, [folder / name for name in names]))
            rows += [
                {
                    "file_name": f"images/{name}",
                    "sample_id": s.sample_id,
                    "combination": s.combination,
                    "sample": s.sample,
                    **s.attrs,
                }
                for s, name in zip(batch.samples, names, strict=True)
            ]
            progress.advance(task, len(batch.samples))
