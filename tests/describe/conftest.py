import sys
from pathlib import Path

import pytest

from modinterp.atomic import atomic_write_json
from modinterp.models import build_model
from modinterp.train.checkpoint import save_tensors

sys.path.insert(0, str(Path(__file__).parent))  # lets tests import the stub server helper


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory in the trainer's format holding an untrained smoke model for a 4x4 board."""
    root = tmp_path_factory.mktemp("run")
    model = build_model("smoke", 4, 4, seed=0)
    save_tensors(root / "final" / "model.safetensors", model.state_dict())
    atomic_write_json(root / "final" / "config.json", {"model": model.config.to_dict()})
    return root
