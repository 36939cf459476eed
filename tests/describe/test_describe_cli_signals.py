"""`modinterp describe` against endpoints that misbehave: one error line naming the endpoint, exit codes with counts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from modinterp.cli import app

from stub_llm_server import StubLLM


def _describe(run_dir, tmp_path, stub):
    return CliRunner().invoke(app, ["describe", str(run_dir), "--partition", "layers", "--n-games", "12", "--out",
                                    str(tmp_path / "o"), "--llm-base-url", stub.base_url, "--llm-model", "stub-model",
                                    "--llm-cache", str(tmp_path / "cache")])


def test_an_endpoint_answering_200_with_a_web_page_ends_in_one_line_naming_it(run_dir, tmp_path):
    with StubLLM("vllm", default="not_json") as stub:
        result = _describe(run_dir, tmp_path, stub)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and stub.base_url in lines[0] and "Welcome to nginx!" in lines[0]
    assert "--llm-base-url" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "o" / "descriptions.json").exists()


def test_describe_exits_non_zero_with_the_count_when_the_llm_described_no_module(run_dir, tmp_path):
    with StubLLM("vllm", default="malformed") as stub:
        result = _describe(run_dir, tmp_path, stub)
    assert result.exit_code == 1, result.output
    assert "error: llm:stub-model described 0 of 2 modules" in result.output
    saved = json.loads((tmp_path / "o" / "descriptions.json").read_text())  # what was described is still written
    assert saved["describers"]["llm:stub-model"]["report"]["n_described"] == 0
    assert "error: concept" not in result.output  # the offline describer described both


def test_describe_exits_non_zero_when_one_module_of_two_was_not_described(run_dir, tmp_path):
    with StubLLM("vllm", script=["malformed"], default="ok") as stub:
        result = CliRunner().invoke(app, ["describe", str(run_dir), "--partition", "layers", "--n-games", "12", "--out",
                                          str(tmp_path / "o"), "--llm-base-url", stub.base_url, "--llm-model", "stub-model",
                                          "--llm-cache", str(tmp_path / "cache"), "--llm-concurrency", "1"])
    assert result.exit_code == 1, result.output
    assert "error: llm:stub-model described 1 of 2 modules" in result.output
