"""Reference adapters on hand-made images whose regions and colours are known."""

import numpy as np
import pytest
import torch

from colorbench.colors import nearest_palette_color
from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugins import reference
from colorbench.plugins.reference import (
    Chance,
    ColorCounts,
    IdealObserver,
    PixelMajority,
    parse_candidates,
    region_colors,
    splitmix64,
)
from colorbench.runner.answers import parse_answer
from colorbench.tasks import paper_tasks, questions

NAMES = DEFAULT_PALETTE.names
OBJECT = "The color of the object is {c}"
BACKGROUND = "The color of the background is {c}"
FONT = "The word is written in {c} font"


def texts(template, names=NAMES):
    return [template.format(c=n) for n in names]


def rgb(name):
    return torch.tensor(DEFAULT_PALETTE[name].rgb, dtype=torch.uint8).view(3, 1, 1)


def scene(background, foreground, box=(8, 16, 8, 16), size=32):
    """A flat ``background`` with a ``foreground`` rectangle (y0, y1, x0, x1)."""
    image = rgb(background).expand(3, size, size).clone()
    y0, y1, x0, x1 = box
    image[:, y0:y1, x0:x1] = rgb(foreground)
    return image


def answers(adapter, images, template, names=NAMES):
    return [names[i] for i in adapter.score(images, texts(template, names)).argmax(dim=1)]


@pytest.fixture
def images():
    # object 8x8 = 64 of 1024 pixels; the second touches the border (corner)
    return torch.stack(
        [
            scene("white", "red"),
            scene("blue", "grey", box=(0, 10, 0, 10)),
            scene("black", "pink", box=(30, 32, 0, 3)),
        ]
    )


def test_candidates_are_the_varying_part_of_the_texts():
    for template in ("{c}", OBJECT, BACKGROUND, FONT, "My favorite word, written in the color {c}"):
        parsed = parse_candidates(texts(template), DEFAULT_PALETTE)
        assert parsed.colors == NAMES and parsed.template == template
    # green and grey share "gre": the template must not swallow it
    parsed = parse_candidates(["a green car", "a grey car"], DEFAULT_PALETTE)
    assert parsed.colors == ("green", "grey") and parsed.template == "a {c} car"
    assert parse_candidates(["The grey one"], DEFAULT_PALETTE).colors == ("grey",)
    with pytest.raises(ColorbenchError, match="palette"):
        parse_candidates(["a teal car", "a red car"], DEFAULT_PALETTE)


def test_prompt_decides_the_region():
    region = {t: parse_candidates(texts(t), DEFAULT_PALETTE).region for t in (OBJECT, FONT)}
    assert set(region.values()) == {"foreground"}
    assert parse_candidates(texts("The text says {c}"), DEFAULT_PALETTE).region == "foreground"
    assert parse_candidates(texts(BACKGROUND), DEFAULT_PALETTE).region == "background"
    assert parse_candidates(texts("{c}"), DEFAULT_PALETTE).region == "majority"


def test_ideal_observer_answers_what_the_prompt_asks(images):
    observer = IdealObserver("ideal-observer")
    assert answers(observer, images, OBJECT) == ["red", "grey", "pink"]
    assert answers(observer, images, FONT) == ["red", "grey", "pink"]
    assert answers(observer, images, BACKGROUND) == ["white", "blue", "black"]
    assert answers(observer, images, "{c}") == ["white", "blue", "black"]


def test_ideal_observer_follows_the_border_not_the_majority():
    # the object covers 3/4 of the image, the background still owns the border
    image = scene("yellow", "green", box=(1, 31, 1, 25)).unsqueeze(0)
    observer = IdealObserver("ideal-observer")
    assert answers(observer, image, BACKGROUND) == ["yellow"]
    assert answers(observer, image, OBJECT) == ["green"]
    assert answers(observer, image, "{c}") == ["green"]
    assert answers(PixelMajority("pixel-majority"), image, BACKGROUND) == ["green"]


