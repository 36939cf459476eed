"""CLS activation capture: the right hooks, last token, batch-size invariant, no grad, mode restored."""

from __future__ import annotations

import pytest
import torch

from modinterp.probes.capture import capture_cls_residuals, layer_hook_names, model_layers


def test_layer_labels_are_block_indices_then_final_ln(tiny_model):
    assert model_layers(tiny_model) == ["0", "1", "final_ln"]
    assert layer_hook_names(2) == {"0": "blocks.0.hook_resid_post", "1": "blocks.1.hook_resid_post",
                                   "final_ln": "ln_final.hook_normalized"}


def test_capture_returns_the_cls_position_of_each_hook(tiny_model, positions):
    tokens = torch.as_tensor(positions[0][:40])
    captured = capture_cls_residuals(tiny_model, tokens, batch_size=1000)
    _, cache = tiny_model.run_with_cache(tokens)  # with grad enabled, so kernels may differ in the last bits
    for layer, name in layer_hook_names(2).items():
        torch.testing.assert_close(captured[layer], cache[name][:, -1], rtol=1e-5, atol=1e-6)


def test_capture_does_not_depend_on_batch_size(tiny_model, positions):
    tokens = torch.as_tensor(positions[0][:50])
    whole = capture_cls_residuals(tiny_model, tokens, batch_size=50)
    pieces = capture_cls_residuals(tiny_model, tokens, batch_size=7)
    for layer in whole:
        torch.testing.assert_close(pieces[layer], whole[layer], rtol=1e-5, atol=1e-6)


def test_capture_keeps_no_graph_and_restores_training_mode(tiny_model, positions):
    tiny_model.train()
    captured = capture_cls_residuals(tiny_model, torch.as_tensor(positions[0][:8]), layers=["1"])
    assert list(captured) == ["1"] and not captured["1"].requires_grad
    assert captured["1"].dtype == torch.float32 and captured["1"].shape == (8, 16)
    assert tiny_model.training


def test_unknown_layer_is_rejected_with_the_valid_labels(tiny_model, positions):
    with pytest.raises(KeyError, match="final_ln"):
        capture_cls_residuals(tiny_model, torch.as_tensor(positions[0][:4]), layers=["5"])
