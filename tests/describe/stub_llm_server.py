"""A local OpenAI-compatible stub server (http.server in a thread) that answers as vLLM, llama.cpp or Ollama do.

`flavor` sets how the server treats `response_format`: vLLM and Ollama accept the standard json_schema;
llama.cpp's server answers HTTP 500 to it and accepts only {"type": "json_object", "schema": ...}. `script` is
a list of behaviours consumed one per request (then `default`): "ok", "malformed", "fenced", "slow", "500",
"predicate" (an expression over the first two candidates), "bad_predicate" (code, which must be refused),
"not_json" (HTTP 200 with an HTML page, as a proxy or a web server at the wrong URL answers).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOT_JSON_PAGE = "<html><body>Welcome to nginx!</body></html>"
FINGERPRINT = {"vllm": None, "llamacpp": "b1-llamacpp", "ollama": "fp_ollama"}


class StubLLM:
    def __init__(self, flavor: str = "vllm", script: list[str] | None = None, default: str = "ok", delay_s: float = 0.0, known_model: str = "stub-model"):
        self.flavor = flavor
        self.script = list(script or [])
        self.default = default
        self.delay_s = delay_s
        self.known_model = known_model
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _next_behaviour(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def _answer(self, body: dict) -> tuple[int, dict]:
        if body.get("model") != self.known_model:
            return 404, {"error": {"message": f"model '{body.get('model')}' not found", "type": "not_found_error"}}
        fmt = body.get("response_format") or {}
        if self.flavor == "llamacpp" and fmt.get("type") == "json_schema":
            return 500, {"error": {"code": 500, "message": "Unrecognized response_format type: json_schema", "type": "server_error"}}
        schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else fmt.get("schema")
        behaviour = self._next_behaviour()
        if behaviour == "slow":
            time.sleep(5.0)
        if behaviour == "not_json":
            return 200, NOT_JSON_PAGE
        if behaviour == "500":
            return 500, {"error": {"message": "internal error", "type": "server_error"}}
        candidates = schema["properties"]["concept"]["enum"] if schema else ["unknown"]
        answer = {"description": f"Counts {candidates[0]} on the board and fires when it is large.", "concept": candidates[0], "predicate": "", "confidence": 0.75}
        if behaviour in ("predicate", "bad_predicate"):
            expression = f"{candidates[0]} - {candidates[1]} > 0" if behaviour == "predicate" else "__import__('os').system('x')"
            answer.update(concept="predicate", predicate=expression)
        content = json.dumps(answer)
        if behaviour == "malformed":
            content = content[: len(content) // 2]
        elif behaviour == "fenced" or self.flavor == "ollama":
            content = "```json\n" + content + "\n```"
        return 200, {
            "id": "chatcmpl-stub", "object": "chat.completion", "created": 1700000000, "model": body["model"],
            "system_fingerprint": FINGERPRINT[self.flavor],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        }

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with stub._lock:
                    stub.requests.append(body)
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    if stub.delay_s:
                        time.sleep(stub.delay_s)
                    status, payload = stub._answer(body)
                    is_page = isinstance(payload, str)
                    data = payload.encode() if is_page else json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html" if is_page else "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    try:
                        self.wfile.write(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        return Handler
