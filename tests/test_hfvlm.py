"""hf-vlm: the tiny model of every family against truths known by construction.

- Shared-prefix likelihoods equal one full forward pass per answer (within 1e-4).
- A model whose output head is biased towards the first token of "Red" answers red on
  every image, by likelihood (sum and mean) and by generation, through the harness's
  :class:`~colorbench.runner.scoring.Scorer`.
- Scores do not depend on how images are batched.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from colorbench.palette import DEFAULT_PALETTE  # noqa: E402
from colorbench.plugin.task import ask  # noqa: E402
from colorbench.plugins.hfvlm.families import FAMILIES, TINY_OUTSIDE_TABLE, generic  # noqa: E402
from colorbench.plugins.hfvlm.load import create_adapter  # noqa: E402
from colorbench.runner.answers import parse_answer  # noqa: E402
from colorbench.runner.scoring import Scorer, ScoringMode  # noqa: E402
from colorbench.stimuli.shapes import ShapesSet  # noqa: E402
from colorbench.stimuli.stroop import StroopSet  # noqa: E402
from colorbench.tasks import paper_tasks, questions  # noqa: E402

torch.set_num_threads(1)
NAMES = DEFAULT_PALETTE.names
FAMILY_IDS = list(FAMILIES)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Three shapes and three Stroop cards, as the harness renders them."""
    shapes, stroop = ShapesSet(DEFAULT_PALETTE, seed=0), StroopSet(DEFAULT_PALETTE, seed=0)
    picked = [
        stim.render([stim.samples(i, i + 1, 1)[0] for i in (0, 401, 877)]).images
        for stim in (shapes, stroop)
    ]
    return torch.cat(picked)


def tiny(family: str):
    return create_adapter(f"hf-vlm-tiny-{family}", seed=0)


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_shared_prefix_scores_equal_a_full_pass_per_answer(family, images):
    adapter = tiny(family)
    for question in (questions.OBJECT, questions.FONT):
        shared = adapter.loglikelihood(images, question, NAMES)
        naive = adapter.loglikelihood_naive(images, question, NAMES)
        torch.testing.assert_close(shared.total, naive.total, atol=1e-4, rtol=0)
        assert torch.equal(shared.tokens, naive.tokens)
        assert shared.total.shape == (len(images), len(NAMES))
        # real differences to compare: answers differ in length and in score
        assert len(set(shared.tokens.tolist())) > 1
        assert shared.total.std() > 0.1


#: prompt-choice's five questions and part-attribution's two, of different lengths
ASKED = (questions.FONT, questions.TEXT, questions.FAVORITE, questions.OBJECT, questions.BARE)


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_one_image_prefix_for_every_question_scores_as_a_full_pass_per_answer(family, images):
    """All questions of a batch at once (the image prefix shared where the template puts the
    image first) equal one full forward pass per question and answer."""
    adapter = tiny(family)
    encoder, prefixes = count_image_passes(adapter)
    shared = adapter.loglikelihood_prompts(images, ASKED, NAMES)
    passes = encoder[0], prefixes[0]
    for question, scores in zip(ASKED, shared, strict=True):
        naive = adapter.loglikelihood_naive(images, question, NAMES)
        torch.testing.assert_close(scores.total, naive.total, atol=1e-4, rtol=0)
        assert torch.equal(scores.tokens, naive.tokens)
    # where the image comes first: one pass over the image prefix for all five questions;
    # else (PaliGemma's image attends to the question) one per question, the images encoded
    # once all the same
    assert passes == (1, len(ASKED) if FAMILIES[family].bidirectional_prefix else 1)


def test_the_output_head_runs_only_where_an_answer_token_is_scored(images):
    """Once per image for the prompt's last token of each question and once per distinct
    answer prefix (answers sharing leading tokens share them), not at every position."""
    adapter = tiny("qwen2_vl")
    rows = []
    head = adapter.model.get_output_embeddings()
    head.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape[:-1].numel()))
    adapter.loglikelihood_prompts(images, ASKED, NAMES)
    tokens = [adapter.answer_tokens(q, tuple(NAMES)).ids for q in ASKED]
    scored = {(q, a[:d]) for q, ids in enumerate(tokens) for a in ids for d in range(len(a))}
    assert sum(rows) == len(images) * (1 + len(scored))  # 1: the image prefix pass's last
    assert len(scored) < sum(len(a) for ids in tokens for a in ids)


def count_image_passes(adapter) -> tuple[list[int], list[int]]:
    """Counters of the model's forward passes that encode images (pixels in) and that run
    the language model over image tokens."""
    encoder, prefixes = [0], [0]

    def count(module, args, kwargs):
        encoder[0] += kwargs.get("pixel_values") is not None
        prefixes[0] += bool((kwargs["input_ids"] == adapter.image_token_id).any())

    adapter.model.register_forward_pre_hook(count, with_kwargs=True)
    return encoder, prefixes


def test_a_question_before_the_image_is_scored_one_prefix_per_question_encoded_once(images):
    """Detected from the rendered template: with the image after the question no prefix is
    shared, the images are encoded once, and the scores still equal the reference."""
    adapter = tiny("llava")
    template = adapter.processor.chat_template
    adapter.processor.chat_template = template.replace(
        "{% if c['type'] == 'image' %}", "{% if c['type'] == 'imageX' %}"
    ).replace("{% endif %}" + " ", "{% endif %}<image>\n ", 1)
    text = adapter.prompt_form(questions.OBJECT).text
    assert text.index("<image>") > text.index("What")
    encoder, prefixes = count_image_passes(adapter)
    shared = adapter.loglikelihood_prompts(images, ASKED[:2], NAMES)
    assert prefixes[0] == 2  # one per question
    assert encoder[0] == 1  # the images encoded once, their features reused
    for question, scores in zip(ASKED[:2], shared, strict=True):
        naive = adapter.loglikelihood_naive(images, question, NAMES).total
        torch.testing.assert_close(scores.total, naive, atol=1e-4, rtol=0)


