"""Servers for the served-model tests: ``transformers serve``, a fault-injecting proxy, a stub.

- :class:`Server` runs ``transformers serve <folder>`` on 127.0.0.1 (CPU, continuous
  batching) and can be killed and started again on the same port.
- :class:`FaultProxy` sits in front of a server and injects 429 (with ``Retry-After``), 500,
  timeouts and dropped connections by request number; it counts what it received and what it
  answered per request body, so "no request answered twice" is counted where it happens. It
  can also hold requests (not forwarded) while a test kills the client.
- :class:`Stub` is a tiny OpenAI-compatible server with known answers and known faults under
  different base paths (bad-input cases; no model needed).
- :class:`VLLMStub` answers chat completions as vLLM does with ``prompt_logprobs`` and
  ``continue_final_message``, computed by an in-process transformers model (a tiny one from
  ``colorbench.plugins.hfvlm.tiny``) with its own chat template, so the log-probabilities a
  served likelihood run reads are known by construction.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server that does not print a traceback when a client hangs up."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def transformers_cli() -> str | None:
    """The ``transformers`` command of this environment (beside python), else on PATH."""
    here = Path(sys.executable).parent / "transformers"
    return str(here) if here.exists() else shutil.which("transformers")


class Server:
    """``transformers serve FOLDER`` on 127.0.0.1:PORT, CPU, continuous batching."""

    def __init__(self, folder: Path, log: Path, port: int | None = None) -> None:
        self.folder, self.log = Path(folder), Path(log)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        cli = transformers_cli()
        if cli is None:
            raise RuntimeError("no `transformers` command (pip install 'transformers[serving]')")
        argv = [cli, "serve", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--device", "cpu", "--continuous-batching", "--log-level", "warning"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def wait(self, timeout: float = 180.0) -> None:
        """Until /health answers, or RuntimeError with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""
        self.stop()
        raise RuntimeError(f"transformers serve did not come up on {self.port}: {tail}")

    def stop(self) -> None:
        """SIGKILL the server's process group (it is ours) and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def client_gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (it was killed): readable with nothing to read."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FaultProxy:
    """A forwarding proxy on 127.0.0.1 whose ``plan(n)`` picks the fate of request ``n``.

    Fates: ``"pass"``, ``"429"`` (``Retry-After: 1``), ``"500"``, ``"timeout"`` (hangs ``hang``
    seconds, then closes without answering), ``"drop"`` (closes at once); the first ``doom``
    distinct requests fail every time. ``hold`` (an Event,
    when set by :meth:`hold_from`) keeps requests after the N-th answer waiting unforwarded.
    """

    def __init__(
        self, upstream: str, plan: Callable[[int], str] | None = None, hang: float = 4.0
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan or (lambda n: "pass")
        self.hang = hang
        self.lock = threading.Lock()
        self.received = 0
        self.answered: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.arrivals: dict[str, list[tuple[float, str]]] = {}
        self.abandoned = 0
        self.forwarding = 0
        self.hold_after: int | None = None
        #: the first ``doom`` distinct requests always get 500 (they end up missing)
        self.doom = 0
        self.doomed: set[str] = set()
        self.gate = threading.Event()
        self.client = httpx.Client(timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                response = proxy.client.get(proxy.upstream + self.path.removeprefix("/v1"))
                self._send(response.status_code, response.content, response.headers)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                key = body_hash(body)
                with proxy.lock:
                    proxy.received += 1
                    n = proxy.received
                    fate = proxy.plan(n)
                    if len(proxy.doomed) < proxy.doom and key not in proxy.answered:
                        proxy.doomed.add(key)
                    if key in proxy.doomed:
                        fate = "500"
                    proxy.arrivals.setdefault(key, []).append((time.monotonic(), fate))
                    if fate != "pass":
                        proxy.faults[fate] += 1
                if fate == "429":
                    return self._send(429, b'{"error": "slow down"}', {"retry-after": "1"})
                if fate == "500":
                    return self._send(500, b'{"error": "injected"}', {})
                if fate in ("timeout", "drop"):
                    if fate == "timeout":
                        time.sleep(proxy.hang)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                # held or forwarding, decided under the lock that sigkill_mid_run reads the
                # counts under: a request is "forwarding" from here until its answer is counted
                # (a kill between the answer's delivery and its count would otherwise look like
                # a quiet moment, and the answer delivered to a dying client would be re-asked)
                with proxy.lock:
                    held = proxy.hold_after is not None and (
                        sum(proxy.answered.values()) >= proxy.hold_after
                    )
                    proxy.forwarding += not held
                if held:
                    proxy.gate.wait()
                    with proxy.lock:
                        gone = client_gone(self.connection)
                        proxy.abandoned += gone
                        proxy.forwarding += not gone
                    if gone:
                        self.close_connection = True
                        return None
                try:
                    self._forward(body, key)
                finally:
                    with proxy.lock:
                        proxy.forwarding -= 1

            def _forward(self, body: bytes, key: str) -> None:
                url = proxy.upstream + self.path.removeprefix("/v1")
                headers = {"content-type": "application/json"}
                try:
                    response = proxy.client.post(url, content=body, headers=headers)
                except httpx.HTTPError:  # the server is down: what a gateway says
                    return self._send(502, b'{"error": "upstream unreachable"}', {})
                if client_gone(self.connection):
                    with proxy.lock:
                        proxy.abandoned += 1
                    self.close_connection = True
                    return None
                self._send(response.status_code, response.content, response.headers)
                if response.status_code == 200:
                    with proxy.lock:
                        proxy.answered[key] += 1
                return None

            def _send(self, status: int, content: bytes, headers) -> None:
                self.send_response(status)
                for name in ("content-type", "retry-after", "server"):
                    if name in headers:
                        self.send_header(name, headers[name])
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def counts(self) -> dict[str, int]:
        """Requests received, answered (distinct and twice), faults injected."""
        return {
            "received": self.received,
            "answered": sum(self.answered.values()),
            "distinct_answered": len(self.answered),
            "answered_twice": sum(1 for c in self.answered.values() if c > 1),
            "abandoned": self.abandoned,
            **{f"injected_{k}": v for k, v in sorted(self.faults.items())},
        }

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


class Stub:
    """A tiny OpenAI-compatible server: model ``stub-model`` answers ``Red.`` under ``/ok/v1``;
    ``/auth/v1`` wants ``Bearer secret``; ``/nonjson/v1`` answers HTML; ``/empty/v1`` answers no
    choice; ``/down/v1`` answers 503 to every question; ``/strict/v1`` answers 422 to a field
    it does not know (``prompt_logprobs``), as ``transformers serve`` does; ``/closed/v1``
    returns prompt log-probabilities of a prompt that ends with the closed turn's
    ``<|im_end|>``, as a server ignoring ``continue_final_message`` would. Records the
    Authorization headers it saw."""

    MODEL = "stub-model"
    KEY = "secret-test-key-123"

    def __init__(self) -> None:
        self.seen_auth: list[str] = []
        self.bodies: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: object, kind: str = "application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> str | None:
                mode = self.path.split("/")[1]
                auth = self.headers.get("authorization", "")
                stub.seen_auth.append(auth)
                if mode == "auth" and auth != f"Bearer {Stub.KEY}":
                    self._reply(401, {"error": {"message": "invalid api key"}})
                    return None
                return mode

            def do_GET(self) -> None:
                if self._route() is not None:
                    models = {"object": "list", "data": [{"id": Stub.MODEL, "object": "model"}]}
                    self._reply(200, models)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                mode = self._route()
                if mode is None:
                    return
                stub.bodies.append(body)
                if mode == "nonjson":
                    return self._reply(200, b"<html>gateway</html>", "text/html")
                if mode == "empty":
                    return self._reply(200, {"choices": [], "usage": {}})
                if mode == "down":
                    return self._reply(503, {"error": {"message": "overloaded"}})
                if mode == "strict" and "prompt_logprobs" in body:
                    detail = [{"type": "extra_forbidden", "loc": ["body", "prompt_logprobs"]}]
                    return self._reply(422, {"detail": detail})
                message = {"role": "assistant", "content": "Red."}
                usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
                reply = {"choices": [{"index": 0, "message": message}], "usage": usage}
                if mode == "closed" and "prompt_logprobs" in body:
                    end = {"logprob": -0.1, "rank": 1, "decoded_token": "<|im_end|>"}
                    reply["prompt_logprobs"] = [None, {"7": end}]
                self._reply(200, reply)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def stored_answers(store: Path) -> int:
    """Rows in a response store (read-only; 0 before it exists)."""
    if not store.exists():
        return 0
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def sigkill_mid_run(proxy: FaultProxy, argv: list[str], store: Path, after: int) -> int:
    """Run ``argv`` (a colorbench run through ``proxy``), hold every request after the
    ``after``-th answer, SIGKILL the run once each answer delivered is in ``store``, then let
    the held requests find their client gone. Returns the answers stored at the kill."""
    proxy.hold_after = after
    victim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with proxy.lock:  # a consistent view: no request between its delivery and its count
            delivered, forwarding = sum(proxy.answered.values()), proxy.forwarding
        if delivered >= after and not forwarding and stored_answers(store) == delivered:
            break
        if victim.poll() is not None:
            raise RuntimeError(f"the run ended before the kill: {victim.stderr.read()!r}")
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = stored_answers(store)
    proxy.hold_after = None
    proxy.gate.set()
    time.sleep(0.5)  # the held requests find their client gone
    return killed_at


class VLLMStub:
    """vLLM's chat completions with prompt log-probabilities, from ``model`` + ``processor``.

    The JSON is vLLM's (vllm/entrypoints/openai/chat_completion/protocol.py,
    ``ChatCompletionResponse``: top-level ``prompt_logprobs: list[dict[int, Logprob] | None]``
    and ``prompt_token_ids`` with ``return_token_ids``; vllm/logprobs.py: ``Logprob`` is
    ``{logprob, rank, decoded_token}``, ``create_prompt_logprobs`` puts ``None`` for the first
    prompt token, ``append_logprobs_for_next_position`` the prompt token first with its rank,
    then the top-k with ranks 1..k; vllm/entrypoints/generate/base/serving.py
    ``clamp_prompt_logprobs``: -inf as -9999.0). The prompt is rendered as vLLM renders it:
    the processor's ``apply_chat_template`` with ``add_generation_prompt`` (default true) and
    ``continue_final_message`` (both true is a 400, as in ``check_generation_prompt``), image
    parts as ``{"type": "image"}``, no special tokens added (``add_special_tokens`` false).
    ``token_ids=False`` leaves out ``prompt_token_ids``, as vLLM releases before
    ``return_token_ids`` do; ``continue_turns=False`` closes every turn (a server that ignores
    ``continue_final_message``). One greedy token is generated (``max_tokens`` 1).
    """

    def __init__(
        self,
        model,
        processor,
        name: str = "tiny-vlm",
        token_ids: bool = True,
        continue_turns: bool = True,
    ) -> None:
        import torch

        self.model, self.processor, self.name = model.eval(), processor, name
        self.token_ids, self.continue_turns = token_ids, continue_turns
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply(200, {"object": "list", "data": [{"id": stub.name, "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with stub.lock:
                    stub.bodies.append(body)
                if body.get("continue_final_message") and body.get("add_generation_prompt"):
                    message = (
                        "Cannot set both `continue_final_message` and `add_generation_prompt` "
                        "to True."
                    )
                    return self._reply(400, {"error": {"message": message, "code": 400}})
                with stub.lock, torch.inference_mode():
                    return self._reply(200, stub.complete(body))

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def render(self, body: dict):
        """The model inputs of a request, as vLLM renders them."""
        import numpy as np
        import torch
        from PIL import Image

        messages, images = [], []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, list):
                parts = []
                for part in content:
                    if part["type"] == "image_url":
                        data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                        array = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                        images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
                        parts.append({"type": "image"})
                    else:
                        parts.append(part)
                content = parts
            messages.append({"role": message["role"], "content": content})
        text = self.processor.apply_chat_template(
            messages,
            add_generation_prompt=body.get("add_generation_prompt", True),
            continue_final_message=self.continue_turns
            and body.get("continue_final_message", False),
            tokenize=False,
        )
        return self.processor(
            text=[text], images=images or None, return_tensors="pt", add_special_tokens=False
        )

    def complete(self, body: dict) -> dict:
        import torch

        inputs = self.render(body)
        ids = inputs["input_ids"][0].tolist()
        logits = self.model(**inputs).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        top = body.get("prompt_logprobs")
        decode = self.processor.tokenizer.decode
        positions = None
        if top is not None:
            positions = [None]
            for p in range(1, len(ids)):
                row = logp[p - 1]
                token = ids[p]
                rank = int((row > row[token]).sum()) + 1
                entries = [(token, float(row[token]), rank)]
                values, best = row.topk(top) if top > 0 else (row[:0], row[:0].long())
                top_k = zip(values.tolist(), best.tolist(), strict=True)
                entries += [(t, v, r + 1) for r, (v, t) in enumerate(top_k)]
                positions.append(
                    {
                        str(t): {
                            "logprob": -9999.0 if v == float("-inf") else v,
                            "rank": r,
                            "decoded_token": decode([t]),
                        }
                        for t, v, r in entries
                    }
                )
        new = int(logits[-1].argmax())
        return {
            "id": f"chatcmpl-{len(self.bodies)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": decode([new])},
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": 1,
                "total_tokens": len(ids) + 1,
            },
            "prompt_logprobs": positions,
            "prompt_token_ids": ids if self.token_ids and body.get("return_token_ids") else None,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
