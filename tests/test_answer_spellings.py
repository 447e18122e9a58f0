"""Likelihood scores a term over its accepted spellings, and optionally its end.

Truths by construction:
- a tiny model biased towards the tokens of ``Gray`` answers grey once the spellings of a
  term are pooled (log-sum-exp), and does not when only ``Grey`` is scored;
- a toy model whose replies are known strings: ``Red`` collects the mass of ``Reddish``
  unless the end of the answer is scored too;
- a palette's own synonyms are pooled and parsed like the built-in spellings.
"""

from __future__ import annotations

import math

import pytest
import torch

from colorbench.palette import DEFAULT_PALETTE, Color, Palette
from colorbench.plugin.adapter import AnswerLogLikelihoods, GenerativeAdapter
from colorbench.plugin.task import Prompt
from colorbench.runner.answers import parse_answer
from colorbench.runner.scoring import Scorer, ScoringMode, term_scores
from colorbench.tasks import questions

NAMES = DEFAULT_PALETTE.names
OBJECT = Prompt("object", "The color of the object is {c}", "object", questions.OBJECT)
END = "<end>"


def test_grey_pools_gray_by_log_sum_exp():
    assert DEFAULT_PALETTE.spellings("grey") == ("grey", "gray")
    scores = torch.log(torch.tensor([[0.1, 0.3, 0.2]]))
    pooled = term_scores(scores, [[0], [1, 2]])
    torch.testing.assert_close(pooled.exp(), torch.tensor([[0.1, 0.5]]))


def test_a_model_biased_towards_gray_answers_grey_only_with_spellings():
    pytest.importorskip("transformers")
    from colorbench.plugins.hfvlm.load import create_adapter

    torch.set_num_threads(1)
    adapter = create_adapter("hf-vlm-tiny-qwen2_5_vl", seed=0)
    question = OBJECT.asked(DEFAULT_PALETTE, "open")
    gray = adapter.answer_tokens(question, ("gray", "grey")).ids[0]
    bias = torch.zeros(adapter.model.config.get_text_config().vocab_size)
    bias[list(gray)] = 50.0  # every token of "Gray" wins wherever it stands
    head = adapter.model.get_output_embeddings()
    head.register_forward_hook(lambda module, args, output: output + bias.to(output))
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)

    one_spelling = adapter.loglikelihood(images, question, NAMES).total.argmax(dim=1)
    assert NAMES.index("grey") not in one_spelling.tolist()  # "Grey" alone loses
    for normalization in ("sum", "mean"):
        scorer = Scorer(adapter, [OBJECT], DEFAULT_PALETTE, {}, ScoringMode(
            "likelihood", normalization, question_form="open"))  # fmt: skip
        answers = scorer(images)[0]
        assert [NAMES[i] for i in answers.answer] == ["grey"] * len(images)


class ToyReplies(GenerativeAdapter):
    """A model whose whole replies have known probabilities; an answer's likelihood is the
    mass of the replies it begins (what a language model gives for a prefix)."""

    model_id = "toy"
    answer_end = END
    replies = {"Reddish" + END: 0.5, "Red" + END: 0.1, "Blue" + END: 0.3, "Gray" + END: 0.1}

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def loglikelihood(self, images, question, answers):
        self.asked.append(list(answers))
        mass = [
            sum(p for reply, p in self.replies.items() if reply.lower().startswith(a.lower()))
            for a in answers
        ]
        total = torch.log(torch.tensor(mass).clamp(min=1e-12)).expand(len(images), -1)
        return AnswerLogLikelihoods(total.clone(), torch.ones(len(answers), dtype=torch.long))

    def generate(self, images, question, max_new_tokens):
        return ["Red"] * len(images)


def test_score_end_stops_red_collecting_reddish():
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    plain = Scorer(ToyReplies(), [OBJECT], DEFAULT_PALETTE, {}, ScoringMode("likelihood", "sum"))
    assert NAMES[plain(images)[0].answer[0]] == "red"  # 0.5 + 0.1 of "Red..."
    toy = ToyReplies()
    ended = Scorer(toy, [OBJECT], DEFAULT_PALETTE, {}, ScoringMode("likelihood", "sum", True))
    answers = ended(images)[0]
    assert NAMES[answers.answer[0]] == "blue"  # "Red<end>" is 0.1, "Blue<end>" 0.3
    assert all(a.endswith(END) for a in toy.asked[0])
    assert "gray" + END in toy.asked[0]


def test_score_end_is_refused_for_an_adapter_that_cannot_say_how_answers_end():
    from colorbench.errors import ColorbenchError

    class Silent(ToyReplies):
        answer_end = None

    with pytest.raises(ColorbenchError, match="--score-end"):
        Scorer(Silent(), [OBJECT], DEFAULT_PALETTE, {}, ScoringMode("likelihood", "sum", True))


def test_the_hf_vlm_answer_end_is_the_templates_end_of_turn_token():
    pytest.importorskip("transformers")
    from colorbench.plugins.hfvlm.load import create_adapter

    torch.set_num_threads(1)
    qwen = create_adapter("hf-vlm-tiny-qwen2_5_vl", seed=0)
    assert qwen.answer_end == "<|im_end|>"
    paligemma = create_adapter("hf-vlm-tiny-paligemma", seed=0)
    assert paligemma.answer_end == paligemma.tokenizer.eos_token
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    question = OBJECT.asked(DEFAULT_PALETTE, "open")
    plain = qwen.loglikelihood(images, question, ["red"])
    ended = qwen.loglikelihood(images, question, ["red" + qwen.answer_end])
    assert ended.tokens.item() == plain.tokens.item() + 1
    assert (ended.total < plain.total).all()  # p(Red, end) < p(Red ...)


def test_a_palette_declares_its_own_synonyms():
    data = DEFAULT_PALETTE.to_dict()
    for color in data["colors"]:
        if color["name"] == "red":
            color["spellings"] = ["crimson", "scarlet"]
    palette = Palette.from_dict(data)
    assert palette["red"] == Color("red", (255, 0, 0), True, ("crimson", "scarlet"))
    assert palette.spellings("red") == ("red", "crimson", "scarlet")
    assert Palette.from_dict(palette.to_dict()) == palette
    assert (
        DEFAULT_PALETTE.fingerprint() == Palette.from_dict(DEFAULT_PALETTE.to_dict()).fingerprint()
    )
    words = {name: palette.spellings(name) for name in palette.names}
    assert parse_answer("Crimson.", palette.names, words) == "red"
    assert parse_answer("Crimson.", palette.names) is None  # not a built-in spelling

    class Crimson(ToyReplies):
        replies = {"Crimson" + END: 0.4, "Red" + END: 0.05, "Blue" + END: 0.3}

    images = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    answers = Scorer(Crimson(), [OBJECT], palette, {}, ScoringMode("likelihood", "sum"))(images)
    assert palette.names[answers[0].answer[0]] == "red"
    assert math.isclose(float(answers[0].score[0]), math.log(0.45), rel_tol=1e-5)
