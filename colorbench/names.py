"""Names and text that cross colorbench's borders: from plugins, users and files on disk.

Three facts live here and nowhere else:

- which names may be a path component (task, stimulus-set and analysis names are used as
  folder names verbatim, so ``..`` or ``a/b`` must be refused when a plugin registers them);
- how a model id becomes its folder name (:func:`model_slug`), injectively, so two ids can
  never share a results folder;
- how untrusted text is neutralised before it reaches a terminal (control characters,
  escape sequences) or a spreadsheet (formula prefixes).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

#: a name that is safe as one path component on every OS: starts with a letter or digit
PATH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: characters kept verbatim in a model's folder name
_SLUG_KEEP = re.compile(r"[^A-Za-z0-9._-]")
#: separates a slug from the hash that makes it unique; never produced by a plain slug
HASH_SEP = "+"
#: text a spreadsheet would evaluate as a formula when a cell starts with it
FORMULA_PREFIXES = ("=", "+", "-", "@")


def is_path_name(name: object) -> bool:
    """Whether ``name`` can be used as one folder name (no ``..``, no separator, no dot-file)."""
    return isinstance(name, str) and PATH_NAME.fullmatch(name) is not None


def path_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a folder name, or None when it can."""
    if is_path_name(name):
        return None
    return (
        f"{printable(repr(name))} cannot be used as a folder name (use 1-128 of A-Z a-z 0-9 . _ -, "
        "starting with a letter or digit)"
    )


def model_slug(model_id: str) -> str:
    """The model's folder name: the id itself when it is a plain path name, else a readable
    slug plus a short hash of the exact id.

    Plain ids (``random-RN50``, ``ideal-observer``) keep their folder names. Any other id
    (``hf-hub:org/repo``, non-ASCII, ``..``) gets ``<slug>+<12 hex digits of sha256>``; ``+``
    never occurs in a plain name, so two different ids never map to the same folder.
    """
    if is_path_name(model_id):
        return model_id
    digest = hashlib.sha256(model_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    slug = _SLUG_KEEP.sub("_", model_id)[:80].strip(".") or "model"
    return f"{slug}{HASH_SEP}{digest}"


def printable(text: object) -> str:
    """``text`` with every control character (ESC, BEL, newlines, bidi overrides...) shown as
    an escape such as ``\\x1b``, so untrusted text cannot move the cursor, recolour or hide
    itself on a terminal."""
    return "".join(
        ch if not unicodedata.category(ch).startswith("C") or ch == " " else _escaped(ch)
        for ch in str(text)
    )


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def csv_text(text: object) -> str:
    """A CSV cell a spreadsheet shows as text: control characters escaped and a leading
    formula character (``= + - @``) prefixed with ``'``. Numbers never pass through here."""
    s = printable(text)
    return f"'{s}" if s.startswith(FORMULA_PREFIXES) else s
