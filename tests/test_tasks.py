"""The paper tasks on hand-made predictions whose counts are known by construction."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.task import TaskSummary
from colorbench.report.stats import wilson_interval
from colorbench.tasks import colorbench_register_tasks, paper_tasks
from colorbench.tasks.shapes_tasks import GlobalColor, PartAttribution
from colorbench.tasks.stroop_tasks import PromptChoice, StroopColored, StroopWhite


def classified(task, rows):
    """What the harness does before ``summarize``: add outcome and correct."""
    return task.grade(pd.DataFrame(rows))


def shapes_rows(prompt, background, object_, answers):
    return [
        {
            "prompt": prompt,
            "shape": "circle",
            "background": background,
            "object": object_,
            "answer": a,
        }
        for a in answers
    ]


def test_tasks_register_through_the_hook_with_the_paper_design():
    registered = []
    colorbench_register_tasks(registered.append)
    tasks = {t.name: t for t in registered}
    assert list(tasks) == [
        "global-color",
        "part-attribution",
        "prompt-choice",
        "stroop-white",
        "stroop-colored",
    ]
    assert tasks["global-color"].stimulus_set == "shapes"
    assert [p.template for p in tasks["global-color"].prompts] == ["{c}"]
    assert {p.id: p.asks for p in tasks["part-attribution"].prompts} == {
        "object": "object",
        "background": "background",
    }
    assert len(tasks["prompt-choice"].prompts) == 5
    assert tasks["prompt-choice"].outcome_parts == ("background", "font", "word")
    assert tasks["stroop-white"].stimulus_set == "stroop-white"
    assert tasks["stroop-colored"].outcome_parts == ("font", "word", "background")
    texts = tasks["stroop-white"].prompts[0].texts(DEFAULT_PALETTE)
    assert texts[3] == "The word is written in red font"


def test_classify_names_the_part_whose_colour_the_answer_is():
    task = StroopColored()
    frame = classified(
        task,
        [
            {"prompt": "font", "word": "red", "font": "blue", "background": "grey", "answer": a}
            for a in ("blue", "red", "grey", "pink")
        ],
    )
    assert frame["outcome"].tolist() == ["font", "word", "background", "none"]
    assert frame["correct"].tolist() == [True, False, False, False]


def test_correct_is_missing_where_the_prompt_asks_for_no_part():
    task = PromptChoice()
    base = {"word": "red", "font": "blue", "background": "grey", "answer": "red"}
    frame = classified(task, [{**base, "prompt": p} for p in ("bare", "text", "font")])
    assert frame["outcome"].tolist() == ["word", "word", "word"]
    assert frame["correct"].isna().tolist() == [True, False, False]
    assert frame["correct"].iloc[1] and not frame["correct"].iloc[2]


def test_two_by_two_groups_count_background_and_object_answers():
    # achromatic bg / chromatic object: 3 background, 1 object answers
    # chromatic bg / chromatic object: 1 background, 2 object, 1 none
    # chromatic bg / achromatic object: 2 background
    rows = (
        shapes_rows("bare", "white", "red", ["white", "white", "white", "red"])
        + shapes_rows("bare", "blue", "green", ["blue", "green", "green", "pink"])
        + shapes_rows("bare", "yellow", "black", ["yellow", "yellow"])
    )
    task = GlobalColor()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    groups = summary.tables["groups_bare"]
    assert groups.index.tolist() == [
        "achromatic / achromatic",
        "achromatic / chromatic",
        "chromatic / achromatic",
        "chromatic / chromatic",
    ]
    assert groups["n"].tolist() == [0, 4, 2, 4]
    assert groups.loc["achromatic / chromatic", "background_pct"] == 75.0
    assert groups.loc["achromatic / chromatic", "object_pct"] == 25.0
    assert groups.loc["chromatic / chromatic", "object_pct"] == 50.0
    assert groups.loc["chromatic / chromatic", "none_pct"] == 25.0
    assert groups.loc["chromatic / achromatic", "background_pct"] == 100.0
    low, high = wilson_interval(3, 4)
    cell = groups.loc["achromatic / chromatic"]
    assert (cell["background_ci_low"], cell["background_ci_high"]) == pytest.approx(
        (100 * low, 100 * high)
    )
    assert np.isnan(groups.loc["achromatic / achromatic", "background_pct"])
    # headline, the achromatic asymmetry: in the two mixed groups (6 answers) the chromatic
    # part is named by 1 answer (red object on white) + 2 (yellow background, black object)
    assert summary.headline.metric == "chromatic part named % (one part achromatic)"
    assert (summary.headline.value, summary.headline.n) == (50.0, 6)
    asymmetry = summary.tables["asymmetry"]
    assert asymmetry["chromatic part_pct"].tolist() == [25.0, 100.0]
    assert asymmetry.index.tolist() == [
        "achromatic background / chromatic object",
        "chromatic background / achromatic object",
    ]
    # per-colour breakdown, in palette order, absent colours dropped
    by_background = summary.tables["by_background_bare"]
    assert by_background.index.tolist() == ["white", "yellow", "blue"]
    assert by_background.loc["blue", "n"] == 4
    # confusion: background colour (rows) against answer (columns)
    confusion = summary.tables["confusion_bare"]
    assert confusion.shape == (11, 13)  # the 11 colours, unparsed and truncated
    assert confusion["unparsed"].sum() == 0
    assert confusion.loc["white", "white"] == 3 and confusion.loc["white", "red"] == 1
    assert confusion.loc["blue", "pink"] == 1 and confusion.to_numpy().sum() == 10


def test_part_attribution_tables_per_prompt_and_correct_headline():
    rows = shapes_rows("object", "grey", "orange", ["orange", "orange", "grey"]) + shapes_rows(
        "background", "grey", "orange", ["orange", "grey", "grey", "grey", "grey"]
    )
    task = PartAttribution()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    assert summary.tables["groups_object"].loc["achromatic / chromatic", "object_pct"] == (
        pytest.approx(200 / 3)
    )
    assert summary.tables["groups_background"].loc["achromatic / chromatic", "n"] == 5
    # the confusion of the object prompt is against the object colour
    assert summary.tables["confusion_object"].loc["orange", "orange"] == 2
    assert summary.tables["confusion_background"].loc["grey", "grey"] == 4
    correct = summary.tables["correct"]
    assert correct.index.tolist() == ["object", "background"]
    assert correct["n"].tolist() == [3, 5]
    assert correct["correct_pct"].tolist() == pytest.approx([200 / 3, 80.0])
    assert (summary.headline.value, summary.headline.n) == (pytest.approx(600 / 8), 8)


def test_unparsed_free_answers_are_their_own_outcome_counted_in_n_in_every_table():
    rows = stroop_rows("font", "red", "blue", "white", ["blue", "unparsed", "red", "unparsed"])
    task = StroopWhite()
    frame = classified(task, rows)
    assert frame["outcome"].tolist() == ["font", "unparsed", "word", "unparsed"]
    assert frame["correct"].tolist() == [True, False, False, False]
    summary = task.summarize(frame, DEFAULT_PALETTE)
    assert summary.tables["by_font"].loc["blue", ["n", "unparsed_pct"]].tolist() == [4, 50.0]
    assert (summary.headline.value, summary.headline.n) == (25.0, 4)
    shapes = GlobalColor()
    rows = shapes_rows("bare", "white", "red", ["white", "unparsed", "unparsed"])
    summary = shapes.summarize(classified(shapes, rows), DEFAULT_PALETTE)
    for name, table in summary.tables.items():
        if name.startswith("confusion"):
            assert table["unparsed"].sum() == 2
        else:
            counted = (table["unparsed_pct"] * table["n"] / 100).fillna(0)
            assert counted.sum() == pytest.approx(2), name
    # the red object is never named: the asymmetry headline is 0 of 3
    assert (summary.headline.value, summary.headline.n) == (0.0, 3)


def stroop_rows(prompt, word, font, background, answers):
    return [
        {"prompt": prompt, "word": word, "font": font, "background": background, "answer": a}
        for a in answers
    ]


def test_stroop_white_counts_an_answer_naming_the_white_card_as_background():
    """Exp. 4's card is white: "white" names the background, not neither part; the paper's
    "neither" column is background + none."""
    rows = stroop_rows("font", "red", "blue", "white", ["white", "white", "black", "blue"])
    task = StroopWhite()
    frame = classified(task, rows)
    assert frame["outcome"].tolist() == ["background", "background", "none", "font"]
    table = task.summarize(frame, DEFAULT_PALETTE).tables["by_font"]
    assert table.loc["overall", ["background_pct", "none_pct"]].tolist() == [50.0, 25.0]


def test_stroop_tables_one_row_per_font_colour_and_overall():
    rows = stroop_rows("font", "red", "blue", "white", ["blue", "red", "red", "black"])
    rows += stroop_rows("font", "green", "pink", "white", ["pink", "pink"])
    task = StroopWhite()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    table = summary.tables["by_font"]
    assert table.index.tolist() == ["blue", "pink", "overall"]
    assert table["n"].tolist() == [4, 2, 6]
    assert table.loc["blue", ["font_pct", "word_pct", "none_pct"]].tolist() == [25.0, 50.0, 25.0]
    assert table.loc["overall", "font_pct"] == pytest.approx(50.0)
    assert table.loc["overall", "background_pct"] == 0.0  # nobody answered "white"
    assert summary.headline.metric == "correct (font) %"
    assert (summary.headline.value, summary.headline.n) == (50.0, 6)

    colored = StroopColored()
    rows = stroop_rows("font", "red", "blue", "yellow", ["yellow", "blue"])
    table = colored.summarize(classified(colored, rows), DEFAULT_PALETTE).tables["by_font"]
    assert table.loc["blue", ["font_pct", "background_pct"]].tolist() == [50.0, 50.0]


def test_prompt_choice_one_row_per_prompt_in_prompt_order():
    rows = stroop_rows("text", "red", "blue", "grey", ["red", "red"])
    rows += stroop_rows("font", "red", "blue", "grey", ["blue", "grey", "red", "blue"])
    task = PromptChoice()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    table = summary.tables["by_prompt"]
    assert table.index.tolist() == ["font", "text"]
    assert "template" not in table  # the text asked is the run's (TaskSummary.prompts)
    assert table.loc["font", ["background_pct", "font_pct", "word_pct", "none_pct"]].tolist() == [
        25.0,
        50.0,
        25.0,
        0.0,
    ]
    assert table.loc["text", "word_pct"] == 100.0
    # headline: the asked part, pooled over the prompts that ask one: 2 of 4 + 2 of 2
    assert summary.headline.metric == "asked part % (4 prompts)"
    assert (summary.headline.value, summary.headline.n) == (pytest.approx(400 / 6), 6)
    assert summary.tables["correct"]["correct_pct"].tolist() == [50.0, 100.0]


def test_prompt_choice_headline_is_not_the_stroop_colored_one():
    # a model that reads whatever it is asked: the font prompt gets 0% font, like
    # stroop-colored, but the text prompt is right every time: 1 of 4 asking prompts
    rows = []
    for prompt in ("font", "text", "background", "bare", "favorite"):
        rows += stroop_rows(prompt, "red", "blue", "grey", ["red"] * 3)
    task = PromptChoice()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    assert (summary.headline.value, summary.headline.n) == (25.0, 12)
    colored = StroopColored()
    font_rows = [r for r in rows if r["prompt"] == "font"]
    assert colored.summarize(classified(colored, font_rows), DEFAULT_PALETTE).headline.value == 0


def exp5_rows(prompt="font"):
    """Known shares: achromatic backgrounds distract less than chromatic ones."""
    rows = stroop_rows(prompt, "red", "blue", "white", ["white", "red"])
    rows += stroop_rows(prompt, "red", "blue", "grey", ["red", "red"])
    rows += stroop_rows(prompt, "green", "pink", "yellow", ["yellow", "yellow", "pink", "green"])
    return rows


def test_stroop_colored_breaks_down_by_background_group_and_word():
    task = StroopColored()
    summary = task.summarize(classified(task, exp5_rows()), DEFAULT_PALETTE)
    cols = ["font_pct", "word_pct", "background_pct", "none_pct"]
    groups = summary.tables["by_background_group"]
    assert groups.index.tolist() == ["achromatic", "chromatic"]
    assert groups["n"].tolist() == [4, 4]
    assert groups.loc["achromatic", cols].tolist() == [0.0, 75.0, 25.0, 0.0]
    assert groups.loc["chromatic", cols].tolist() == [25.0, 25.0, 50.0, 0.0]
    background = summary.tables["by_background"]
    assert background.index.tolist() == ["white", "grey", "yellow"]  # palette order
    assert background.loc["white", cols].tolist() == [0.0, 50.0, 50.0, 0.0]
    assert background.loc["grey", "word_pct"] == 100.0
    word = summary.tables["by_word"]
    assert word.index.tolist() == ["red", "green"]
    assert word.loc["red", cols].tolist() == [0.0, 75.0, 25.0, 0.0]
    assert word.loc["green", cols].tolist() == [25.0, 25.0, 50.0, 0.0]
    # on white the background never varies: only the per-word and legibility tables are added
    white = StroopWhite()
    rows = stroop_rows("font", "red", "blue", "white", ["blue", "red"])
    tables = white.summarize(classified(white, rows), DEFAULT_PALETTE).tables
    assert set(tables) == {"by_font", "by_word", "by_contrast"}


def test_prompt_choice_breakdowns_are_per_prompt():
    task = PromptChoice()
    rows = exp5_rows("font") + stroop_rows("text", "red", "blue", "white", ["red", "red"])
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    groups = summary.tables["by_background_group"]
    assert groups.index.tolist() == ["font / achromatic", "font / chromatic", "text / achromatic"]
    assert groups["prompt"].tolist() == ["font", "font", "text"]
    assert groups.loc["font / achromatic", ["background_pct", "word_pct"]].tolist() == [25.0, 75.0]
    assert groups.loc["text / achromatic", ["n", "word_pct"]].tolist() == [2, 100.0]
    assert summary.tables["by_word"].loc["font / green", "background_pct"] == 50.0
    assert summary.tables["by_background"].loc["text / white", "n"] == 2


def test_pooled_prompts_on_the_same_image_get_a_clustered_interval():
    # every image answered alike under both prompts: the pooled rows carry no more
    # information than the images, so the interval is the images' Wilson interval
    rows = []
    for image, right in enumerate([True] * 6 + [False] * 4):
        for prompt, asked in (("object", "orange"), ("background", "grey")):
            row = shapes_rows(prompt, "grey", "orange", [asked if right else "red"])[0]
            rows.append({**row, "sample_id": f"shapes/{image}/0"})
    task = PartAttribution()
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    low, high = wilson_interval(6, 10)
    assert (summary.headline.value, summary.headline.n) == (60.0, 20)
    assert summary.headline.ci_low == pytest.approx(100 * low)
    assert summary.headline.ci_high == pytest.approx(100 * high)
    naive_low, _ = wilson_interval(12, 20)
    assert summary.headline.ci_low < 100 * naive_low
    pairing = summary.tables["pairing"].loc["headline"]
    assert (pairing["answers"], pairing["images"]) == (20, 10)
    assert (pairing["design_effect"], pairing["effective_n"]) == pytest.approx((2.0, 10.0))


@pytest.mark.parametrize("task", paper_tasks(), ids=lambda t: t.name)
def test_summary_survives_json_and_draws_its_figure(task, tmp_path):
    rng = np.random.default_rng(0)
    names = np.array(DEFAULT_PALETTE.names)
    n = 400
    parts = {"shape": ["star"] * n}
    for part in ("background", "object", "word", "font"):
        parts[part] = names[rng.integers(0, 11, n)]
    frame = pd.DataFrame(parts)
    frame["prompt"] = [task.prompts[i % len(task.prompts)].id for i in range(n)]
    frame["answer"] = names[rng.integers(0, 11, n)]
    frame = classified(task, frame.to_dict("records"))
    summary = task.summarize(frame, DEFAULT_PALETTE)
    restored = TaskSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert restored.tables.keys() == summary.tables.keys()
    path = task.figure(restored, tmp_path / "figure.png")
    with Image.open(path) as image:
        assert image.size[0] > 300 and image.size[1] > 200


def test_figure_of_a_perfect_score_draws(tmp_path):
    # 100% correct puts the Wilson bound at 100 up to rounding; the whiskers must not fail
    task = StroopWhite()
    rows = stroop_rows("font", "red", "blue", "white", ["blue"] * 7)
    summary = task.summarize(classified(task, rows), DEFAULT_PALETTE)
    assert summary.tables["by_font"].loc["overall", "font_pct"] == 100.0
    assert task.figure(summary, tmp_path / "f.png").stat().st_size > 0


def test_every_built_in_prompt_has_a_question_naming_the_same_part():
    from colorbench.tasks.color_naming import ColorNamingTask

    words = ("object", "background", "font", "text", "favorite")
    for task in [*paper_tasks(), ColorNamingTask()]:
        for prompt in task.prompts:
            assert prompt.question.endswith(("?", '".')), prompt
            assert "{c}" not in prompt.question
            asked = prompt.question.lower()
            for word in words:
                assert (word in asked) == (word in prompt.template.lower()), (prompt, word)


def test_the_favourite_word_question_keeps_the_papers_caption():
    """Exp. 3 contrasts a prompt asking for the ink with one inviting reading: the favourite-
    word question is the paper's caption to complete, not a second question about the ink."""
    from colorbench.tasks import questions

    caption = "My favorite word, written in the color"
    assert caption in questions.FAVORITE
    assert "?" not in questions.FAVORITE and "font" not in questions.FAVORITE
    assert questions.FAVORITE != questions.FONT


def test_docs_list_every_question_verbatim():
    from pathlib import Path

    from colorbench.tasks.color_naming import ColorNamingTask

    docs = (Path(__file__).resolve().parents[1] / "docs" / "TASKS.md").read_text()
    for task in [*paper_tasks(), ColorNamingTask()]:
        for prompt in task.prompts:
            assert f"| {prompt.id} | `{prompt.template}` | `{prompt.question}` |" in docs
