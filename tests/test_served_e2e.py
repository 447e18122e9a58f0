"""served:<folder>@<url> against a real ``transformers serve`` of tiny model folders.

Parity: the served answers per image equal ``hf-vlm:<same folder> --scoring generate`` run
in-process (greedy on both sides), for two model folders (tiny Qwen2.5-VL and tiny LLaVA).
Faults, through :class:`served_support.FaultProxy`: 429 with Retry-After, 500s, timeouts and
dropped connections; the server killed mid-run and restarted; colorbench SIGKILLed mid-run
and resumed; an endpoint that keeps failing dropped; answers that stay missing; a token
budget. Each ends with the predictions of an undisturbed run, no request answered twice
(counted at the proxy) and nothing missing. Marked ``served`` (one server start per folder
for the whole module, ~2-3 min in all): ``.ci/run`` runs them after the default suite.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from conftest import THREE_COLOURS  # noqa: E402
from served_support import FaultProxy, Server, sigkill_mid_run  # noqa: E402

from colorbench.cli.app import main  # noqa: E402
from colorbench.names import model_slug  # noqa: E402
from colorbench.plugins.hfvlm.tiny import tiny_model  # noqa: E402
from colorbench.plugins.served import pool as pool_module  # noqa: E402
from colorbench.plugins.served.store import store_path  # noqa: E402

pytestmark = pytest.mark.served

FAMILIES = ("qwen2_5_vl", "llava")
COLUMNS = ["sample_id", "prompt", "answer", "response"]
#: every fault test reports here; the module prints the table at the end (-s) and the
#: closing note quotes it
COUNTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> dict[str, Server]:
    """One ``transformers serve`` per tiny folder, started together, killed at the end."""
    root = tmp_path_factory.mktemp("served")
    started: dict[str, Server] = {}
    for family in FAMILIES:
        model, processor = tiny_model(family, seed=0)
        folder = root / family
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        started[family] = Server(folder, root / f"{family}.log")
    try:
        for server in started.values():
            server.start()
        for server in started.values():
            server.wait()
    except RuntimeError as exc:
        for server in started.values():
            server.stop()
        pytest.skip(f"transformers serve cannot start here: {exc}")
    yield started
    for server in started.values():
        server.stop()
    if COUNTS:
        print("\nserved fault tests (counted at the proxy):")
        for name, counts in COUNTS.items():
            print(f"  {name}: {json.dumps(counts)}")


def served_id(server: Server, url: str | None = None) -> str:
    return f"served:{server.folder}@{url or server.url}"


def run(out: Path, model: str, *options: str, task: str = "stroop-white") -> int:
    argv = ["run", "--model", model, "--task", task, "--samples", "1", "--out", str(out), "-q"]
    return main([*argv, *options])


def predictions(out: Path, model: str, task: str = "stroop-white") -> pd.DataFrame:
    frame = pd.read_parquet(out / model_slug(model) / task / "predictions.parquet")
    return frame[COLUMNS].sort_values(["sample_id", "prompt"]).reset_index(drop=True)


def decoded_without_special_tokens(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """``frame`` with the tokenizer's special tokens taken out of each response, as ``hf-vlm``
    decodes (``skip_special_tokens=True``): ``transformers serve`` leaves some in (a random
    tiny model generates ``<|image_pad|>`` now and then), which is the server's text, not a
    different answer."""
    from transformers import AutoTokenizer

    special = AutoTokenizer.from_pretrained(folder).all_special_tokens
    frame = frame.copy()
    for token in special:
        frame["response"] = frame["response"].str.replace(token, "", regex=False)
    return frame


def equal_but_for_the_servers_length_rule(served: pd.DataFrame, in_process: pd.DataFrame) -> None:
    """The two frames are equal, except that ``transformers serve`` reports
    ``finish_reason: "length"`` for every completion that used all ``max_tokens``, even one
    whose last token was the end of the answer (``hf-vlm`` and vLLM call that one finished):
    such a row must have the same text on both sides, ``truncated`` only on the served one."""
    quirk = (served["answer"] == "truncated") & (in_process["answer"] != "truncated")
    assert quirk.mean() < 0.5  # the rule explains an odd row, not the run
    pd.testing.assert_series_equal(served["response"], in_process["response"])
    pd.testing.assert_frame_equal(served[~quirk], in_process[~quirk])


def usage(out: Path, model: str, task: str = "stroop-white") -> dict:
    doc = json.loads((out / model_slug(model) / task / "summary.json").read_text())
    return doc["provenance"]["usage"]


@pytest.fixture(scope="module")
def reference(servers, tmp_path_factory) -> dict[tuple[str, str], pd.DataFrame]:
    """``hf-vlm:<folder> --scoring generate`` in-process: the undisturbed answers."""
    out = tmp_path_factory.mktemp("reference")
    palette = out / "three.json"
    palette.write_text(json.dumps(THREE_COLOURS))
    found = {}
    for family, server in servers.items():
        model = f"hf-vlm:{server.folder}"
        assert run(out, model, "--scoring", "generate") == 0
        found[family, "stroop-white"] = predictions(out, f"{model}@generate")
        assert (
            run(out, model, "--scoring", "generate", "--palette", str(palette), task=COLORED) == 0
        )
        found[family, COLORED] = predictions(out, f"{model}@generate", COLORED)
    return found


COLORED = "stroop-colored"


@pytest.mark.parametrize("family", FAMILIES)
def test_served_answers_equal_hf_vlm_generate_in_process(servers, reference, tmp_path, family):
    server, out = servers[family], tmp_path / "out"
    model = served_id(server)
    assert run(out, model) == 0
    served = decoded_without_special_tokens(predictions(out, model), server.folder)
    equal_but_for_the_servers_length_rule(served, reference[family, "stroop-white"])
    # stroop-colored with three colours: every image gets another text, so the comparison
    # would catch answers given to the wrong image
    palette = tmp_path / "three.json"
    palette.write_text(json.dumps(THREE_COLOURS))
    assert run(out, model, "--palette", str(palette), task=COLORED) == 0
    served = decoded_without_special_tokens(predictions(out, model, COLORED), server.folder)
    assert served["response"].nunique() > 1
    equal_but_for_the_servers_length_rule(served, reference[family, COLORED])


def check_undisturbed(proxy: FaultProxy, out: Path, model: str, reference, name: str) -> dict:
    """Same predictions as the undisturbed run, each request answered once, nothing missing."""
    pd.testing.assert_frame_equal(predictions(out, model), reference["llava", "stroop-white"])
    counts = {**proxy.counts(), **{k: usage(out, model)[k] for k in ("retried", "missing")}}
    COUNTS[name] = counts
    assert counts["answered_twice"] == 0 and counts["missing"] == 0
    assert counts["distinct_answered"] == 90
    return counts


def test_429_500_timeouts_and_dropped_connections_are_retried(servers, reference, tmp_path):
    faults = {3: "429", 7: "429", 5: "500", 11: "500", 12: "500", 9: "timeout", 14: "drop"}
    faults.update({40: "drop", 41: "timeout", 60: "500", 61: "429"})
    proxy = FaultProxy(servers["llava"].url, lambda n: faults.get(n, "pass"), hang=4.0)
    try:
        model = served_id(servers["llava"], proxy.url)
        out = tmp_path / "out"
        assert run(out, model, "--request-timeout", "2", "--max-in-flight", "4") == 0
        counts = check_undisturbed(proxy, out, model, reference, "faults")
        assert counts["received"] == 90 + len(faults) and counts["retried"] == len(faults)
        # Retry-After: 1 was honoured: the same request came back a second or more later
        for times in proxy.arrivals.values():
            for (t0, fate), (t1, _) in zip(times, times[1:], strict=False):
                if fate == "429":
                    assert t1 - t0 >= 1.0
    finally:
        proxy.close()


def test_the_server_killed_mid_run_and_restarted(servers, reference, tmp_path):
    server = servers["llava"]

    def plan(n: int) -> str:
        if n == 30:
            threading.Thread(target=lambda: (server.stop(), server.start())).start()
        return "pass"

    proxy = FaultProxy(server.url, plan)
    try:
        model = served_id(server, proxy.url)
        out = tmp_path / "out"
        assert run(out, model, "--max-in-flight", "4") == 0
        server.wait()
        counts = check_undisturbed(proxy, out, model, reference, "server killed and restarted")
        assert counts["retried"] > 0
    finally:
        proxy.close()
        server.wait()


def test_colorbench_sigkilled_mid_run_resumes_without_asking_twice(servers, reference, tmp_path):
    """The proxy holds requests after the 40th answer; once every answer it delivered is in
    the store, colorbench is SIGKILLed; the held requests are never answered (their client is
    gone), and the same command finishes the run."""
    server = servers["llava"]
    proxy = FaultProxy(server.url)
    out = tmp_path / "out"
    model = served_id(server, proxy.url)
    store = store_path(out, str(server.folder))
    argv = [sys.executable, "-m", "colorbench", "run", "--model", model, "--task", "stroop-white"]
    argv += ["--samples", "1", "--out", str(out), "-q", "--max-in-flight", "4"]
    try:
        killed_at = sigkill_mid_run(proxy, argv, store, 40)
        assert not (out / model_slug(model) / "stroop-white").exists()
        assert run(out, model, "--max-in-flight", "4") == 0
        counts = check_undisturbed(proxy, out, model, reference, "colorbench SIGKILLed, resumed")
        assert 40 <= killed_at < 90
        assert usage(out, model)["reused_from_store"] == killed_at
        assert counts["abandoned"] > 0  # requests were in flight when it died
    finally:
        proxy.close()


def test_an_endpoint_that_keeps_failing_is_dropped(servers, reference, tmp_path, capsys):
    good = FaultProxy(servers["llava"].url)
    bad = FaultProxy(servers["llava"].url, lambda n: "500")
    try:
        model = served_id(servers["llava"], good.url)
        out = tmp_path / "out"
        assert run(out, model, "--endpoint", bad.url, "--max-in-flight", "2") == 0
        assert f"dropping endpoint {bad.url}" in capsys.readouterr().err
        check_undisturbed(good, out, model, reference, "failing endpoint dropped")
        endpoints = {e["url"]: e for e in usage(out, model)["endpoints"]}
        assert endpoints[bad.url]["dropped"] and endpoints[bad.url]["answered"] == 0
        assert endpoints[good.url]["answered"] == 90
    finally:
        good.close()
        bad.close()


def test_two_endpoints_share_one_queue(servers, reference, tmp_path):
    first, second = FaultProxy(servers["llava"].url), FaultProxy(servers["llava"].url)
    try:
        model = served_id(servers["llava"], first.url)
        out = tmp_path / "out"
        assert run(out, model, "--endpoint", second.url, "--max-in-flight", "2") == 0
        pd.testing.assert_frame_equal(predictions(out, model), reference["llava", "stroop-white"])
        answered = [e["answered"] for e in usage(out, model)["endpoints"]]
        assert sum(answered) == 90 and min(answered) > 0
        both = first.answered + second.answered
        assert len(both) == 90 and max(both.values()) == 1
    finally:
        first.close()
        second.close()


def test_missing_answers_are_never_graded_and_are_asked_again(
    servers, reference, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(pool_module, "RETRIES", 2)
    monkeypatch.setattr(pool_module, "BACKOFF", 0.05)
    proxy = FaultProxy(servers["llava"].url)
    proxy.doom = 5  # five requests fail every time: they are missing
    try:
        model = served_id(servers["llava"], proxy.url)
        out = tmp_path / "out"
        assert run(out, model, "--max-in-flight", "4") == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "5 answer(s) missing" in line and "--allow-missing" in line
        assert not (out / model_slug(model) / "stroop-white").exists()
        # --allow-missing: stored without them, n smaller by as many, the count recorded
        allowed = tmp_path / "allowed"
        assert run(allowed, model, "--max-in-flight", "4", "--allow-missing") == 0
        doc = json.loads((allowed / model_slug(model) / "stroop-white/summary.json").read_text())
        assert doc["provenance"]["allow_missing"] is True and doc["provenance"]["missing"] == 5
        assert doc["summary"]["headline"]["n"] == 85
        rows = pd.read_parquet(allowed / model_slug(model) / "stroop-white/predictions.parquet")
        assert len(rows) == 85 and "missing" not in set(rows["answer"])
        assert proxy.counts()["answered"] == 85 + 85
        # the same command without faults asks only the missing ones again
        proxy.doomed.clear()
        proxy.doom = 0
        proxy.answered.clear()  # count the first --out's requests alone from here
        assert run(out, model, "--max-in-flight", "4") == 0
        assert sum(proxy.answered.values()) == 5 and max(proxy.answered.values()) == 1
        assert usage(out, model)["reused_from_store"] == 85
        pd.testing.assert_frame_equal(predictions(out, model), reference["llava", "stroop-white"])
        COUNTS["5 missing, then asked again"] = {**proxy.counts(), **usage(out, model)}
    finally:
        proxy.close()


def test_a_token_budget_stops_cleanly_and_resumes(servers, reference, tmp_path, capsys):
    proxy = FaultProxy(servers["llava"].url)
    try:
        model = served_id(servers["llava"], proxy.url)
        out = tmp_path / "out"
        assert run(out, model, "--max-in-flight", "2", "--token-budget", "2000") == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith("colorbench: error:") and "token budget of 2000" in line
        first = sum(proxy.answered.values())
        assert 0 < first < 90
        assert run(out, model, "--max-in-flight", "2") == 0
        check_undisturbed(proxy, out, model, reference, "token budget, then resumed")
    finally:
        proxy.close()


def test_likelihood_is_refused_in_one_line_naming_what_transformers_serve_lacks(
    servers, tmp_path, capsys
):
    """transformers serve returns no prompt log-probabilities: one line naming that, nothing
    stored, no traceback."""
    out = tmp_path / "out"
    assert run(out, served_id(servers["llava"]), "--scoring", "likelihood") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("colorbench: error:"), lines
    assert "prompt_logprobs" in lines[0] and "--scoring generate" in lines[0]
    assert not list(out.rglob("summary.json"))
