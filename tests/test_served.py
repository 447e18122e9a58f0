"""served:NAME@URL against a stub OpenAI-compatible server (no model): what is sent, what is
stored, what is re-asked, and every bad input in one line. The real-server tests (parity with
hf-vlm, faults, kills) are in test_served_e2e.py."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from served_support import Stub, free_port

from colorbench.cli.app import main
from colorbench.names import model_slug
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugins.served import pool as pool_module
from colorbench.plugins.served.pool import Pool, retry_after


@pytest.fixture(scope="module")
def stub():
    server = Stub()
    yield server
    server.close()


def run(tmp_path: Path, model: str, *options: str, task: str = "stroop-white") -> int:
    argv = ["run", "--model", model, "--task", task, "--out", str(tmp_path / "out"), "-q"]
    return main([*argv, *options])


def test_every_image_is_asked_once_as_png_and_stored(stub, tmp_path, capsys):
    stub.bodies.clear()
    model = f"served:{Stub.MODEL}@{stub.url('ok')}"
    assert run(tmp_path, model) == 0
    folder = tmp_path / "out" / model_slug(model)
    rows = pd.read_parquet(folder / "stroop-white" / "predictions.parquet")
    assert len(stub.bodies) == len(rows) == 90
    assert set(rows["answer"]) == {"red"} and set(rows["response"]) == {"Red."}
    body = stub.bodies[0]
    assert (body["model"], body["temperature"], body["seed"]) == (Stub.MODEL, 0, 0)
    image, text = body["messages"][0]["content"]
    task = load_plugins([]).tasks.get("stroop-white")
    # the task's own question, offered the palette's terms as in every generate run
    asked = task.prompts[0].asked(DEFAULT_PALETTE, "choices")
    assert text == {"type": "text", "text": asked}
    uri = image["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert decoded.shape[2] == 3 and len(np.unique(decoded.reshape(-1, 3), axis=0)) > 1
    doc = json.loads((folder / "stroop-white" / "summary.json").read_text())
    prov = doc["provenance"]
    assert prov["image_format"] == "png" and prov["usage"]["total_tokens"] == 90 * 9
    assert prov["usage"]["endpoints"][0]["answered"] == 90
    # the same command again: the result is kept; without it, every answer comes from the store
    stub.bodies.clear()
    (folder / "stroop-white" / "summary.json").unlink()
    assert run(tmp_path, model) == 0
    assert stub.bodies == []
    again = pd.read_parquet(folder / "stroop-white" / "predictions.parquet")
    pd.testing.assert_frame_equal(rows, again)
    # the same model at another URL (a job on other nodes): a new result, nothing re-asked
    elsewhere = model.replace("127.0.0.1", "localhost")
    assert run(tmp_path, elsewhere) == 0 and stub.bodies == []
    moved = tmp_path / "out" / model_slug(elsewhere) / "stroop-white" / "predictions.parquet"
    assert pd.read_parquet(moved)["response"].tolist() == rows["response"].tolist()


def test_the_png_holds_the_stimulus_exactly(stub, tmp_path):
    """Lossless: the pixels a server decodes are the rendered image's, every one."""
    import torch

    from colorbench.plugins.served.adapter import png_data_uri

    image = torch.randint(0, 256, (3, 37, 53), dtype=torch.uint8, generator=torch.Generator())
    uri = png_data_uri(image)
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert (decoded == image.permute(1, 2, 0).numpy()).all()


