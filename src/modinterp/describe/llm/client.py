"""A cached, retrying, concurrency-limited JSON chat client for any OpenAI-compatible endpoint.

Works with OpenAI, `vllm serve`, the llama.cpp server (llama-cpp-python) and Ollama's `/v1`: only
`/v1/chat/completions` is used, logprobs are never needed. Structured output is requested with the standard
`response_format={"type": "json_schema", ...}`; a server that answers 400/500 to that (llama.cpp does) is
switched once to its extension `{"type": "json_object", "schema": ...}`. The API key is read from an
environment variable at call time and never logged, cached or written.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modinterp.describe.llm.cache import ResponseCache, request_key
from modinterp.errors import ModinterpError

log = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "MODINTERP_LLM_API_KEY"
_MODES = ("json_schema", "json_object")


class LLMEndpointError(ModinterpError, RuntimeError):
    """The endpoint cannot be used at all (unreachable, wrong model, rejected key); the whole run stops."""


@dataclass
class LLMSettings:
    """Where and how to ask. `api_key_env` names the environment variable holding the key (may be unset
    for local servers). `extra_body` carries server-specific sampling options such as llama.cpp's
    `repeat_penalty`."""

    base_url: str
    model: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = 0
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    concurrency: int = 4
    extra_body: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | Path | None = None
    prompt_examples: int = 6  # example boards shown in the prompt (2 suits SmolLM2-135M, measured)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"llm base_url={self.base_url!r}; expected an http(s) URL such as http://127.0.0.1:8080/v1")
        if not self.model:
            raise ValueError("llm model name is empty; pass the name the server serves (e.g. --llm-model smollm2)")
        if self.concurrency < 1 or self.max_retries < 0:
            raise ValueError(f"llm concurrency={self.concurrency}, max_retries={self.max_retries}; expected >= 1 and >= 0")

    def sampling_params(self) -> dict[str, Any]:
        """The parameters that change an answer (part of the cache key); never contains the key or URL."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed, "extra_body": dict(sorted(self.extra_body.items()))}


@dataclass
class ChatResult:
    """One request's outcome: `content` (raw text) or `error`; `from_cache` tells whether the network was used."""

    content: str | None
    from_cache: bool
    error: str | None = None
    mode: str | None = None


@dataclass
class ClientStats:
    """Counters of one client's requests, cache hits, retries and failures."""
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    request_failures: int = 0
    fallback_to_json_object: bool = False

    def to_json(self) -> dict[str, Any]:
        """The counters as written to descriptions.json (report.client)."""
        return dict(self.__dict__)


