"""Endpoints: the ``served:NAME@URL`` id, the API key, and what each server says it is.

Everything here runs once, before any question is asked, so a wrong URL, model name or key is
one line naming the fix. The API key is read from the environment variable named by
``--api-key-env`` and exists only in request headers: :func:`redact` takes it out of anything
a server sends back before it can reach an error line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from colorbench.errors import ColorbenchError
from colorbench.names import printable

PREFIX = "served:"
_ID = re.compile(r"served:(?P<name>.+?)@(?P<url>https?://.+)")
#: response headers worth recording: the server's name and version
_VERSION_HEADERS = ("server", "x-vllm-version", "x-sglang-version", "openai-version")


def parse_id(model_id: str) -> tuple[str, str]:
    """``served:NAME@URL`` -> (NAME, URL without a trailing slash)."""
    match = _ID.fullmatch(model_id)
    if not match:
        raise ColorbenchError(
            f"{model_id!r} is not a served model id; write served:<served model name>@<base "
            "URL>, e.g. served:Qwen/Qwen2.5-VL-7B-Instruct@http://node1:8000/v1"
        )
    return match["name"], check_url(match["url"])


def check_url(url: str) -> str:
    """A base URL (``http(s)://host[:port]/path``) without credentials or a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ColorbenchError(
            f"endpoint {printable(url)!r} is not an http(s) URL; give the server's base URL, "
            "e.g. http://node1:8000/v1"
        )
    if parts.username or parts.password:
        raise ColorbenchError(
            "endpoint URLs must not hold credentials (they would be recorded in the results); "
            "put the key in an environment variable and name it with --api-key-env"
        )
    return url.rstrip("/")


def api_key(variable: str | None) -> str | None:
    """The key in ``$variable`` (``None`` without ``--api-key-env``); unset is one line."""
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise ColorbenchError(
            f"--api-key-env {variable}: that environment variable is not set; export "
            f"{variable}=<your key> first (the key is never written to results or logs)"
        )
    return key


