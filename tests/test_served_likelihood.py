"""served:NAME@URL --scoring likelihood against a vLLM-compatible stub (served_support.VLLMStub)
whose prompt log-probabilities come from an in-process tiny model, so the truth is known by
construction: the served scores equal ``hf-vlm``'s in-process likelihoods of the same model,
a head biased towards "Red" answers red, an image whose requests never came back is missing
(never a wrong answer) and the next call asks only those, and a server that cannot is refused
in one line naming what it lacks."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("httpx")

from served_support import FaultProxy, VLLMStub  # noqa: E402
from test_hfvlm import bias_towards_red  # noqa: E402

from colorbench.errors import ColorbenchError  # noqa: E402
from colorbench.palette import DEFAULT_PALETTE  # noqa: E402
from colorbench.plugins.hfvlm.load import create_adapter as hf_vlm  # noqa: E402
from colorbench.plugins.served import likelihood  # noqa: E402
from colorbench.plugins.served import pool as pool_module  # noqa: E402
from colorbench.plugins.served.adapter import create_adapter as served  # noqa: E402
from colorbench.runner.scoring import MISSING_INDEX, Scorer, ScoringMode  # noqa: E402
from colorbench.stimuli.stroop import StroopSet  # noqa: E402
from colorbench.tasks import paper_tasks, questions  # noqa: E402

torch.set_num_threads(1)
NAMES = DEFAULT_PALETTE.names
ASKED = [questions.OBJECT, questions.FONT]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    stroop = StroopSet(DEFAULT_PALETTE, seed=0)
    return stroop.render([stroop.samples(i, i + 1, 1)[0] for i in (0, 401, 877)]).images


def scorer_answers(adapter, images, normalization="sum"):
    prompts = [p for task in paper_tasks() for p in task.prompts][:2]
    mode = ScoringMode("likelihood", normalization)
    return Scorer(adapter, prompts, DEFAULT_PALETTE, {}, mode)(images)


@pytest.mark.parametrize(
    ("family", "token_ids"), [("qwen2_5_vl", True), ("qwen2_5_vl", False), ("internvl", True)]
)
def test_served_likelihoods_equal_hf_vlm_in_process(
    family, token_ids, images, tmp_path, monkeypatch
):
    """Same model in-process and behind the stub: every answer's log-likelihood within 1e-4,
    the same token counts, whether the server returns prompt_token_ids or not (older vLLM);
    the store keeps only the prompts' tails (shortened below the tiny prompts' ~60 tokens
    here, so the cut is exercised), and a second call asks nothing."""
    monkeypatch.setattr(likelihood, "TAIL", 16)
    reference = hf_vlm(f"hf-vlm-tiny-{family}", seed=0)
    stub = VLLMStub(reference.model, reference.processor, token_ids=token_ids)
    try:
        adapter = served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        got = adapter.loglikelihood_prompts(images, ASKED, NAMES)
        want = reference.loglikelihood_prompts(images, ASKED, NAMES)
        for mine, truth in zip(got, want, strict=True):
            torch.testing.assert_close(mine.total, truth.total, atol=1e-4, rtol=0)
            assert torch.equal(mine.tokens, truth.tokens) and not mine.missing.any()
            assert len(set(truth.tokens.tolist())) > 1 and truth.total.std() > 0.1
        asked = len(stub.bodies)
        assert asked == 1 + len(images) * len(ASKED) * (len(NAMES) + 1)  # probe + requests
        scoring = [b for b in stub.bodies if len(b["messages"]) == 2]
        assert all(b["continue_final_message"] and not b["add_generation_prompt"] for b in scoring)
        said = {b["messages"][-1]["content"] for b in scoring}  # as the answer starts a reply
        assert said == {name.capitalize() for name in NAMES}
        with sqlite3.connect(adapter.store.path) as db:
            stored = [json.loads(r) for (r,) in db.execute("SELECT response FROM responses")]
        assert len(stored) == asked - 1
        kept = [r[likelihood.KEPT] for r in stored]
        assert all("prompt_logprobs" not in r for r in stored)
        assert all(len(k["ids"]) == min(k["length"], likelihood.TAIL) for k in kept)
        assert max(k["length"] for k in kept) > likelihood.TAIL  # the cut was needed
        again = served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        repeat = again.loglikelihood_prompts(images, ASKED, NAMES)
        assert len(stub.bodies) == asked + 1  # the probe only: every answer from the store
        assert all(torch.equal(a.total, b.total) for a, b in zip(repeat, got, strict=True))
    finally:
        stub.close()


def test_a_head_biased_towards_red_wins_and_the_unbiased_one_does_not(images, tmp_path):
    reference = hf_vlm("hf-vlm-tiny-qwen2_5_vl", seed=0)
    stub = VLLMStub(reference.model, reference.processor)
    try:
        adapter = served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        plain = scorer_answers(adapter, images)
        assert any(NAMES[i] != "red" for a in plain for i in a.answer)
        bias_towards_red(reference)  # the stub serves the same model object
        for normalization in ("sum", "mean"):
            adapter.reuse = normalization == "mean"  # the biased model is asked once, anew
            for answers in scorer_answers(adapter, images, normalization):
                assert [NAMES[i] for i in answers.answer] == ["red"] * len(images)
    finally:
        stub.close()


def test_requests_that_never_come_back_make_missing_rows_asked_again(images, tmp_path, monkeypatch):
    """Three requests always fail: their images are missing (never an answer), the others
    are hf-vlm's; once healed, the next call asks exactly those three and fills them in."""
    monkeypatch.setattr(pool_module, "RETRIES", 1)
    monkeypatch.setattr(pool_module, "BACKOFF", 0.01)
    reference = hf_vlm("hf-vlm-tiny-qwen2_5_vl", seed=0)
    stub = VLLMStub(reference.model, reference.processor)
    proxy = FaultProxy(stub.url)
    try:
        model = f"served:{stub.name}@{proxy.url}"
        adapter = served(model, out=tmp_path, scoring="likelihood")
        proxy.doom = 3
        answers = scorer_answers(adapter, images)
        truth = scorer_answers(reference, images)
        lost = [a.answer == MISSING_INDEX for a in answers]
        assert 1 <= sum(int(m.sum()) for m in lost) <= 3 * 3  # 3 requests, up to 3 prompts each
        for mine, want, gone in zip(answers, truth, lost, strict=True):
            assert (mine.answer[~gone] == want.answer[~gone]).all()
            assert (abs(mine.score[~gone] - want.score[~gone]) < 1e-4).all()
            assert torch.isnan(torch.from_numpy(mine.score[gone])).all()
        proxy.doom, doomed = 0, set(proxy.doomed)
        proxy.doomed.clear()
        before = proxy.received
        healed = served(model, out=tmp_path, scoring="likelihood")
        again = scorer_answers(healed, images)
        assert proxy.received - before == 1 + len(doomed)  # the probe, then only the lost ones
        for mine, want in zip(again, truth, strict=True):
            assert (mine.answer == want.answer).all()
            assert (abs(mine.score - want.score) < 1e-4).all()
        # only the probe, sent at each start, was answered twice
        assert sorted(proxy.answered.values())[-2:] == [1, 2]
    finally:
        proxy.close()
        stub.close()


