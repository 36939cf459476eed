"""LLMDescriber against a local OpenAI-compatible stub answering as vLLM, llama.cpp and Ollama."""

import socket
from pathlib import Path

import numpy as np
import pytest

from modinterp.describe.describers import LLMDescriber
from modinterp.describe.describers.llm import _instructions, system_prompt, to_prompt_text
from modinterp.describe.llm import LLMEndpointError, LLMSettings
from modinterp.describe.evidence import Example, ModuleEvidence, concept_correlations
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects.board import BOARD_WORDS

from stub_llm_server import StubLLM

SECRET = "sk-test-9f8e7d6c5b4a-never-write-me"


def _table_and_evidence(n_modules=3, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(200, 4))
    table = ConceptTable(["alpha", "beta", "gamma", "delta"], ["a thing", "b thing", "c thing", "d thing"], values)
    evidences = []
    for m in range(n_modules):
        act = values[:, m % 4] + 0.1 * rng.normal(size=200)
        evidences.append(ModuleEvidence(f"M{m}", "toy units", act, concept_correlations(act, table)))
    return table, evidences


def _settings(stub, tmp_path, **kw):
    base = dict(base_url=stub.base_url, model="stub-model", cache_dir=tmp_path / "cache", backoff_s=0.01, timeout_s=3.0, max_retries=2, concurrency=2)
    base.update(kw)
    return LLMSettings(**base)


def test_vllm_style_server_describes_every_module_with_json_schema(tmp_path):
    table, evs = _table_and_evidence()
    with StubLLM("vllm") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert [d.concept for d in descs] == [ev.correlations[0][0] for ev in evs]
    assert all(r["response_format"]["type"] == "json_schema" for r in stub.requests)
    assert report.n_described == 3 and not report.parse_failures and not report.client["fallback_to_json_object"]


def test_llamacpp_style_500_on_json_schema_falls_back_to_json_object(tmp_path):
    table, evs = _table_and_evidence()
    with StubLLM("llamacpp") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path, concurrency=1), BOARD_WORDS).describe(evs, table)
    assert len(descs) == 3 and report.client["fallback_to_json_object"]
    kinds = [r["response_format"]["type"] for r in stub.requests]
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]
    assert stub.requests[1]["response_format"]["schema"]["properties"]["concept"]["enum"][-1] == "predicate"


def test_ollama_style_fenced_json_is_parsed(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("ollama") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert len(descs) == 1 and descs[0].text.startswith("Counts")


def test_malformed_json_is_counted_as_a_parse_failure_not_a_description(tmp_path):
    table, evs = _table_and_evidence()
    with StubLLM("vllm", script=["malformed"]) as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path, concurrency=1), BOARD_WORDS).describe(evs, table)
    assert [d.module for d in descs] == ["M1", "M2"]
    assert list(report.parse_failures) == ["M0"] and "not valid JSON" in report.parse_failures["M0"]


def test_a_timeout_is_retried_then_counted_as_a_request_failure(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("vllm", default="slow") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path, timeout_s=0.3, max_retries=1), BOARD_WORDS).describe(evs, table)
    assert descs == [] and "timed out" in report.request_failures["M0"]
    assert report.client["retries"] == 1 and len(stub.requests) == 2


def test_a_transient_500_is_retried_with_backoff(tmp_path):
    table, evs = _table_and_evidence(1)
    # llama.cpp flavor: the first 500 (json_schema) triggers the fallback; then one transient 500, then success
    with StubLLM("llamacpp", script=["500"]) as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert len(descs) == 1 and report.client["retries"] == 1 and len(stub.requests) == 3


def test_a_persistent_500_becomes_a_request_failure(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("llamacpp", default="500") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path, max_retries=2), BOARD_WORDS).describe(evs, table)
    assert descs == [] and "HTTP 500" in report.request_failures["M0"]


def test_cached_rerun_makes_zero_requests_and_gives_the_same_descriptions(tmp_path):
    table, evs = _table_and_evidence()
    with StubLLM("vllm") as stub:
        first, _ = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
        n = len(stub.requests)
        second, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert n == 3 and len(stub.requests) == 3
    assert report.client["requests"] == 0 and report.client["cache_hits"] == 3
    assert [d.text for d in first] == [d.text for d in second]


def test_the_api_key_is_sent_but_written_to_no_file(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MODINTERP_LLM_API_KEY", SECRET)
    table, evs = _table_and_evidence()
    with StubLLM("llamacpp") as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert {k.lower(): v for k, v in stub.headers[0].items()}["authorization"] == f"Bearer {SECRET}"
    written = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert written, "the cache should have written files"
    assert all(SECRET.encode() not in p.read_bytes() for p in written)
    assert SECRET not in caplog.text and SECRET not in str(report.to_json())


def test_concurrency_limit_bounds_requests_in_flight(tmp_path):
    table, evs = _table_and_evidence(6)
    with StubLLM("vllm", delay_s=0.2) as stub:
        LLMDescriber(_settings(stub, tmp_path, concurrency=2), BOARD_WORDS).describe(evs, table)
    assert stub.max_in_flight == 2


def test_unreachable_endpoint_raises_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    table, evs = _table_and_evidence(1)
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", backoff_s=0.01, max_retries=1, cache_dir=tmp_path)
    with pytest.raises(LLMEndpointError, match=f"cannot reach the LLM endpoint at http://127.0.0.1:{port}/v1"):
        LLMDescriber(settings, BOARD_WORDS).describe(evs, table)


def test_unknown_model_raises_a_clear_error(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("vllm") as stub:
        with pytest.raises(LLMEndpointError, match="HTTP 404 for model 'nope'"):
            LLMDescriber(_settings(stub, tmp_path, model="nope"), BOARD_WORDS).describe(evs, table)


def test_a_predicate_answer_becomes_an_executable_expression(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("vllm", script=["predicate"]) as stub:
        descs, _ = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    c = evs[0].candidates()
    assert descs[0].concept == "predicate" and descs[0].predicate.expression == f"{c[0]} - {c[1]} > 0"
    expected = (table.column(c[0]) - table.column(c[1]) > 0).astype(float)
    assert np.array_equal(descs[0].predicate.evaluate(table), expected)


def test_a_predicate_with_code_is_a_parse_failure(tmp_path):
    table, evs = _table_and_evidence(1)
    with StubLLM("vllm", script=["bad_predicate"]) as stub:
        descs, report = LLMDescriber(_settings(stub, tmp_path), BOARD_WORDS).describe(evs, table)
    assert descs == [] and "predicate" in report.parse_failures["M0"]


def test_board_prompt_is_the_text_cached_answers_were_keyed_on():
    """The subject's words rebuild, character for character, the prompt of earlier runs (their cache keys)."""
    assert system_prompt(BOARD_WORDS) == (
        "You are an interpretability researcher. A neural network plays Domineering, a board game in which the "
        "vertical player places 2x1 dominoes and the horizontal player 1x2 dominoes; whoever cannot move loses. "
        "You are shown evidence about one module (a group of neurons) of the network. Say in one sentence what the "
        "module computes, and name the board concept that explains its activation best. Answer with JSON only.")
    table, evidences = _table_and_evidence(1)
    evidences[0].examples = [Example("..\n#.", 1.0, "top")]
    text = to_prompt_text(evidences[0], table, BOARD_WORDS)
    assert "Correlation of the module's activation with board concepts:" in text
    assert "Example boards ('#' occupied, '.' empty) with the activation on a 0-10 scale:" in text
    assert "\"mobility_vertical - mobility_horizontal > 2\", when concept" in _instructions(["alpha"], BOARD_WORDS)
