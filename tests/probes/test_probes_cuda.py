"""On CUDA (skipped without a GPU): capture under bf16 autocast and float64 ridge agree with the CPU results."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from modinterp.probes.capture import capture_cls_residuals
from modinterp.probes.layers import probe_all_layers
from modinterp.probes.probe_set import make_domineering_probe_set
from modinterp.probes.ridge import RidgeProbe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_ridge_on_cuda_tensors_equals_sklearn():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(500, 32)), rng.normal(size=(500, 4))
    probe = RidgeProbe(alpha=0.3).fit(torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda())
    assert np.abs(probe.coef_ - Ridge(alpha=0.3).fit(X, Y).coef_).max() < 1e-9


def test_cuda_capture_under_bf16_autocast_is_close_to_cpu(tiny_model, positions):
    tokens = torch.as_tensor(positions[0][:256])
    cpu = capture_cls_residuals(tiny_model, tokens)
    gpu = capture_cls_residuals(tiny_model.cuda(), tokens, batch_size=100)
    for layer in cpu:
        assert gpu[layer].device.type == "cpu" and gpu[layer].dtype == torch.float32
        scale = cpu[layer].abs().max()
        assert (gpu[layer] - cpu[layer]).abs().max() < 0.05 * scale  # bf16 has ~3 significant digits


def test_cuda_probe_records_match_cpu(tiny_model, positions, spec):
    tokens, _, targets, games = positions
    probe_set = make_domineering_probe_set(spec, tokens, targets, games, seed=0)
    cpu = probe_all_layers(tiny_model, probe_set, condition="c", seed=0, step=0)
    gpu = probe_all_layers(tiny_model.cuda(), probe_set, condition="c", seed=0, step=0)
    for a, b in zip(cpu, gpu, strict=True):
        assert a["layer"] == b["layer"] and abs(a["r2"] - b["r2"]) < 0.02