def test_the_api_key_is_sent_but_never_written(stub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STUB_KEY", Stub.KEY)
    model = f"served:{Stub.MODEL}@{stub.url('auth')}"
    assert run(tmp_path, model, "--api-key-env", "STUB_KEY") == 0
    assert f"Bearer {Stub.KEY}" in stub.seen_auth
    seen = capsys.readouterr()
    assert Stub.KEY not in seen.out + seen.err
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert Stub.KEY.encode() not in path.read_bytes(), path


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("colorbench: error:"), err
    assert Stub.KEY not in err
    return lines[0]


@pytest.mark.parametrize(
    ("mode", "name", "options", "expected"),
    [
        ("unreachable", Stub.MODEL, (), "cannot reach endpoint"),
        ("ok", "other-model", (), "serves stub-model, not 'other-model'"),
        ("auth", Stub.MODEL, (), "refused the request (401)"),
        ("auth", Stub.MODEL, ("--api-key-env", "WRONG_KEY"), "--api-key-env is wrong"),
        ("nonjson", Stub.MODEL, (), "not JSON"),
        ("empty", Stub.MODEL, (), "without a choice"),
        ("ok", Stub.MODEL, ("--api-key-env", "COLORBENCH_NO_SUCH_VAR"), "is not set"),
        ("ok", Stub.MODEL, ("--scoring", "likelihood"), "ignores vLLM's prompt_logprobs"),
        ("strict", Stub.MODEL, ("--scoring", "likelihood"), "rejects vLLM's prompt_logprobs"),
        ("closed", Stub.MODEL, ("--scoring", "likelihood"), "ignores vLLM's continue_final"),
    ],
)
def test_bad_input_is_one_line(stub, tmp_path, capsys, monkeypatch, mode, name, options, expected):
    monkeypatch.setenv("WRONG_KEY", "not-the-key")
    monkeypatch.delenv("COLORBENCH_NO_SUCH_VAR", raising=False)
    url = f"http://127.0.0.1:{free_port()}/v1" if mode == "unreachable" else stub.url(mode)
    line = one_line_error(capsys, run(tmp_path, f"served:{name}@{url}", *options))
    assert expected in line
    assert not list((tmp_path / "out").rglob("summary.json"))


def test_retry_after_is_honoured_and_backoff_grows():
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Thu, 01 Jan 2099 00:00:00 GMT") > 3600
    pool = Pool([], {}, 1, 1.0)
    assert pool._delay(1, 5.0) >= 5.0
    firsts = [pool._delay(1, None) for _ in range(50)]
    lasts = [pool._delay(6, None) for _ in range(50)]
    assert max(firsts) <= 0.75 < min(lasts)  # 0.5 s x [0.5, 1.5) vs 16 s x [0.5, 1.5)
    assert len(set(firsts)) > 1  # jitter


def test_answers_that_never_come_are_missing_not_wrong(stub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pool_module, "RETRIES", 1)
    monkeypatch.setattr(pool_module, "BACKOFF", 0.01)
    model = f"served:{Stub.MODEL}@{stub.url('down')}"
    line = one_line_error(capsys, run(tmp_path, model))
    assert "90 answer(s) missing" in line and "--allow-missing" in line
    assert not list((tmp_path / "out").rglob("summary.json"))
    # --allow-missing with nothing answered still stores nothing it could grade
    line = one_line_error(capsys, run(tmp_path, model, "--allow-missing"))
    assert "no answer" in line


def test_no_resume_asks_again(stub, tmp_path):
    model = f"served:{Stub.MODEL}@{stub.url('ok')}"
    assert run(tmp_path, model) == 0
    stub.bodies.clear()
    assert run(tmp_path, model, "--no-resume") == 0
    assert len(stub.bodies) == 90  # asked again although the store has every answer


def test_identical_images_are_asked_once(stub, tmp_path):
    import torch

    from colorbench.plugins.served.adapter import create_adapter

    stub.bodies.clear()
    adapter = create_adapter(f"served:{Stub.MODEL}@{stub.url('ok')}", out=tmp_path, resume=True)
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    images[1] += 5  # two distinct images, each twice
    assert adapter.generate(images, "Which colour?", 5) == ["Red."] * 4
    assert len(stub.bodies) == 2 and adapter.usage()["answered"] == 2


def test_reply_content_as_parts_or_null_is_text():
    import httpx

    from colorbench.plugins.served.pool import parse_reply

    def reply(content):
        body = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        return parse_reply(httpx.Response(200, json=body), "http://x/v1", 0.1, None).text

    assert reply([{"type": "text", "text": "Dark "}, {"type": "text", "text": "red"}]) == "Dark red"
    assert reply(None) == "" and reply("Blue.") == "Blue."


def test_an_answer_cut_by_max_tokens_is_truncated_fresh_and_from_the_store(tmp_path):
    import httpx

    from colorbench.plugins.served.pool import parse_reply
    from colorbench.plugins.served.store import ResponseStore

    def reply(finish_reason):
        choice = {"message": {"content": "The colour is dark"}, "finish_reason": finish_reason}
        return parse_reply(httpx.Response(200, json={"choices": [choice]}), "http://x/v1", 0, None)

    store = ResponseStore(tmp_path / "store.sqlite")
    for key, finish_reason in [("cut", "length"), ("ended", "stop"), ("unsaid", None)]:
        store.put(key, "m", reply(finish_reason))
    cut = {key: reply(f).answer.truncated for key, f in [("cut", "length"), ("ended", "stop")]}
    assert cut == {"cut": True, "ended": False}
    stored = store.get_many(["cut", "ended", "unsaid"])
    assert {k: v.truncated for k, v in stored.items()} == {
        "cut": True,
        "ended": False,
        "unsaid": False,
    }
    assert stored["cut"] == "The colour is dark"
