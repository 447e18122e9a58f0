"""The question forms of the built-in prompts: what generative models are asked.

Each question asks what its prompt's statement template asserts, and asks for one
word so that the answer is a colour term (:mod:`colorbench.runner.answers` reads it). The
wording is shared by the tasks that share a prompt, so that the same question gets the
same text in every task; docs/TASKS.md lists it.
"""

from __future__ import annotations

#: asked for one word, so that the free answer is a colour term
ONE_WORD = "Answer with one word."

#: Exp. 1 and the bare prompts: no part is named (statement ``{c}``)
BARE = f"What color is shown in the image? {ONE_WORD}"
#: "The color of the object is {c}"
OBJECT = f"What is the color of the object in the image? {ONE_WORD}"
#: "The color of the background is {c}"
BACKGROUND = f"What is the color of the background in the image? {ONE_WORD}"
#: "The word is written in {c} font" (Exp. 3-5)
FONT = f"In what color of font is the word written? {ONE_WORD}"
#: "The text says {c}"
TEXT = f"What does the text in the image say? {ONE_WORD}"
#: "My favorite word, written in the color {c}"
FAVORITE = f"My favorite word is in the image. In what color is it written? {ONE_WORD}"
