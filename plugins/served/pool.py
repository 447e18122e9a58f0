"""Many endpoints, one queue: requests in flight, retries, dropped endpoints, the token budget.

:meth:`Pool.ask` sends a batch of chat-completion requests through every live endpoint at
once, at most ``max_in_flight`` per endpoint, all pulling from one queue. A transport error,
a timeout, 429 or 5xx is retried with exponential backoff and jitter (or after the server's
``Retry-After``, when it says), possibly by another endpoint; a request that still fails after
:data:`RETRIES` retries is *missing* (``None``), never a made-up answer. An endpoint that fails
:data:`DROP_AFTER` times in a row is dropped with a warning while another one is live (the last
one never is: its requests run out of retries instead). Answers that are wrong by protocol (a
refused key, an unknown model, a body that is not an OpenAI response) stop the run in one line.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from colorbench.errors import ColorbenchError
from colorbench.plugins.served.endpoints import auth_problem, redact
from colorbench.plugins.served.store import Reply

#: retries of one request before it is missing; with :data:`BACKOFF` about 45-135 s of waiting
#: in all, enough for a server to be restarted
RETRIES = 8
#: first backoff in seconds, doubled per retry up to :data:`MAX_BACKOFF`, times 0.5-1.5 jitter
BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: consecutive failures after which an endpoint is dropped (when another one is live)
DROP_AFTER = 6
#: HTTP statuses worth retrying: rate limits and server-side failures
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class Retryable(Exception):
    """A failure that another try may not have: transport, timeout, 429, 5xx."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class BudgetReached(ColorbenchError):
    """The run used its ``--token-budget``: stored answers are kept, the same command goes on."""


@dataclass
class Endpoint:
    """One base URL and what it did in this run (the summary's per-endpoint counts)."""

    url: str
    sent: int = 0
    answered: int = 0
    retried: int = 0
    dropped: bool = False
    failures_in_a_row: int = 0

    def counts(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sent": self.sent,
            "answered": self.answered,
            "retried": self.retried,
            "dropped": self.dropped,
        }


@dataclass
class _Job:
    index: int
    body: dict[str, Any]
    attempt: int = 0


