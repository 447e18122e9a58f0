"""colorbench.runner.weights: only tensors load; hostile, truncated, mismatched files: one line."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from colorbench.errors import WeightsError
from colorbench.runner.weights import (
    check_state_dict,
    is_torchscript_archive,
    load_into,
    load_state_dict,
    sha256_file,
)


def small_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


class CreatesFile:
    """Unpickling this runs ``open(marker, "w")``: a stand-in for any code a pickle can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def one_line_error(path: Path) -> str:
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("layout", ["safetensors", "safetensors-as-bin", "flat", "wrapped"])
def test_open_clip_layouts_load_to_the_same_tensors(tmp_path: Path, layout: str) -> None:
    state = small_module().state_dict()
    if layout.startswith("safetensors"):
        path = tmp_path / ("w.safetensors" if layout == "safetensors" else "open_clip_model.bin")
        save_file(dict(state), str(path))
    else:
        path = tmp_path / "w.pt"
        saved = (
            state
            if layout == "flat"
            else {"state_dict": {f"module.{k}": v for k, v in state.items()}}
        )
        torch.save(saved, path)
    loaded = load_state_dict(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    target = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_into(target, loaded, path)
    assert torch.equal(target[0].weight, state["0.weight"])


def test_pickle_that_runs_code_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    live_marker, refused_marker = tmp_path / "live", tmp_path / "refused"
    control, hostile = tmp_path / "control.pt", tmp_path / "hostile.pt"
    torch.save({"w": torch.zeros(2), "x": CreatesFile(live_marker)}, control)
    torch.save({"w": torch.zeros(2), "x": CreatesFile(refused_marker)}, hostile)
    torch.load(control, weights_only=False)  # the payload is live: an unsafe load runs it
    assert live_marker.exists()

    message = one_line_error(hostile)
    assert "refused" in message and "run code" in message
    assert not refused_marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, archives are not
def test_torchscript_archive_is_refused_with_how_to_convert(tmp_path: Path) -> None:
    path = tmp_path / "RN50.pt"
    torch.jit.save(torch.jit.script(small_module()), str(path))
    assert is_torchscript_archive(path)
    message = one_line_error(path)
    assert "TorchScript" in message and "safetensors" in message


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_names_the_file(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    state = small_module().state_dict()
    if suffix == ".safetensors":
        save_file(dict(state), str(whole))
    else:
        torch.save(state, whole)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert "truncated" in one_line_error(cut)


def test_missing_file_and_non_state_dicts_are_one_line(tmp_path: Path) -> None:
    assert "does not exist" in one_line_error(tmp_path / "nope.safetensors")
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listed)
    assert "not a state dict" in one_line_error(listed)
    mixed = tmp_path / "mixed.pt"
    torch.save({"w": torch.zeros(1), "epoch": 3}, mixed)
    assert "epoch" in one_line_error(mixed)


def test_mismatch_names_the_file_the_keys_and_the_shapes(tmp_path: Path) -> None:
    expected = small_module().state_dict()
    found = dict(expected)
    found["0.weight"] = torch.zeros(8, 3, 3, 3)
    del found["1.running_mean"]
    found["extra.bias"] = torch.zeros(1)
    with pytest.raises(WeightsError) as info:
        check_state_dict(expected, found, tmp_path / "bad.pt")
    message = str(info.value)
    assert "\n" not in message and "bad.pt" in message
    assert "missing keys (1: 1.running_mean)" in message
    assert "unexpected keys (1: extra.bias)" in message
    assert "0.weight (8, 3, 3, 3) != (4, 3, 3, 3)" in message
    check_state_dict(expected, expected, "fine.pt")  # a matching state dict passes


def test_mismatch_lists_only_the_first_few_keys() -> None:
    expected = {f"k{i}": torch.zeros(1) for i in range(10)}
    with pytest.raises(WeightsError, match=r"missing keys \(10: k0, k1, k2 and 7 more\)"):
        check_state_dict(expected, {}, "empty.pt")


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3 * 1024 + 7))
    assert sha256_file(path, chunk_size=1024) == hashlib.sha256(path.read_bytes()).hexdigest()
