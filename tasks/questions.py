"""The question forms of the built-in prompts: what generative models are asked.

Each question asks what its prompt's statement template asserts; how to answer (one of
the palette's terms, or one word) is added by :func:`colorbench.plugin.task.ask`, so that
the answer is a colour term (:mod:`colorbench.runner.answers` reads it). The wording is
shared by the tasks that share a prompt, so that the same question gets the same text in
every task; docs/TASKS.md lists it beside the statement.
"""

from __future__ import annotations

#: Exp. 1 and the bare prompts: no part is named (statement ``{c}``)
BARE = "What color is shown in the image?"
#: "The color of the object is {c}"
OBJECT = "What is the color of the object in the image?"
#: "The color of the background is {c}"
BACKGROUND = "What is the color of the background in the image?"
#: "The word is written in {c} font" (Exp. 3-5)
FONT = "In what color of font is the word written?"
#: "The text says {c}"
TEXT = "What does the text in the image say?"
#: "My favorite word, written in the color {c}": the caption of the earlier study the paper
#: cites ([6]), which presents the image as a word and mentions its colour in passing, so it
#: invites reading; asked as the caption to complete, not as a question about the ink (that
#: is FONT's job, and Exp. 3 contrasts the two)
FAVORITE = 'Complete the caption of the image: "My favorite word, written in the color ___".'