def test_a_server_that_closes_the_turn_is_refused_in_one_line(tmp_path):
    reference = hf_vlm("hf-vlm-tiny-qwen2_5_vl", seed=0)
    stub = VLLMStub(reference.model, reference.processor, continue_turns=False)
    try:
        with pytest.raises(ColorbenchError, match="continue_final_message") as caught:
            served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        assert "\n" not in str(caught.value) and "--scoring generate" in str(caught.value)
        assert len(stub.bodies) == 1  # the probe, nothing else asked
    finally:
        stub.close()


def test_answer_boundaries_follow_hf_vlm_rule():
    """Tails by construction: a BPE merge of the prompt's last token into an answer moves
    the boundary back for every answer; an answer that differs before the kept tail, or a
    prompt the answers do not extend, cannot be scored."""
    prompt = likelihood.PromptTail(100, (7, 8, 9), (None, -1.0, -1.0))
    red = likelihood.PromptTail(101, (7, 8, 9, 5), (None, -1.0, -1.0, -0.5))
    merged = likelihood.PromptTail(101, (7, 8, 4, 6), (None, -1.0, -2.0, -0.25))
    assert likelihood.answer_scores(prompt, [red]) == [(-0.5, 1)]
    assert likelihood.answer_scores(prompt, [red, merged]) == [(-1.5, 2), (-2.25, 2)]
    elsewhere = likelihood.PromptTail(101, (1, 8, 9, 5), (None, -1.0, -1.0, -0.5))
    with pytest.raises(likelihood.Unscorable):
        likelihood.answer_scores(prompt, [red, elsewhere])
    with pytest.raises(likelihood.Unscorable):
        likelihood.answer_scores(prompt, [prompt])  # an answer that adds no token