def test_anti_aliased_edges_do_not_win():
    # a 2-pixel red stroke (48 px) fringed by 96 px of red-white blends, every blend
    # nearest to pink and none repeated more than 3 times: counting pixels by nearest
    # prototype would answer pink, the exact-colour mode answers red
    image = scene("white", "red", box=(10, 12, 4, 28))
    blend = 170 + torch.arange(96) % 46
    fringe = torch.stack([torch.full((96,), 255), blend, blend]).to(torch.uint8)
    image[:, [8, 9, 12, 13], 4:28] = fringe.view(3, 4, 24)
    assert nearest_palette_color(fringe.T.numpy(), DEFAULT_PALETTE) == ["pink"] * 96
    assert answers(IdealObserver("ideal-observer"), image[None], FONT) == ["red"]


def test_single_colour_image_has_that_colour_as_foreground():
    image = rgb("brown").expand(3, 16, 16).unsqueeze(0)
    assert answers(IdealObserver("ideal-observer"), image, OBJECT) == ["brown"]


def test_off_palette_colours_get_the_nearest_prototype():
    assert nearest_palette_color(DEFAULT_PALETTE.rgb_array(), DEFAULT_PALETTE) == list(NAMES)
    near = np.array([[250, 10, 5], [120, 124, 131], [10, 10, 20], [250, 160, 175]])
    assert nearest_palette_color(near, DEFAULT_PALETTE) == ["red", "grey", "black", "pink"]
    image = torch.tensor([120, 124, 131], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert answers(IdealObserver("ideal-observer"), image, "{c}") == ["grey"]


def test_candidates_in_any_order_and_subsets(images):
    observer = IdealObserver("ideal-observer")
    subset = ("pink", "grey", "red", "white")
    assert answers(observer, images, OBJECT, subset) == ["red", "grey", "pink"]
    # black is not a candidate: the black background goes to its nearest candidate
    assert answers(observer, images, BACKGROUND, subset)[2] == "grey"


def test_pixel_majority_ignores_the_prompt(images):
    majority = PixelMajority("pixel-majority")
    for template in (OBJECT, BACKGROUND, "{c}"):
        assert answers(majority, images, template) == ["white", "blue", "black"]


def test_region_colors_are_exact_rgb_codes(images):
    codes = region_colors(images, "foreground")
    assert codes.tolist() == [255 << 16, 128 << 16 | 128 << 8 | 128, 255 << 16 | 192 << 8 | 203]


def test_colour_counts_equal_a_brute_force_count():
    # few colours in runs, as in stimuli, plus noise so that runs are short too
    generator = torch.Generator().manual_seed(2)
    palette = torch.tensor([[0, 0, 0], [255, 0, 0], [0, 0, 255], [1, 0, 0]], dtype=torch.uint8)
    labels = torch.randint(0, 4, (5, 1, 40), generator=generator).repeat_interleave(7, dim=2)
    pixels = palette[labels[:, 0]].permute(0, 2, 1)  # [5,3,280]
    counted = ColorCounts.of(pixels)
    modes, runners_up = counted.mode(), counted.mode(exclude=counted.mode())
    for b in range(5):
        colours, expected = np.unique(pixels[b].T.numpy(), axis=0, return_counts=True)
        colours = colours.astype(np.int64)
        codes = colours[:, 0] << 16 | colours[:, 1] << 8 | colours[:, 2]
        truth = dict(zip(codes.tolist(), expected.tolist(), strict=True))
        rows = counted.keys >> 24 == b
        got = zip(
            (counted.keys[rows] & 0xFFFFFF).tolist(), counted.counts[rows].tolist(), strict=True
        )
        assert dict(got) == truth
        ranked = sorted(truth, key=lambda code: (-truth[code], code))  # ties: smallest code
        assert modes[b] == ranked[0] and runners_up[b] == ranked[1]


def random_images(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, 8, 8), dtype=torch.uint8, generator=generator)


def test_chance_is_a_function_of_image_text_and_seed():
    images = random_images(64)
    chance = Chance("chance", seed=3)
    scores = chance.score(images, texts(OBJECT))
    # any batch split gives the same scores, and a fresh adapter too
    split = torch.cat([chance.score(part, texts(OBJECT)) for part in images.split(5)])
    assert torch.equal(scores, split)
    assert torch.equal(Chance("chance", seed=3).score(images, texts(OBJECT)), scores)
    # a candidate's score does not depend on the other candidates
    assert torch.equal(chance.score(images, texts(OBJECT)[3:5]), scores[:, 3:5])
    # another seed or another prompt gives other answers
    other_seed = Chance("chance", seed=4).score(images, texts(OBJECT)).argmax(1)
    other_prompt = chance.score(images, texts(BACKGROUND)).argmax(1)
    assert (other_seed != scores.argmax(1)).sum() > 32
    assert (other_prompt != scores.argmax(1)).sum() > 32