def redact(text: str, key: str | None) -> str:
    """``text`` without the key, shortened to one printable line."""
    if key:
        text = text.replace(key, "***")
    text = " ".join(printable(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass
class ServerInfo:
    """What an endpoint said about itself (recorded in provenance)."""

    url: str
    models: list[str] = field(default_factory=list)
    #: the /models entry of the served model (id, owned_by, created, version where given)
    model: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "headers": self.headers}


def probe(url: str, name: str, headers: dict[str, str], timeout: float, key: str | None):
    """GET ``url/models``: the server's facts, or one line saying why it cannot serve ``name``.

    A transport failure is returned as a string (the caller may drop the endpoint if others
    answer); a refused key, a non-JSON answer or a missing model name raise.
    """
    try:
        response = httpx.get(f"{url}/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return (
            f"cannot reach endpoint {url} ({type(exc).__name__}: {redact(str(exc), key)}); "
            "start the server or fix the URL (the base URL ends in /v1)"
        )
    found = {k: v for k in _VERSION_HEADERS if (v := response.headers.get(k))}
    if response.status_code in (401, 403):
        raise ColorbenchError(auth_problem(url, response.status_code, key))
    if response.status_code == 404:  # some servers have no model list; the first request tells
        return ServerInfo(url, headers=found)
    if response.status_code >= 400:
        return f"endpoint {url} answered {response.status_code} to GET /models"
    try:
        listed = response.json()["data"]
        ids = [str(m["id"]) for m in listed]
    except (ValueError, KeyError, TypeError):
        raise ColorbenchError(
            f"endpoint {url} did not answer GET /models with an OpenAI model list (got "
            f"{redact(response.text, key)!r}); is {url} the server's OpenAI-compatible base URL "
            "(it ends in /v1)?"
        ) from None
    if name not in ids:
        shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
        raise ColorbenchError(
            f"endpoint {url} serves {shown or 'no model'}, not {name!r}; use --model "
            f"served:<one of those>@{url}"
        )
    entry = next(m for m in listed if str(m["id"]) == name)
    keep = {k: v for k, v in entry.items() if isinstance(v, str | int | float) and k != "object"}
    return ServerInfo(url, ids, keep, found)


def auth_problem(url: str, status: int, key: str | None) -> str:
    """One line for a 401/403: which variable to set, never the key."""
    hint = (
        "the key given by --api-key-env is wrong or lacks access"
        if key
        else "it needs an API key: put it in an environment variable and pass --api-key-env VAR"
    )
    return f"endpoint {url} refused the request ({status}): {hint}"


def prompt_logprobs_gap(
    url: str, name: str, headers: dict[str, str], timeout: float, key: str | None
) -> str | None:
    """What the endpoint lacks for likelihood scoring, or ``None`` when it has it all: one
    text-only request shaped like a scoring request (vLLM's ``prompt_logprobs`` with an open
    assistant turn) tells whether the server rejects it, ignores it, or closes the turn."""
    from colorbench.plugins.served import likelihood

    user = {"role": "user", "content": "Red?"}
    body = likelihood.answer_body(name, user, "Red", 0)
    try:
        response = httpx.post(
            f"{url}/chat/completions", json=body, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        return f"it did not answer a prompt_logprobs request ({type(exc).__name__})"
    if response.status_code in (401, 403):
        raise ColorbenchError(auth_problem(url, response.status_code, key))
    if response.status_code >= 400:
        return (
            f"it rejects vLLM's prompt_logprobs / continue_final_message "
            f"({response.status_code}: {redact(response.text, key)})"
        )
    try:
        data = response.json()
        last = data["prompt_logprobs"][-1]
    except (ValueError, KeyError, TypeError, IndexError):
        return "it ignores vLLM's prompt_logprobs (its answer has no prompt log-probabilities)"
    said = _decoded(last)
    if said is not None and not (said and "Red".endswith(said)):
        return (
            "it ignores vLLM's continue_final_message (the scored prompt does not end with "
            f"the answer but with {said!r})"
        )
    return None


def _decoded(entry: object) -> str | None:
    """The text of a ``prompt_logprobs`` position's prompt token (vLLM puts it first), as
    far as the server says (``None``: it does not); SentencePiece/BPE space marks dropped."""
    if not isinstance(entry, dict) or not entry:
        return None
    first = next(iter(entry.values()))
    text = first.get("decoded_token") if isinstance(first, dict) else None
    return text.strip().lstrip("\u2581\u0120") if isinstance(text, str) else None


def answer_end(url: str, name: str, headers: dict[str, str], timeout: float) -> str | None:
    """The text the model's template puts right after an assistant answer (``<|im_end|>``),
    where it is one token that an answer can carry as text; else ``None`` (``--score-end``
    is then refused). Three text-only requests: the answer's turn closed and left open tell
    which token follows the answer (its text as the server decodes it); the answer with that
    text appended, left open, must end in that same token (a special token survives the
    round trip; a newline or space, which the template strips from the answer, does not)."""
    from colorbench.plugins.served import likelihood

    user = {"role": "user", "content": "?"}
    opened = likelihood.answer_body(name, user, "Red", 0)
    closed = _post(url, {**opened, "continue_final_message": False}, headers, timeout)
    left_open = _post(url, opened, headers, timeout)
    try:
        at = len(left_open["prompt_logprobs"])  # the position right after the answer
        entry = closed["prompt_logprobs"][at]
        ids = closed.get("prompt_token_ids")
        token = str(ids[at]) if isinstance(ids, list) else next(iter(entry))  # vLLM: first
        text = entry[token]["decoded_token"]
    except (KeyError, TypeError, IndexError, StopIteration, AttributeError):
        return None
    if not isinstance(text, str) or not text.strip():
        return None
    carried = _post(url, likelihood.answer_body(name, user, "Red" + text, 0), headers, timeout)
    try:
        tail = likelihood.tail_of(carried) if carried else None
    except likelihood.NoPromptLogprobs:
        return None
    if tail is None or tail.length != at + 1 or str(tail.ids[-1]) != token:
        return None
    return text


def _post(url: str, body: dict, headers: dict[str, str], timeout: float) -> dict | None:
    """A chat completion's JSON, or ``None`` where the server did not give one."""
    try:
        response = httpx.post(
            f"{url}/chat/completions", json=body, headers=headers, timeout=timeout
        )
        data = response.json() if response.status_code < 400 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None