@dataclass
class Pool:
    """The endpoints of one served model and the run's counters."""

    endpoints: list[Endpoint]
    headers: dict[str, str]
    max_in_flight: int
    timeout: float
    key: str | None = None
    token_budget: int | None = None
    warn: Callable[[str], None] = print
    retries: int = RETRIES
    backoff: float = BACKOFF
    prompt_tokens: int = 0
    completion_tokens: int = 0
    missing: int = 0
    seconds: float = 0.0
    _rng: random.Random = field(default_factory=random.Random)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def budget_reached(self) -> bool:
        return self.token_budget is not None and self.tokens >= self.token_budget

    def ask(
        self, bodies: list[dict[str, Any]], on_reply: Callable[[int, Reply], None]
    ) -> list[Reply | None]:
        """Every request's reply (``None``: missing); ``on_reply(index, reply)`` is called as
        each arrives, before anything else happens, so it can be stored at once."""
        if not bodies:
            return []
        if self.budget_reached():
            raise self._budget_error()
        start = time.monotonic()
        try:
            return asyncio.run(self._ask(bodies, on_reply))
        finally:
            self.seconds += time.monotonic() - start

    async def _ask(self, bodies, on_reply) -> list[Reply | None]:
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for i, body in enumerate(bodies):
            queue.put_nowait(_Job(i, body))
        replies: list[Reply | None] = [None] * len(bodies)
        unresolved = {"n": len(bodies)}

        def resolve(job: _Job, reply: Reply | None) -> None:
            replies[job.index] = reply
            unresolved["n"] -= 1
            if reply is None:
                self.missing += 1
            else:
                on_reply(job.index, reply)

        async def worker(endpoint: Endpoint, client: httpx.AsyncClient) -> None:
            while unresolved["n"] and not endpoint.dropped and not self.budget_reached():
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)  # others may put a retried job back
                    continue
                await self._attempt(endpoint, client, job, queue, resolve)

        limits = httpx.Limits(max_connections=self.max_in_flight)
        clients = [
            httpx.AsyncClient(headers=self.headers, timeout=self.timeout, limits=limits)
            for _ in self.endpoints
        ]
        try:
            tasks = [
                asyncio.create_task(worker(endpoint, client))
                for endpoint, client in zip(self.endpoints, clients, strict=True)
                if not endpoint.dropped
                for _ in range(self.max_in_flight)
            ]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            errors = [t.exception() for t in done if t.exception() is not None]
            if errors:
                raise errors[0]
        finally:
            for client in clients:
                await client.aclose()
        if unresolved["n"] and self.budget_reached():
            raise self._budget_error()
        return replies

    async def _attempt(self, endpoint, client, job: _Job, queue, resolve) -> None:
        endpoint.sent += 1
        try:
            reply = await self._post(endpoint, client, job.body)
        except Retryable as exc:
            endpoint.retried += 1
            endpoint.failures_in_a_row += 1
            job.attempt += 1
            if job.attempt > self.retries:
                resolve(job, None)
                return
            live = [e for e in self.endpoints if not e.dropped]
            if endpoint.failures_in_a_row >= DROP_AFTER and len(live) > 1:
                endpoint.dropped = True
                self.warn(
                    f"dropping endpoint {endpoint.url} after {endpoint.failures_in_a_row} "
                    f"failures in a row ({exc}); its requests go to the others"
                )
                queue.put_nowait(job)
                return
            await asyncio.sleep(self._delay(job.attempt, exc.retry_after))
            queue.put_nowait(job)
            return
        endpoint.failures_in_a_row = 0
        endpoint.answered += 1
        self.prompt_tokens += reply.prompt_tokens or 0
        self.completion_tokens += reply.completion_tokens or 0
        resolve(job, reply)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; never sooner than the server's Retry-After."""
        backoff = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
        backoff *= self._rng.uniform(0.5, 1.5)
        return max(backoff, retry_after or 0.0)

    async def _post(self, endpoint: Endpoint, client, body: dict[str, Any]) -> Reply:
        start = time.monotonic()
        try:
            response = await client.post(f"{endpoint.url}/chat/completions", json=body)
        except httpx.TransportError as exc:  # connection refused/reset, timeouts
            raise Retryable(f"{type(exc).__name__}") from None
        status = response.status_code
        if status in RETRY_STATUS:
            raise Retryable(f"HTTP {status}", retry_after(response.headers.get("retry-after")))
        if status in (401, 403):
            raise ColorbenchError(auth_problem(endpoint.url, status, self.key))
        if status >= 400:
            raise ColorbenchError(
                f"endpoint {endpoint.url} rejected the request for model {body['model']!r} "
                f"({status}: {redact(response.text, self.key)}); check the model name "
                "(GET <URL>/models lists them) and that the server takes images"
            )
        return parse_reply(response, endpoint.url, time.monotonic() - start, self.key)

    def _budget_error(self) -> BudgetReached:
        return BudgetReached(
            f"token budget of {self.token_budget} reached ({self.tokens} tokens used by this "
            "run); every answer so far is stored - rerun the same command (with a larger "
            "--token-budget, or none) to continue"
        )


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), if any."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_reply(response: httpx.Response, url: str, seconds: float, key: str | None) -> Reply:
    """A 2xx chat completion -> :class:`Reply`, or one line saying what the body lacks."""
    try:
        data = response.json()
    except ValueError:
        raise ColorbenchError(
            f"endpoint {url} answered {response.status_code} with a body that is not JSON "
            f"({redact(response.text, key)!r}); is it an OpenAI-compatible base URL (ends in /v1)?"
        ) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise ColorbenchError(
            f"endpoint {url} answered without a choice ({redact(response.text, key)!r}); the "
            "server did not complete the chat - check its log"
        )
    content = message.get("content")
    if isinstance(content, list):  # content parts, as some servers answer
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    text = content if isinstance(content, str) else ""  # null content: an empty answer
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Reply(
        text,
        url,
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        round(seconds, 4),
        data,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