def parse_extra_options(items: list[str]) -> dict[str, float]:
    """`["repeat_penalty=1.3"]` -> `{"repeat_penalty": 1.3}`: server-specific sampling options for `extra_body`."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            options[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise ValueError(f"llm extra option {item!r}: expected KEY=NUMBER such as repeat_penalty=1.3")
    return options


def _openai():
    """The openai package, imported on first use: importing it takes 1.4-1.9 s (measured on the 2-core dev
    machine), which offline describing and every other command would otherwise pay."""
    import openai

    return openai


def _status_code(err: Exception) -> int | None:
    """The HTTP status of an openai error, or None."""
    return getattr(err, "status_code", None)


def _excerpt(body: Any, limit: int = 80) -> str:
    """The start of an unexpected response body, on one line, for an error message."""
    text = " ".join(str(body).split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


class JSONChatClient:
    """`complete(messages, schema)` -> ChatResult; `complete_many` runs up to `concurrency` at once."""

    def __init__(self, settings: LLMSettings, transport: Any | None = None) -> None:
        self.settings = settings
        self.cache = ResponseCache(settings.cache_dir) if settings.cache_dir is not None else None
        self.stats = ClientStats()
        self._transport = transport
        self._lock = threading.Lock()
        self._mode = "json_schema"

    # -- transport ------------------------------------------------------------------------------------
    def _client(self):
        """The transport (an openai.OpenAI client unless one was injected), created once."""
        with self._lock:
            if self._transport is None:
                key = os.environ.get(self.settings.api_key_env) or "not-needed"  # local servers accept any key
                self._transport = _openai().OpenAI(base_url=self.settings.base_url, api_key=key, timeout=self.settings.timeout_s,
                                                max_retries=0)  # retries are ours (with the json_object fallback)
            return self._transport

    def _response_format(self, schema: dict[str, Any], mode: str) -> dict[str, Any]:
        """The structured-output request for `mode` (json_schema, or llama.cpp's json_object + schema)."""
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        return {"type": "json_object", "schema": schema}  # llama.cpp's extension; OpenAI ignores `schema`

    def _send(self, messages: list[dict[str, str]], schema: dict[str, Any], mode: str) -> str:
        """One chat completion request; returns the answer text ('' when empty)."""
        s = self.settings
        with self._lock:
            self.stats.requests += 1
        response = self._client().chat.completions.create(
            model=s.model, messages=messages, temperature=s.temperature, max_tokens=s.max_tokens, seed=s.seed,
            response_format=self._response_format(schema, mode), extra_body=s.extra_body or None,
        )
        if not hasattr(response, "choices"):  # the openai client returns the body as is when it is not JSON
            raise LLMEndpointError(
                f"the LLM endpoint at {s.base_url} answered HTTP 200 with something other than a chat completion "
                f"({_excerpt(response)}); check --llm-base-url (an OpenAI-compatible server's URL ends in /v1)")
        content = response.choices[0].message.content if response.choices else None
        return content or ""

    # -- one request with fallback and retries -----------------------------------------------------------
    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatResult:
        """The answer to one request: from the cache, or from the endpoint (then cached)."""
        key = request_key(self.settings.model, messages, {**self.settings.sampling_params(), "schema": schema})
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            with self._lock:
                self.stats.cache_hits += 1
            return ChatResult(hit["content"], from_cache=True, mode=hit.get("mode"))
        result = self._complete_uncached(messages, schema)
        if result.content is not None and self.cache is not None:
            self.cache.put(key, {"model": self.settings.model, "params": self.settings.sampling_params(), "mode": result.mode, "content": result.content})
        return result

    def _complete_uncached(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatResult:
        """Ask the endpoint, falling back to json_object once and retrying with backoff."""
        openai = _openai()
        s = self.settings
        attempt = 0
        while True:
            mode = self._mode
            try:
                return ChatResult(self._send(messages, schema, mode), from_cache=False, mode=mode)
            except openai.APIConnectionError as err:  # includes APITimeoutError
                timeout = isinstance(err, openai.APITimeoutError)
                if attempt >= s.max_retries:
                    if timeout:
                        return self._failure(f"timed out after {s.timeout_s:g}s ({attempt + 1} attempts)")
                    raise LLMEndpointError(
                        f"cannot reach the LLM endpoint at {s.base_url} after {attempt + 1} attempts ({type(err).__name__}); "
                        "start the server (e.g. `modinterp llm serve`) or fix --llm-base-url"
                    ) from None
            except openai.APIStatusError as err:
                code = _status_code(err)
                if mode == "json_schema" and code in (400, 422, 500):
                    self._switch_to_json_object(code)
                    continue
                if code in (401, 403, 404):
                    raise LLMEndpointError(
                        f"the LLM endpoint at {s.base_url} answered HTTP {code} for model {s.model!r}; check the model name "
                        f"and the key in ${s.api_key_env}"
                    ) from None
                if code is not None and code < 500 and code != 429:
                    return self._failure(f"HTTP {code}: request rejected")
                if attempt >= s.max_retries:
                    return self._failure(f"HTTP {code} after {attempt + 1} attempts")
            attempt += 1
            with self._lock:
                self.stats.retries += 1
            time.sleep(s.backoff_s * 2 ** (attempt - 1))  # exponential backoff, deterministic

    def _switch_to_json_object(self, code: int | None) -> None:
        """Use json_object + schema for the rest of the run (the server refused json_schema)."""
        with self._lock:
            if self._mode != "json_object":
                log.warning("endpoint answered HTTP %s to response_format json_schema; falling back to json_object + schema", code)
                self._mode = "json_object"
                self.stats.fallback_to_json_object = True

    def _failure(self, reason: str) -> ChatResult:
        """Count a request failure and return it as a result with `reason`."""
        with self._lock:
            self.stats.request_failures += 1
        return ChatResult(None, from_cache=False, error=reason, mode=self._mode)

    def complete_many(self, requests: list[tuple[list[dict[str, str]], dict[str, Any]]]) -> list[ChatResult]:
        """Run requests with at most `concurrency` in flight; results keep the input order."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(requests))) as pool:
            return list(pool.map(lambda r: self.complete(*r), requests))
