"""A model behind OpenAI-compatible endpoints as a colorbench :class:`GenerativeAdapter`.

The harness hands :meth:`ServedAdapter.generate` a batch of images and the task's question
(the same question form and answer parser as ``hf-vlm --scoring generate``); each image
becomes one chat completion request, answered from the response store when an earlier run
already asked it, otherwise fanned out over the endpoints (:class:`~.pool.Pool`) and stored
as the reply arrives. An answer that never came is returned as ``None`` (missing).

With ``--scoring likelihood`` (servers that return prompt log-probabilities, as vLLM does)
each image and question is one request for the prompt and one per answer
(:mod:`.likelihood`), through the same store and pool; an image any of them never came
back for is *missing* for that question.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.console import Console

from colorbench.errors import ColorbenchError
from colorbench.names import printable
from colorbench.plugin.adapter import AnswerLogLikelihoods, GeneratedText, GenerativeAdapter
from colorbench.plugins.hfvlm.adapter import surface
from colorbench.plugins.served import endpoints as ep
from colorbench.plugins.served import likelihood as lk
from colorbench.plugins.served import pool as retries
from colorbench.plugins.served.pool import Endpoint, Pool
from colorbench.plugins.served.store import Reply, ResponseStore, request_key, store_path

#: requests in flight per endpoint unless ``--max-in-flight`` says otherwise
MAX_IN_FLIGHT = 8
#: seconds before a request is given up and retried unless ``--request-timeout`` says otherwise
REQUEST_TIMEOUT = 120.0
#: the image format of every request (lossless; recorded in provenance)
IMAGE_FORMAT = "png"


def create_adapter(model_id: str, **options: Any) -> ServedAdapter:
    """``served:NAME@URL`` (+ ``endpoints``) checked against the servers, ready to ask."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise ColorbenchError(f"{model_id} needs httpx: pip install 'colorbench[served]'") from None
    name, url = ep.parse_id(model_id)
    urls = list(dict.fromkeys([url, *(ep.check_url(u) for u in options.get("endpoints") or [])]))
    key = ep.api_key(options.get("api_key_env"))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timeout = float(options.get("request_timeout") or REQUEST_TIMEOUT)
    infos, problems = [], []
    for u in urls:
        found = ep.probe(u, name, headers, min(timeout, 30.0), key)
        (problems if isinstance(found, str) else infos).append(found)
    if not infos:
        raise ColorbenchError(problems[0] if len(problems) == 1 else "; ".join(problems))
    warn = _warner()
    for problem in problems:
        warn(f"{problem}; going on without it")
    scoring = options.get("scoring") or "generate"
    if scoring == "likelihood":
        gap = ep.prompt_logprobs_gap(infos[0].url, name, headers, min(timeout, 30.0), key)
        if gap is not None:
            raise ColorbenchError(likelihood_refusal(infos[0].url, gap))
    pool = Pool(
        [Endpoint(i.url) for i in infos],
        headers,
        int(options.get("max_in_flight") or MAX_IN_FLIGHT),
        timeout,
        key=key,
        token_budget=options.get("token_budget"),
        warn=warn,
        retries=retries.RETRIES,
        backoff=retries.BACKOFF,
    )
    store = ResponseStore(store_path(Path(options.get("out") or "results"), name))
    return ServedAdapter(
        model_id,
        name,
        pool,
        store,
        infos,
        int(options.get("seed") or 0),
        options.get("resume", True),
        scoring,
    )


def likelihood_refusal(url: str, gap: str) -> str:
    """Why ``--scoring likelihood`` is refused (one line): what the server lacks."""
    return (
        f"--scoring likelihood needs the log-probabilities of each answer's tokens after the "
        f"question, and endpoint {url} cannot give them here: {gap}; use --scoring generate"
    )


def user_turn(image_uri: str, question: str) -> dict[str, Any]:
    """The user turn of every request: the image (a data URI), then the question."""
    return {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": image_uri}},
            {"type": "text", "text": question},
        ],
    }


