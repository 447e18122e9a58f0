"""The answer parser: a generative model's free text -> one palette colour term, or unparsed.

A generative VLM asked "What is the color of the object in the image? Answer with one
word." may write ``Red``, ``red.``, ``The object is red.``, ``Gray`` or ``Light blue``.
The benchmark classifies answers by the colour they name, so the text is mapped to one of
the palette's terms by these documented rules, and only these:

1. Case, punctuation, quotes and markdown are ignored (``**Red.**`` -> red).
2. A term counts where it stands as a whole word (``red``, not the ``red`` in
   ``bored``), also with the suffix ``-ish`` / ``-y`` of everyday speech (``reddish``,
   ``greenish``, ``orangey``) and in hyphenated compounds (``light-blue``).
3. Spelling variants and the one common synonym are folded onto the palette term:
   ``gray`` -> ``grey`` and ``violet`` -> ``purple`` (:data:`VARIANTS`). Shade words such
   as ``light``, ``dark``, ``pale``, ``bright`` are not colours and are ignored, so
   ``light blue`` and ``dark green`` name blue and green.
4. The text must name exactly one distinct term. A text naming none (``I cannot tell``,
   ``cyan`` with the default palette) or several (``blue-green``, ``The word says red
   but it is written in blue``) is :data:`UNPARSED`: an answer that cannot be scored
   as one colour is not guessed at, it is counted as its own outcome.

The same rules apply to any palette: the terms are the palette's names (a multi-word
name such as ``light blue`` in a custom palette is matched before its parts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: the outcome and stored answer of a text that names no palette term or several
UNPARSED = "unparsed"

#: spellings and synonyms folded onto a palette term (only applied if the term is in it)
VARIANTS: dict[str, str] = {"gray": "grey", "violet": "purple"}

#: endings of everyday speech that still name the term: reddish, greyish, orangey, pinky
_SUFFIXES = ("ish", "dish", "ey", "y")


def _term_pattern(term: str) -> str:
    """Regex for ``term`` as a whole word, optionally with an everyday suffix.

    ``red`` matches ``red``, ``reddish``; ``orange`` matches ``orangish``, ``orangey``
    (a final ``e`` may drop before the suffix); words that merely contain the term
    (``bored``, ``redo``, ``greenery``) do not match.
    """
    stems = {re.escape(term)}
    if term.endswith("e"):
        stems.add(re.escape(term[:-1]))
    suffix = "|".join(_SUFFIXES)
    words = r"\s+".join(re.escape(w) for w in term.split())
    stem_alt = "|".join(sorted(stems, key=len, reverse=True))
    if " " in term:
        return rf"(?<![a-z]){words}(?![a-z])"
    return rf"(?<![a-z])(?:{re.escape(term)}|(?:{stem_alt})(?:{suffix}))(?![a-z])"


def parse_answer(text: str, terms: Sequence[str]) -> str | None:
    """The one term of ``terms`` that ``text`` names, or ``None`` if it names none or several.

    ``terms`` are the palette's colour names; see the module docstring for the rules.
    """
    plain = re.sub(r"[^a-z\s-]", " ", text.lower()).replace("-", " ")
    names = {term.lower(): term for term in terms}
    for variant, term in VARIANTS.items():
        if term in names and variant not in names:
            names[variant] = names[term]
    found: set[str] = set()
    for word in sorted(names, key=len, reverse=True):  # multi-word terms before their parts
        pattern = _term_pattern(word)
        if re.search(pattern, plain):
            found.add(names[word])
            plain = re.sub(pattern, " ", plain)
    return found.pop() if len(found) == 1 else None


def answer_or_unparsed(text: str, terms: Sequence[str]) -> str:
    """:func:`parse_answer`, with :data:`UNPARSED` in place of ``None`` (the stored answer)."""
    term = parse_answer(text, terms)
    return UNPARSED if term is None else term