def test_splitmix64_matches_the_reference_sequence():
    # SplitMix64 seeded with 0 yields 0xE220A8397B1DCDAF, then 0x6E789E6AA1B965F4
    first = splitmix64(np.array([0], dtype=np.uint64))
    second = splitmix64(np.array([0x9E3779B97F4A7C15], dtype=np.uint64))
    assert int(first[0]) == 0xE220A8397B1DCDAF and int(second[0]) == 0x6E789E6AA1B965F4


def test_chance_is_uniform_over_the_candidates():
    images = random_images(2200, seed=1)
    counts = np.bincount(Chance("chance").score(images, texts("{c}")).argmax(1), minlength=11)
    expected = 2200 / 11
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 29.59, counts  # the 0.1% critical value of chi-square with 10 dof


def test_reference_adapters_register_through_the_hook():
    registered = {}
    reference.colorbench_register_models(
        lambda name, factory, description="": registered.update({name: factory})
    )
    expected = {"ideal-observer": IdealObserver, "pixel-majority": PixelMajority, "chance": Chance}
    assert registered.keys() == {*expected, "chance-*"}
    for model_id, cls in expected.items():
        adapter = registered[model_id](
            model_id,
            device=torch.device("cpu"),
            precision="fp32",
            weights=None,
            palette=DEFAULT_PALETTE,
            seed=1,
        )
        assert isinstance(adapter, cls) and adapter.model_id == model_id and adapter.seed == 1
    # chance-N: its own answer seed, whatever the run's (stimulus) seed
    options = {"device": torch.device("cpu"), "palette": DEFAULT_PALETTE, "seed": 1}
    assert registered["chance-*"]("chance-7", **options).seed == 7
    with pytest.raises(ColorbenchError, match="whole-number answer seed"):
        registered["chance-*"]("chance-x", **options)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_answers(images):
    for adapter in (IdealObserver("i"), PixelMajority("p"), Chance("c", device="cuda")):
        for template in (OBJECT, BACKGROUND, "{c}"):
            cpu = adapter.score(images, texts(template))
            gpu = adapter.score(images.cuda(), texts(template))
            assert torch.equal(cpu.argmax(1), gpu.argmax(1).cpu())


@pytest.mark.parametrize(
    "prompt", [p for task in paper_tasks() for p in task.prompts], ids=lambda p: p.question
)
@pytest.mark.parametrize("adapter", [IdealObserver("i"), PixelMajority("p"), Chance("c")])
def test_references_answer_each_question_as_its_statement(adapter, prompt, images):
    """The question path: likelihood and generation give the statement's answer (chance:
    a hash of the text, so only likelihood and generation agree)."""
    likelihood = adapter.loglikelihood(images, prompt.question, NAMES)
    assert torch.allclose(likelihood.total.exp().sum(dim=1), torch.ones(len(images)).double())
    assert likelihood.tokens.tolist() == [1] * len(NAMES)
    by_likelihood = [NAMES[i] for i in likelihood.normalized("mean").argmax(dim=1)]
    generated = adapter.generate(images, prompt.question, max_new_tokens=8)
    assert [parse_answer(text, NAMES) for text in generated] == by_likelihood
    if not isinstance(adapter, Chance):
        assert by_likelihood == answers(adapter, images, prompt.template)


def test_ideal_observer_answers_the_questions_it_is_asked(images):
    ideal = IdealObserver("ideal-observer")
    for question, expected in [
        (questions.OBJECT, ["red", "grey", "pink"]),
        (questions.FONT, ["red", "grey", "pink"]),
        (questions.BACKGROUND, ["white", "blue", "black"]),
        (questions.BARE, ["white", "blue", "black"]),
    ]:
        best = ideal.loglikelihood(images, question, NAMES).total.argmax(dim=1)
        assert [NAMES[i] for i in best] == expected, question
