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
    # negation: a negated term is not named
    ("It is not red.", None),
    ("No red", None),
    ("It isn't red, it's blue.", "blue"),
    ("Not red but green.", "green"),
    ("Neither red nor blue.", None),
    ("There is no yellow in the image; the object is purple.", "purple"),
    ("The object is not a light blue, it is pink.", "pink"),
    ("No, it's black.", "black"),
    ("It doesn't look orange to me.", None),
    # font sentences (the verbose answers of the Stroop questions)
    ("The word 'RED' is written in blue font.", "blue"),
    ("Purple.\n\nThe word 'GREEN' is written in purple font.", "purple"),
    ('The word "YELLOW" is written in green.', "green"),
    ("The font is orange.", "orange"),
    ("The font color is brown, and the word says PINK.", "brown"),
    ("Font color: black", "black"),
    ("The text 'BLUE' is printed in red letters.", "red"),
    ("The letters are grey.", "grey"),
    ("The ink is pink.", "pink"),
    ("It is written in the color white.", "white"),
    ("The word BLUE is written in a light green font on a white background.", "green"),
    ("The word says red. It is written in blue font.", None),
    ("Blue. The text says RED.", None),
    ("The word is GREEN.", "green"),
    ("It says BROWN", "brown"),
    ('The text reads "ORANGE".', "orange"),
    # head word of Xish Y compounds
    ("greenish blue", "blue"),
    ("Greenish-blue.", "blue"),
    ("Reddish brown", "brown"),
    ("A yellowish green", "green"),
    ("bluish purple", "purple"),
    ("pinkish red", "red"),
    ("Greyish.", "grey"),
    # plurals
    ("reds", "red"),
    ("Blues and purples", None),
    ("The shapes are greens.", "green"),
    ("Greys", "grey"),
    ("oranges", "orange"),
    # grey / gray
    ("Gray.", "grey"),
    ("GRAY", "grey"),
    ("dark gray", "grey"),
    ("It is a grayish colour.", "grey"),
    ("Gray or grey, it is the same.", "grey"),
    # other languages
    ("红色", "red"),
    ("蓝色。", "blue"),
    ("粉红色", "pink"),
    ("绿", "green"),
    ("rojo", "red"),
    ("Es azul.", "blue"),
    ("amarillo", "yellow"),
    ("Marrón", "brown"),
    ("noir", "black"),
    ("C'est vert.", "green"),
    ("Grün", "green"),
    ("weiß", "white"),
    ("Schwarz.", "black"),
    # more everyday phrasings
    ("The color shown is orange.", "orange"),
    ("I would say it's yellow.", "yellow"),
    ("Most likely brown.", "brown"),
    ("The background color is black.", "black"),
    ("White background.", "white"),
    ("It appears to be pink.", "pink"),
    ("Definitely green!", "green"),
    ("Sure! The answer is purple.", "purple"),
    ("*blue*", "blue"),
    ("`red`", "red"),
    ("- Black", "black"),
    ("1. White", "white"),
    ("The object in the image is bright yellow.", "yellow"),
    ("It's a deep red.", "red"),
    ("Pale pink", "pink"),
    ("The answer: Brown.", "brown"),
    ("It's navy.", None),
    ("Crimson", None),
    ("Teal.", None),
    ("Gold", None),
    ("Sorry, I can't determine the color.", None),
    ("The image is blank.", None),
    ("Red, green and blue.", None),
    ("Orange-red", None),
    ("The shape is black and the background is white.", None),
    ("Blue?", "blue"),
    ("Answer with one of: black, white, grey", None),
]


def test_the_table_has_a_hundred_real_world_phrasings() -> None:
    assert len(PHRASINGS) >= 100
    assert len({text for text, _ in PHRASINGS}) == len(PHRASINGS)


@pytest.mark.parametrize(("text", "term"), PHRASINGS)
def test_phrasing(text: str, term: str | None) -> None:
    assert parse_answer(text, TERMS) == term


def test_a_cut_answer_is_truncated_never_a_colour() -> None:
    """A generation that hit max_new_tokens is its own outcome, whatever colour it mentions."""
    from colorbench.plugin.adapter import GeneratedText
    from colorbench.runner.scoring import TRUNCATED_INDEX, UNPARSED_INDEX, answers_from_texts

    texts = [GeneratedText('The word "RED" is written in', truncated=True),
             GeneratedText("Blue.", truncated=False), "It is not red."]  # fmt: skip
    answers = answers_from_texts(texts, TERMS)
    assert answers.answer.tolist() == [TRUNCATED_INDEX, TERMS.index("blue"), UNPARSED_INDEX]
    assert answers.response.tolist() == [str(t) for t in texts]


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
