"""The append-only response store: every answer a served model gave, as it arrived.

One SQLite file (WAL mode) per served model name in the results folder,
``<out>/served-responses/<model name slug>.sqlite`` (:func:`store_path`): not in the result's
own folder, whose name holds the URL, so a job on other nodes (other URLs) finds every answer
an earlier job got. A row is keyed by :func:`request_key`, a hash of the served model name
and the exact request (question, image bytes, decoding settings), never of the URL: any
endpoint serving the same model may answer it. Rows are only ever
inserted; a re-asked request (``--no-resume``) adds a row and the newest one counts. Each insert
is committed before the answer is used, so a run killed at any moment has lost at most the
requests that were in flight. Token usage per request is kept beside each answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.names import model_slug
from colorbench.plugin.adapter import GeneratedText

#: the folder of the response stores inside ``--out``
FOLDER = "served-responses"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    seconds REAL NOT NULL,
    answered_at REAL NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_key ON responses (key);
"""


def store_path(out: Path, name: str) -> Path:
    """Where the answers of served model ``name`` are kept in results folder ``out``."""
    return Path(out) / FOLDER / f"{model_slug(name)}.sqlite"


def request_key(model: str, body: dict[str, Any]) -> str:
    """sha256 of the served model name and the request body (canonical JSON)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{model}\n{canonical}".encode()).hexdigest()


def cut_by_max_tokens(response: dict[str, Any]) -> bool:
    """Whether the server stopped this completion at ``max_tokens`` (``finish_reason`` is
    ``"length"``): its text is then ``truncated``, as ``hf-vlm`` marks an answer that reached
    ``max_new_tokens``, never read for a colour it may not have finished naming."""
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    return isinstance(first, dict) and first.get("finish_reason") == "length"


@dataclass(frozen=True)
class Reply:
    """One answer: the text, who gave it, its token usage and the response as received."""

    text: str
    endpoint: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float
    response: dict[str, Any]

    @property
    def answer(self) -> GeneratedText:
        """The text as the harness grades it (``truncated`` when ``max_tokens`` cut it)."""
        return GeneratedText(self.text, cut_by_max_tokens(self.response))


class ResponseStore:
    """Answers by request key, read and appended by one thread (the run's)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ColorbenchError(
                f"cannot open the response store {self.path} ({exc}); move the damaged file "
                "away (its answers are then asked again) or pass another --out"
            ) from None

    def get_many(self, keys: list[str]) -> dict[str, GeneratedText]:
        """The newest stored answer of each of ``keys`` that has one."""
        return {
            key: GeneratedText(text, cut_by_max_tokens(_json(response)))
            for key, text, response in self._rows(keys, "text, response")
        }

    def get_responses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The newest stored response (as kept) of each of ``keys`` that has a readable one."""
        found: dict[str, dict[str, Any]] = {}
        for key, response in self._rows(keys, "response"):
            data = _json(response)
            if isinstance(data, dict):
                found[key] = data
        return found

    def _rows(self, keys: list[str], columns: str) -> list[tuple]:
        """``(key, *columns)`` of every stored row of ``keys``, oldest first (so a dict built
        from them keeps each key's newest row)."""
        rows: list[tuple] = []
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT key, {columns} FROM responses WHERE key IN ({marks}) ORDER BY id"
            rows += self.db.execute(query, part).fetchall()
        return rows

    def put(self, key: str, model: str, reply: Reply) -> None:
        """Append one answer (committed on return)."""
        self.db.execute(
            "INSERT INTO responses (key, model, endpoint, text, prompt_tokens, "
            "completion_tokens, seconds, answered_at, response) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                key,
                model,
                reply.endpoint,
                reply.text,
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.seconds,
                time.time(),
                json.dumps(reply.response),
            ),
        )

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # an edited row: its text still counts, only the cut is unknown
        return None
