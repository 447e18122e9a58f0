"""The answer parser against real-world phrasings of generative VLMs (truth by reading)."""

from __future__ import annotations

import pytest

from colorbench.palette import DEFAULT_PALETTE
from colorbench.runner.answers import UNPARSED, answer_or_unparsed, parse_answer

TERMS = DEFAULT_PALETTE.names

#: (model output, the term it names or None for unparsed)
PHRASINGS = [
    ("Red", "red"),
    ("red", "red"),
    ("Red.", "red"),
    ("RED", "red"),
    (" red\n", "red"),
    ("**Red**", "red"),
    ('"Blue"', "blue"),
    ("The object is red.", "red"),
    ("The color of the object is green.", "green"),
    ("The background is white.", "white"),
    ("It's black.", "black"),
    ("Answer: yellow", "yellow"),
    ("The answer is: Orange", "orange"),
    ("gray", "grey"),
    ("Grey.", "grey"),
    ("It looks grayish.", "grey"),
    ("Light blue", "blue"),
    ("light-blue", "blue"),
    ("Dark green.", "green"),
    ("Navy blue", "blue"),
    ("reddish", "red"),
    ("Bluish.", "blue"),
    ("purplish", "purple"),
    ("Violet", "purple"),
    ("orangey", "orange"),
    ("pinkish", "pink"),
    ("Brown", "brown"),
    ("The word is written in purple font.", "purple"),
    ("The font color is pink.", "pink"),
    ("Red. The object is red.", "red"),
    ("The text says RED.", "red"),
    ("blue-green", None),
    ("The word says red but it is written in blue.", "blue"),
    ("The background is white and the object is black.", None),
    ("I cannot tell.", None),
    ("", None),
    ("Cyan", None),
    ("Beige.", None),
    ("I'm bored.", None),
    ("Redo the greenery", None),
    ("Red or orange", None),
]


def test_the_table_has_thirty_real_world_phrasings() -> None:
    assert len(PHRASINGS) >= 30
    assert len({text for text, _ in PHRASINGS}) == len(PHRASINGS)


@pytest.mark.parametrize(("text", "term"), PHRASINGS)
def test_phrasing(text: str, term: str | None) -> None:
    assert parse_answer(text, TERMS) == term


def test_unparsed_is_the_stored_answer_of_text_naming_no_term_or_several() -> None:
    assert answer_or_unparsed("Light blue.", TERMS) == "blue"
    assert answer_or_unparsed("blue-green", TERMS) == UNPARSED
    assert answer_or_unparsed("no idea", TERMS) == UNPARSED
    assert UNPARSED not in TERMS


def test_terms_come_from_the_palette() -> None:
    """A term outside the palette is not an answer; a variant maps only onto a term present."""
    assert parse_answer("red", ("green", "blue")) is None
    assert parse_answer("gray", ("grey", "blue")) == "grey"
    assert parse_answer("gray", ("red", "blue")) is None
    assert parse_answer("a light blue patch", ("light blue", "blue")) == "light blue"
    assert parse_answer("Blue", ("light blue", "blue")) == "blue"
