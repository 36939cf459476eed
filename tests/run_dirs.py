"""A trained-run folder for `modinterp modules` tests: the model's weights and config where `modinterp train` puts them."""

import json

from modinterp.train.checkpoint import save_tensors


def saved_run(tmp_path, model):
    """tmp_path/run with final/model.safetensors and final/config.json of `model`; returns the run folder."""
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    save_tensors(final / "model.safetensors", model.state_dict())
    (final / "config.json").write_text(json.dumps({"model": model.config.to_dict()}))
    return tmp_path / "run"
