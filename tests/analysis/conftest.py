"""Fixtures for the analysis tests."""

from __future__ import annotations

import json

import pytest
from analysis_fixtures import make_results


@pytest.fixture
def results_path(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(make_results(noise=0.005)))
    return path