@pytest.mark.served
def test_cli_likelihood_run_equals_hf_vlm_folder_and_resumes_from_the_store(tmp_path, capsys):
    """``colorbench run --model served:<name>@<stub> --scoring likelihood`` on stroop-white
    (90 cards) gives hf-vlm:<same folder> --scoring likelihood's answers and scores per image;
    the same command again, its result removed, asks the server nothing but the probe."""
    import pandas as pd

    from colorbench.cli.app import main
    from colorbench.names import model_slug
    from colorbench.plugins.hfvlm.tiny import tiny_model

    model, processor = tiny_model("qwen2_5_vl", seed=0)
    folder = tmp_path / "tiny-qwen"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    loaded = hf_vlm(f"hf-vlm:{folder}")
    stub = VLLMStub(loaded.model, loaded.processor, name=str(folder))
    out = tmp_path / "out"

    def run(name: str, stored_as: str) -> pd.DataFrame:
        argv = ["run", "--model", name, "--task", "stroop-white", "--samples", "1"]
        argv += ["--scoring", "likelihood", "--keep-scores", "--out", str(out), "-q"]
        assert main(argv) == 0
        table = out / model_slug(stored_as) / "stroop-white" / "predictions.parquet"
        frame = pd.read_parquet(table)
        return frame.sort_values(["sample_id", "prompt"]).reset_index(drop=True)

    try:
        truth = run(f"hf-vlm:{folder}", f"hf-vlm:{folder}")  # likelihood: hf-vlm's default
        name = f"served:{folder}@{stub.url}"
        mine = run(name, f"{name}@likelihood")  # served: generate is the default
        # the random tiny model answers one colour everywhere, but every card has its own
        # scores: all 11 terms' scores per card must match, so a card's answers given to
        # another card would show
        scores = [c for c in truth.columns if c.startswith("score_")]
        assert len(mine) == 90 and len(scores) == len(NAMES)
        assert mine["score"].nunique() > 45
        pd.testing.assert_series_equal(mine["answer"], truth["answer"])
        assert (mine[scores] - truth[scores]).abs().max().max() < 1e-4
        asked = len(stub.bodies)
        spellings = sum(len(DEFAULT_PALETTE.spellings(t)) for t in NAMES)  # grey and gray...
        assert spellings > len(NAMES) and asked == 1 + 90 * (1 + spellings)  # probe, prompts
        result = out / model_slug(f"{name}@likelihood") / "stroop-white"
        (result / "summary.json").unlink()
        pd.testing.assert_frame_equal(run(name, f"{name}@likelihood"), mine)
        assert len(stub.bodies) == asked + 1
        prov = json.loads((result / "summary.json").read_text())["provenance"]
        assert prov["usage"]["reused_from_store"] == asked - 1 and prov["usage"]["missing"] == 0
        assert "prompt_logprobs" in prov["api"]
    finally:
        stub.close()


def test_score_end_scores_each_answer_followed_by_the_templates_end(images, tmp_path):
    """--score-end: the served model's answer end is read from the server (the template's
    <|im_end|>, as hf-vlm reads it in-process) and the scores equal hf-vlm's."""
    reference = hf_vlm("hf-vlm-tiny-qwen2_5_vl", seed=0)
    stub = VLLMStub(reference.model, reference.processor)
    try:
        adapter = served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        assert adapter.answer_end == reference.answer_end == "<|im_end|>"
        prompts = [p for task in paper_tasks() for p in task.prompts][:2]
        mode = ScoringMode("likelihood", "sum", score_end=True)
        mine = Scorer(adapter, prompts, DEFAULT_PALETTE, {}, mode, keep_scores=True)(images)
        truth = Scorer(reference, prompts, DEFAULT_PALETTE, {}, mode, keep_scores=True)(images)
        for a, b in zip(mine, truth, strict=True):
            assert (abs(a.scores - b.scores) < 1e-4).all() and (a.answer == b.answer).all()
        said = {b["messages"][-1]["content"] for b in stub.bodies if len(b["messages"]) == 2}
        assert "Red<|im_end|>" in said
    finally:
        stub.close()
    # a template whose turn ends in plain text (tiny LLaVA: a space) has no end to carry
    reference = hf_vlm("hf-vlm-tiny-llava", seed=0)
    stub = VLLMStub(reference.model, reference.processor)
    try:
        adapter = served(f"served:{stub.name}@{stub.url}", out=tmp_path, scoring="likelihood")
        assert adapter.answer_end is None
        with pytest.raises(ColorbenchError, match="--score-end"):
            Scorer(adapter, prompts, DEFAULT_PALETTE, {}, mode)
    finally:
        stub.close()