def _warner():
    console = Console(stderr=True)

    def warn(line: str) -> None:
        console.print(
            f"colorbench: warning: {printable(line)}", markup=False, highlight=False, soft_wrap=True
        )

    return warn


def png_data_uri(image: torch.Tensor) -> str:
    """``[3, H, W]`` uint8 -> ``data:image/png;base64,...`` (lossless, same bytes every time)."""
    array = image.detach().to("cpu", torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class ServedAdapter(GenerativeAdapter):
    """Asks a served model each question by chat completion; answers come from the store first."""

    #: generate first: the default, as every server can; likelihood where it returns
    #: prompt log-probabilities (checked when the adapter is created)
    scorings = ("generate", "likelihood")
    device = torch.device("cpu")

    def __init__(
        self,
        model_id: str,
        name: str,
        pool: Pool,
        store: ResponseStore,
        servers: list[ep.ServerInfo],
        seed: int,
        reuse: bool = True,
        scoring: str = "generate",
    ) -> None:
        self.model_id = model_id
        self.name = name
        self.pool = pool
        self.store = store
        self.servers = servers
        self.seed = seed
        self.reuse = reuse
        self.scoring = scoring
        self.reused = 0
        self.t0 = time.monotonic()
        #: enough images per batch to keep every endpoint's requests in flight busy
        self.preferred_batch_size = max(64, 4 * len(pool.endpoints) * pool.max_in_flight)

    @cached_property
    def answer_end(self) -> str | None:  # type: ignore[override]
        """What the template puts after an answer, as the server says
        (:func:`.endpoints.answer_end`; asked only by ``--score-end``)."""
        server = self.pool.endpoints[0].url
        return ep.answer_end(server, self.name, self.pool.headers, min(self.pool.timeout, 30.0))

    def request(self, image: torch.Tensor, question: str, max_new_tokens: int) -> dict[str, Any]:
        """The chat completion body for one image: image then question in one user turn
        (as ``hf-vlm`` puts it through the chat template), greedy."""
        return {
            "model": self.name,
            "messages": [user_turn(png_data_uri(image), question)],
            "temperature": 0,
            "max_tokens": max_new_tokens,
            "seed": self.seed,
        }

    def _fetch(
        self,
        bodies: list[dict[str, Any]],
        stored_get: Callable[[list[str]], dict[str, Any]],
        use: Callable[[Reply], Any],
        prepare: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        """Per body, ``use(reply)`` of its answer: from the store, else asked (each distinct
        request once) and stored as it arrives (after ``prepare(response)``); ``None``
        where no answer came."""
        keys = [request_key(self.name, body) for body in bodies]
        stored = stored_get(keys) if self.reuse else {}
        self.reused += sum(k in stored for k in keys)
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in stored:
                first.setdefault(key, i)
        todo = list(first.items())

        def keep(index: int, reply: Reply) -> None:
            if prepare is not None:
                prepare(reply.response)
            self.store.put(todo[index][0], self.name, reply)

        replies = self.pool.ask([bodies[i] for _, i in todo], keep)
        for (key, _), reply in zip(todo, replies, strict=True):
            if reply is not None:
                stored[key] = use(reply)
        return [stored.get(k) for k in keys]

    def generate(
        self, images: torch.Tensor, question: str, max_new_tokens: int
    ) -> list[GeneratedText | None]:
        bodies = [self.request(image, question, max_new_tokens) for image in images]
        return self._fetch(bodies, self.store.get_many, lambda reply: reply.answer)

    def loglikelihood(
        self, images: torch.Tensor, question: str, answers: Sequence[str]
    ) -> AnswerLogLikelihoods:
        return self.loglikelihood_prompts(images, [question], answers)[0]

    def loglikelihood_prompts(
        self, images: torch.Tensor, questions: Sequence[str], answers: Sequence[str]
    ) -> list[AnswerLogLikelihoods]:
        """Every question's answer log-likelihoods for ``images``: all their requests (the
        prompt and each answer, per image and question) in one fan-out."""
        uris = [png_data_uri(image) for image in images]
        said = [surface(a) for a in answers]
        bodies = []
        for question in questions:
            for uri in uris:
                user = user_turn(uri, question)
                bodies.append(lk.prompt_body(self.name, user, self.seed))
                bodies += [lk.answer_body(self.name, user, a, self.seed) for a in said]
        responses = self._fetch(
            bodies, self.store.get_responses, lambda reply: reply.response, self._compact
        )
        per = len(said) + 1
        batch = len(images)
        scored = []
        for q in range(len(questions)):
            total = torch.zeros(batch, len(said))
            missing = torch.zeros(batch, dtype=torch.bool)
            tokens = None
            for b in range(batch):
                start = (q * batch + b) * per
                got = responses[start : start + per]
                if any(r is None for r in got):
                    missing[b] = True
                    continue
                rows = self._scores(got)
                total[b] = torch.tensor([score for score, _ in rows])
                tokens = tokens or [count for _, count in rows]
            counts = torch.tensor(tokens or [1] * len(said))
            scored.append(AnswerLogLikelihoods(total, counts, missing))
        return scored

    def _compact(self, response: dict[str, Any]) -> None:
        """A fresh likelihood reply cut to what is kept (:func:`.likelihood.compact`)."""
        try:
            lk.compact(response)
        except lk.NoPromptLogprobs as exc:
            raise ColorbenchError(
                likelihood_refusal(self.servers[0].url, f"{exc} in a reply to a scoring request")
            ) from None

    def _scores(self, responses: list[dict[str, Any]]) -> list[tuple[float, int]]:
        """One image and question's (log-likelihood, tokens) per answer, from the prompt's
        response and the answers' (in order)."""
        try:
            tails = [lk.tail_of(r) for r in responses]
            return lk.answer_scores(tails[0], tails[1:])
        except (lk.NoPromptLogprobs, lk.Unscorable) as exc:
            raise ColorbenchError(
                f"{self.model_id}: cannot score the answers by likelihood: {exc}; use "
                "--scoring generate"
            ) from None

    def provenance(self) -> dict[str, Any]:
        return {
            "served_model": self.name,
            "api": "chat.completions"
            + (" prompt_logprobs continue_final_message" if self.scoring == "likelihood" else ""),
            "image_format": IMAGE_FORMAT,
            **(
                {"answer_form": "capitalised, an open assistant turn in the server's template"}
                if self.scoring == "likelihood"
                else {}
            ),
            "temperature": 0,
            "request_seed": self.seed,
            "max_in_flight": self.pool.max_in_flight,
            "request_timeout_s": self.pool.timeout,
            "token_budget": self.pool.token_budget,
            "servers": [s.provenance() for s in self.servers],
            "response_store": str(self.store.path.relative_to(self.store.path.parents[1])),
        }

    def usage(self) -> dict[str, Any]:
        """Requests, tokens, time and per-endpoint counts of this run so far."""
        wall = time.monotonic() - self.t0
        answered = sum(e.answered for e in self.pool.endpoints)
        return {
            "requests_sent": sum(e.sent for e in self.pool.endpoints),
            "answered": answered,
            "retried": sum(e.retried for e in self.pool.endpoints),
            "missing": self.pool.missing,
            "reused_from_store": self.reused,
            "prompt_tokens": self.pool.prompt_tokens,
            "completion_tokens": self.pool.completion_tokens,
            "total_tokens": self.pool.tokens,
            "request_seconds": round(self.pool.seconds, 3),
            "wall_time_s": round(wall, 3),
            "answers_per_s": round(answered / self.pool.seconds, 3) if self.pool.seconds else None,
            "endpoints": [e.counts() for e in self.pool.endpoints],
        }
