"""The answer parser: a generative model's free text -> one palette colour term, or unparsed.

A generative VLM asked "What is the color of the object in the image?" may write ``Red``,
``red.``, ``The object is red.``, ``Gray``, ``Light blue``, ``It is not red, it is blue``
or ``Purple.\\n\\nThe word 'GREEN' is written in purple font.`` The benchmark classifies
answers by the colour they name, so the text is mapped to one of the palette's terms by
these documented rules, and only these:

1. Case, punctuation, quotes, accents and markdown are ignored (``**Red.**`` -> red).
2. A term counts where it stands as a whole word (``red``, not the ``red`` in ``bored``),
   also as a plural (``reds``), with the suffix ``-ish`` / ``-y`` of everyday speech
   (``reddish``, ``orangey``) and in hyphenated compounds (``light-blue``).
3. Every accepted spelling of a term names it: the built-in ``gray`` -> grey and
   ``violet`` -> purple (:data:`colorbench.palette.SPELLINGS`), the palette's own synonyms,
   and the basic terms in Chinese, Spanish, French and German (:data:`FOREIGN`: ``红色``,
   ``rojo``). Shade words (``light``, ``dark``, ``navy``) are not colours and are ignored.
4. A negated term is not named: ``not red``, ``no red``, ``isn't red``, ``neither red nor
   blue`` (a negation word right before the term, articles and shade words skipped).
5. In a compound ``Xish Y`` the head ``Y`` is the colour (``greenish blue`` -> blue), as
   in the colour-naming task's ground truth (:func:`colorbench.tasks.xkcd.head_term`).
6. Sentence by sentence: a sentence saying what colour the writing is (``... is written in
   Y font``, ``written in Y``, ``the font is Y``, ``font color: Y``) names Y, whatever else
   it mentions (the word ``RED`` it is reading, the background); any other sentence names
   the one distinct term it mentions, or is ambiguous if it mentions several.
7. The text names a term if its sentences name exactly one distinct term and none is
   ambiguous (``Purple. The word 'GREEN' is written in purple font.`` -> purple). A text
   naming none (``I cannot tell``, ``cyan`` with the default palette) or several
   (``blue-green``, ``The word says red. It is written in blue font.``) is
   :data:`UNPARSED`: an answer that cannot be scored as one colour is not guessed at.

An answer cut off by the token limit (``The word "RED" is written in``) is not read at
all: the harness stores it as :data:`TRUNCATED` (the adapter reports the cut,
:class:`colorbench.plugin.adapter.GeneratedText`), since the colour it was about to name
is unknown and reading ``RED`` out of it would count a cut answer as reading.

The same rules apply to any palette: the terms are the palette's names (a multi-word name
such as ``light blue`` in a custom palette is matched before its parts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from colorbench.palette import SPELLINGS

#: the outcome and stored answer of a text that names no palette term or several
UNPARSED = "unparsed"
#: the outcome and stored answer of a text cut off by the generation token limit
TRUNCATED = "truncated"

#: the basic terms in Chinese (simplified and traditional), Spanish, French and German;
#: accents are stripped before matching, so the keys are written without them
FOREIGN: dict[str, str] = {
    # Chinese: matched anywhere (no spaces between words); the longer names first
    "粉红": "pink", "粉紅": "pink", "咖啡色": "brown", "黑": "black", "白": "white",
    "灰": "grey", "红": "red", "紅": "red", "橙": "orange", "橘": "orange", "黄": "yellow",
    "黃": "yellow", "绿": "green", "綠": "green", "蓝": "blue", "藍": "blue", "紫": "purple",
    "棕": "brown", "褐": "brown",
    # Spanish
    "negro": "black", "negra": "black", "blanco": "white", "blanca": "white", "gris": "grey",
    "rojo": "red", "roja": "red", "naranja": "orange", "anaranjado": "orange",
    "amarillo": "yellow", "amarilla": "yellow", "verde": "green", "azul": "blue",
    "morado": "purple", "morada": "purple", "purpura": "purple", "rosado": "pink",
    "rosa": "pink", "marron": "brown", "cafe": "brown",
    # French
    "noir": "black", "noire": "black", "blanc": "white", "blanche": "white", "grise": "grey",
    "rouge": "red", "jaune": "yellow", "vert": "green", "verte": "green", "bleu": "blue",
    "bleue": "blue", "violette": "purple", "rose": "pink", "brun": "brown", "brune": "brown",
    # German
    "schwarz": "black", "weiss": "white", "grau": "grey", "rot": "red", "gelb": "yellow",
    "grun": "green", "blau": "blue", "lila": "purple", "violett": "purple", "braun": "brown",
}  # fmt: skip

#: endings of everyday speech that still name the term: reddish, greyish, orangey, pinky
_MODIFIER_SUFFIXES = ("ish", "dish", "ey", "y")
#: plural endings: reds, greys, rojos
_PLURAL_SUFFIXES = ("s", "es")
#: a negation right before a term unsays it ("isn't" splits into "isn", "t")
_NEGATIONS = frozenset({"not", "no", "t", "never", "neither", "nor", "without", "non"})
#: words that may stand between a negation and its term ("not a light red", "doesn't look red")
_FILLERS = frozenset({"a", "an", "the", "really", "quite", "exactly", "very", "pure", "light",
                      "dark", "pale", "bright", "deep", "just", "simply", "actually", "be",
                      "look", "looks", "seem", "seems", "appear", "appears"})  # fmt: skip
#: a sentence saying what colour the writing is: the colour follows the match
_FONT_CLAUSE = re.compile(
    r"\b(?:(?:written|printed|typed|colou?red|rendered|displayed|shown|appears|lettered)"
    r"\s+in(?:\s+(?:a|an|the))?(?:\s+colou?r)?"
    r"|\b(?:font|ink|lettering|letters|text\s+colou?r)(?:\s+colou?r)?(?:\s+of\s+the\s+\w+)?"
    r"\s+(?:is|are|was|appears|looks|seems)(?:\s+to\s+be)?(?:\s+(?:a|an|the))?)\s+"
)
#: words read after a font clause: enough for "a light blue font"
_FONT_WINDOW = 4


@dataclass(frozen=True)
class _Mention:
    """A term named at word ``position``; ``modifier``: as ``Xish`` (``greenish``)."""

    position: int
    term: str
    modifier: bool
    negated: bool


def plain_words(text: str) -> str:
    """Lower-case ASCII words separated by spaces: accents, punctuation, quotes and markdown
    gone, hyphens split, the Chinese terms replaced by their English ones."""
    for word in sorted((w for w in FOREIGN if not w.isascii()), key=len, reverse=True):
        text = text.replace(word, f" {FOREIGN[word]} ")
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z\s]", " ", text).split())


def accepted_words(
    terms: Sequence[str], spellings: Mapping[str, Sequence[str]] | None = None
) -> dict[str, str]:
    """Every word (or multi-word name) that names a term -> the term.

    ``spellings[term]`` are the words accepted for it (default: the built-in
    :data:`colorbench.palette.SPELLINGS`); :data:`FOREIGN` words are added for the terms
    present. A term's own name always wins over another term's variant."""
    words: dict[str, str] = {}
    for term in terms:
        accepted = spellings[term] if spellings else (term, *SPELLINGS.get(term, ()))
        for word in (term, *accepted):
            words.setdefault(plain_words(word), term)
    for word, term in FOREIGN.items():
        if term in terms:
            words.setdefault(plain_words(word), term)
    for term in terms:
        words[plain_words(term)] = term
    return words


def _match(token: str, words: Mapping[str, str]) -> tuple[str, bool] | None:
    """The term ``token`` names and whether it is a ``-ish``/``-y`` modifier form, or None."""
    if token in words:
        return words[token], False
    for suffixes, modifier in ((_PLURAL_SUFFIXES, False), (_MODIFIER_SUFFIXES, True)):
        for suffix in suffixes:
            stem = token.removesuffix(suffix)
            if stem == token or not stem:
                continue
            for base in (stem, stem + "e"):  # orangish, orangey: the final e drops
                if " " not in base and base in words:
                    return words[base], modifier
    return None


def _mentions(tokens: list[str], words: Mapping[str, str]) -> list[_Mention]:
    """The terms named in ``tokens``, multi-word names before their parts."""
    phrases = sorted((w.split() for w in words if " " in w), key=len, reverse=True)
    found: list[_Mention] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in phrases if tokens[i : i + len(p)] == p), None)
        if phrase is not None:
            term, modifier, width = words[" ".join(phrase)], False, len(phrase)
        else:
            matched = _match(tokens[i], words)
            if matched is None:
                i += 1
                continue
            (term, modifier), width = matched, 1
        back = i - 1
        while back >= 0 and tokens[back] in _FILLERS:
            back -= 1
        negated = back >= 0 and tokens[back] in _NEGATIONS
        found.append(_Mention(i, term, modifier, negated))
        i += width
    return found


def _named(tokens: list[str], words: Mapping[str, str]) -> set[str]:
    """The distinct terms ``tokens`` name: negated ones left out, ``Xish Y`` read as Y."""
    mentions = _mentions(tokens, words)
    heads = {m.position - 1 for m in mentions}  # a modifier right before a term is not one
    return {m.term for m in mentions if not m.negated and not (m.modifier and m.position in heads)}


def _sentence_terms(sentence: str, words: Mapping[str, str]) -> set[str]:
    """The terms one sentence names (rule 6): a font clause's colour, else every term."""
    for clause in _FONT_CLAUSE.finditer(sentence):
        window = sentence[clause.end() :].split()[:_FONT_WINDOW]
        named = _named(window, words)
        if len(named) == 1:
            return named
    return _named(sentence.split(), words)


def parse_answer(
    text: str, terms: Sequence[str], spellings: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """The one term of ``terms`` that ``text`` names, or ``None`` if it names none or several.

    ``terms`` are the palette's colour names and ``spellings[term]`` the words accepted for
    each (default: the built-in ones); see the module docstring for the rules.
    """
    words = accepted_words(terms, spellings)
    named: set[str] = set()
    for sentence in re.split(r"[.!?;\n]+", text):
        found = _sentence_terms(plain_words(sentence.replace(":", " is ")), words)
        if len(found) > 1:
            return None
        named |= found
    return named.pop() if len(named) == 1 else None


def answer_or_unparsed(text: str, terms: Sequence[str]) -> str:
    """:func:`parse_answer`, with :data:`UNPARSED` in place of ``None`` (the stored answer)."""
    term = parse_answer(text, terms)
    return UNPARSED if term is None else term
