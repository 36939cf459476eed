"""Linear probes: closed-form ridge (equal to scikit-learn's Ridge), grouped CV for alpha, leak-free splits by game
with symmetry-aware deduplication, CLS activation capture, controls, R^2 standard errors and passthrough-free scores
(what a layer decodes beyond a linear copy of the board).

Typical use (one fixed probe set for every checkpoint, condition and seed):

    probe_set = make_domineering_probe_set(spec, tokens, targets, game_ids, test_fraction=0.2, seed=0)
    records = probe_all_layers(model, probe_set, condition="large-baseline", seed=0, step=1000)
"""

from modinterp.probes.capture import FINAL_LN, capture_cls_residuals, layer_hook_names, model_layers
from modinterp.probes.controls import (
    CONTROL_RECORD_KEYS,
    FrozenScore,
    affine_recalibration,
    frozen_control,
    frozen_scores,
    init_control,
    permute_targets,
    recalibrated_frozen_scores,
    shuffled_control,
)
from modinterp.probes.cv import (
    DEFAULT_ALPHAS,
    AlphaSelection,
    at_grid_edge,
    count_at_grid_edge,
    fit_probe_grouped_cv,
    select_alpha_grouped_cv,
)
from modinterp.probes.layers import PROBE_RECORD_KEYS, LayerProbeFit, fit_all_layers, fit_layer, probe_all_layers
from modinterp.probes.passthrough import (
    PASSTHROUGH_RECORD_KEYS,
    BoardReference,
    PassthroughScores,
    board_reference,
    domineering_board_reference,
    input_one_hot,
    passthrough_all_layers,
    passthrough_scores,
    scrambled_board_concept,
)
from modinterp.probes.probe_set import ProbeSet, make_domineering_probe_set, make_probe_set
from modinterp.probes.ridge import RidgeProbe, r2_per_target, r2_pooled, r2_uniform
from modinterp.probes.sizing import TARGET_STANDARD_ERROR, R2Sizing, bootstrap_r2_by_game, probe_standard_error, r2_standard_error
from modinterp.probes.splits import (
    canonical_boards,
    canonical_keys,
    domineering_transform,
    drop_symmetric_duplicates,
    grid_transform,
    group_kfold,
    split_by_game,
    symmetric_duplicates,
)

__all__ = [
    "RidgeProbe", "r2_per_target", "r2_uniform", "r2_pooled",
    "DEFAULT_ALPHAS", "AlphaSelection", "select_alpha_grouped_cv", "fit_probe_grouped_cv", "at_grid_edge",
    "count_at_grid_edge",
    "split_by_game", "group_kfold", "canonical_boards", "canonical_keys", "symmetric_duplicates",
    "drop_symmetric_duplicates", "grid_transform", "domineering_transform",
    "ProbeSet", "make_probe_set", "make_domineering_probe_set",
    "FINAL_LN", "layer_hook_names", "model_layers", "capture_cls_residuals",
    "PROBE_RECORD_KEYS", "LayerProbeFit", "fit_layer", "fit_all_layers", "probe_all_layers",
    "CONTROL_RECORD_KEYS", "permute_targets", "init_control", "shuffled_control", "frozen_scores", "frozen_control",
    "FrozenScore", "affine_recalibration", "recalibrated_frozen_scores",
    "PASSTHROUGH_RECORD_KEYS", "BoardReference", "PassthroughScores", "input_one_hot", "board_reference",
    "domineering_board_reference", "scrambled_board_concept", "passthrough_scores", "passthrough_all_layers",
    "TARGET_STANDARD_ERROR", "R2Sizing", "bootstrap_r2_by_game", "r2_standard_error", "probe_standard_error",
]