def test_the_generic_path_scores_as_the_fast_path(images):
    """A family run as if it had no table entry (one full pass per answer, the model's own
    positions) gives the fast path's scores."""
    adapter = tiny("qwen2_5_vl")
    fast = adapter.loglikelihood_prompts(images, ASKED[:2], NAMES)
    adapter.family = generic("qwen2_5_vl")
    encoder, _ = count_image_passes(adapter)
    slow = adapter.loglikelihood_prompts(images, ASKED[:2], NAMES)
    assert encoder[0] == 2 * len(NAMES)  # one full pass per question and answer
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a.total, b.total, atol=1e-4, rtol=0)


def test_answers_at_the_prefix_length_instead_of_the_mrope_offset_are_caught(images):
    """The pitfall the M-RoPE families guard against moves scores far beyond the tolerance."""
    adapter = tiny("qwen2_5_vl")
    adapter._rope_deltas = lambda prefix: torch.zeros(len(prefix["input_ids"]), 1, dtype=torch.long)
    shared = adapter.loglikelihood(images, questions.OBJECT, NAMES).total
    naive = adapter.loglikelihood_naive(images, questions.OBJECT, NAMES).total
    assert (shared - naive).abs().max() > 1e-2


def test_a_bpe_merge_across_the_prompt_boundary_is_scored_as_the_model_reads_it(images):
    """A generation prompt ending in a space: "ASSISTANT: " + "Red" tokenises as "ĠRed", so
    the prompt's last token ("Ġ") is left to the answers."""
    adapter = tiny("llava")
    template = adapter.processor.chat_template
    adapter.processor.chat_template = template.replace("ASSISTANT:", "ASSISTANT: ")
    tokens = adapter.answer_tokens(questions.OBJECT, tuple(NAMES))
    assert tokens.drop == 1
    red = tokens.ids[NAMES.index("red")]
    assert adapter.tokenizer.convert_ids_to_tokens(list(red)) == ["ĠRed"]
    shared = adapter.loglikelihood(images, questions.OBJECT, NAMES).total
    naive = adapter.loglikelihood_naive(images, questions.OBJECT, NAMES).total
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_one_bos_at_most(family, images):
    """A template that starts with BOS is not given a second one by the tokenizer."""
    adapter = tiny(family)
    ids = adapter.inputs(images[:1], questions.OBJECT)["input_ids"][0].tolist()
    bos = adapter.tokenizer.bos_token_id
    assert bos is None or ids.count(bos) <= 1


def bias_towards_red(adapter) -> int:
    """Add +50 to the logit of the first token of the answer "red"; stop generating after it."""
    red = adapter.answer_tokens(questions.OBJECT, tuple(NAMES)).ids[NAMES.index("red")]
    assert len(red) == 1  # the tiny tokenizers merge the short colour words
    bias = torch.zeros(adapter.model.config.get_text_config().vocab_size)
    bias[red[0]] = 50.0
    head = adapter.model.get_output_embeddings()
    head.register_forward_hook(lambda module, args, output: output + bias.to(output))
    eos = adapter.model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
    adapter.model.generation_config.eos_token_id = [*eos, red[0]]
    return red[0]


@pytest.mark.parametrize("family", [*FAMILY_IDS, *TINY_OUTSIDE_TABLE])
def test_a_head_biased_towards_red_answers_red_in_every_mode(family, images):
    adapter = tiny(family)
    bias_towards_red(adapter)
    prompts = [p for task in paper_tasks() for p in task.prompts]
    for mode in (
        ScoringMode("likelihood", "sum"),
        ScoringMode("likelihood", "mean"),
        ScoringMode("generate"),
    ):
        answers = Scorer(adapter, prompts, DEFAULT_PALETTE, {}, mode)(images)
        for prompt, answer in zip(prompts, answers, strict=True):
            assert [NAMES[i] for i in answer.answer] == ["red"] * len(images), (mode, prompt.id)
            if mode.scoring == "generate":
                assert all(parse_answer(t, NAMES) == "red" for t in answer.response)


def test_an_unbiased_model_does_not_answer_red_everywhere(images):
    """The bias test can fail: without the bias the same model gives other answers."""
    adapter = tiny("qwen2_5_vl")
    question = ask(questions.OBJECT, NAMES, "open")
    scores = adapter.loglikelihood(images, question, NAMES).total
    assert set(scores.argmax(dim=1).tolist()) != {NAMES.index("red")}
    text = adapter.generate(images, question, 10)
    assert not all(parse_answer(t, NAMES) == "red" for t in text)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava", "paligemma"])
def test_scores_do_not_depend_on_the_batch(family, images):
    adapter = tiny(family)
    whole = adapter.loglikelihood(images, questions.BACKGROUND, NAMES).total
    parts = torch.cat(
        [adapter.loglikelihood(b, questions.BACKGROUND, NAMES).total for b in images.split(4)]
    )
    torch.testing.assert_close(whole, parts, atol=1e-5, rtol=0)
    texts = adapter.generate(images, questions.BACKGROUND, 6)
    assert texts == [
        t for b in images.split(4) for t in adapter.generate(b, questions.BACKGROUND, 6)
    ]
