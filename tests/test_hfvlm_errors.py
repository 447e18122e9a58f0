"""hf-vlm bad input: every failure is one line naming the fix, within seconds, no network."""

from __future__ import annotations

import json
import sys
import time

import pytest

pytest.importorskip("transformers")

from colorbench.cli.app import main  # noqa: E402
from colorbench.plugins.hfvlm.families import FAMILIES  # noqa: E402
from colorbench.plugins.hfvlm.tiny import HOSTILE, hostile_folder, tiny_model  # noqa: E402


def fails_in_one_line(capsys, tmp_path, model_id: str, *options: str) -> str:
    argv = ["run", "--model", model_id, "--task", "stroop-white", "--out", str(tmp_path / "o")]
    assert main([*argv, "-q", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_without_transformers_the_line_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    err = fails_in_one_line(capsys, tmp_path, "hf-vlm-tiny-qwen2_5_vl")
    assert "pip install 'colorbench[vlm]'" in err


def test_list_does_not_import_transformers(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    assert main(["list", "models", "--all"]) == 0
    out = capsys.readouterr().out
    assert all(f"hf-vlm-tiny-{t}" in out for t in ("qwen2_5_vl", "qwen3_vl", "vipllava"))


def test_weights_neither_cached_nor_given_fail_at_once(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.monotonic()
    err = fails_in_one_line(capsys, tmp_path, "hf-vlm:Qwen/Qwen2.5-VL-3B-Instruct")
    assert time.monotonic() - start < 10
    assert "empty-cache" in err and "hf-vlm:/path/to/folder" in err
    assert "huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct" in err


def test_a_missing_folder_is_one_line(capsys, tmp_path):
    err = fails_in_one_line(capsys, tmp_path, f"hf-vlm:{tmp_path / 'nowhere'}")
    assert "does not exist" in err and "hf-vlm:/path/to/folder" in err


def test_an_unsupported_architecture_lists_the_supported_families(capsys, tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    err = fails_in_one_line(capsys, tmp_path, f"hf-vlm:{folder}")
    assert "'bert' is not supported" in err
    assert all(family.name in err for family in FAMILIES.values())


def test_a_folder_without_config_is_one_line(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    err = fails_in_one_line(capsys, tmp_path, f"hf-vlm:{tmp_path / 'empty'}")
    assert "config.json" in err


def test_a_processor_without_chat_template_is_one_line(capsys, tmp_path):
    model, processor = tiny_model("llava")
    processor.chat_template = None
    folder = tmp_path / "no-template"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    assert not list(folder.glob("*.jinja"))
    err = fails_in_one_line(capsys, tmp_path, f"hf-vlm:{folder}")
    assert "no chat template" in err and "chat_template.jinja" in err


def test_weights_option_is_refused_with_the_folder_form(capsys, tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    err = fails_in_one_line(capsys, tmp_path, "hf-vlm-tiny-llava", "--weights", str(weights))
    assert "hf-vlm:/path/to/folder" in err


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_checkpoint_folder_is_one_line_and_runs_nothing(capsys, tmp_path, kind):
    folder, marker = tmp_path / kind, tmp_path / "PWNED"
    hostile_folder(folder, kind, marker)
    err = fails_in_one_line(capsys, tmp_path, f"hf-vlm:{folder}")
    expected = {
        "sandbox": "SecurityError",
        "overflow": "OverflowError",
        "pickle": "weights_only=True",
        "remote-code": "remote code",
    }[kind]
    assert expected in err, err
    assert not marker.exists()
