"""One growth-study probe step, timed: every layer's passthrough-free fits for several concepts, fitted one target
at a time with explicit predictions (the way before) against fitted together in Gram form (`passthrough_all_concepts`).

    python bench/probe_fits.py [--games 10000] [--per-game 6] [--repeats 3] [--json OUT]

The probe set is drawn as the growth study draws it (validation games, positions from ply 4, split by game) from
`--games` uniformly random 8x8 games; the activations are a randomly initialised cpu-large model widened as the
regime preset (d_model 64, 4 layers: 5 layers probed); the concepts are the regime preset's three. Both paths use
the same alpha grid and folds; the script checks that their R^2 agree to 1e-9 and their alphas exactly, then prints
the best-of-`--repeats` wall time of each and their ratio. One thread, so the ratio is the algorithm's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from modinterp.data.positions import PositionConfig, build_positions, sample_positions  # noqa: E402
from modinterp.data.store import generate_store  # noqa: E402
from modinterp.games import domineering as dom  # noqa: E402
from modinterp.games.concepts import compute_concept  # noqa: E402
from modinterp.models import BoardTransformer, TransformerConfig  # noqa: E402
from modinterp.probes import DEFAULT_ALPHAS, capture_cls_residuals, make_domineering_probe_set  # noqa: E402
from modinterp.probes.cv import AlphaSelection, fold_r2_explicit  # noqa: E402
from modinterp.probes.passthrough import domineering_board_reference, passthrough_all_concepts  # noqa: E402
from modinterp.probes.ridge import RidgeProbe  # noqa: E402
from modinterp.probes.splits import group_kfold  # noqa: E402

CONCEPTS = (("sector_move_difference", {"sector": (2, 2)}), ("safe_moves", {}), ("sector_mobility", {"sector": (2, 2)}))


def one_at_a_time(X: torch.Tensor, target, alphas) -> tuple[float, float]:
    """The former path: one target, its own eigendecomposition per fold, every alpha's predictions formed."""
    grid = torch.as_tensor(alphas, dtype=torch.float64)
    X_train, Y_train = X[target.train_index], torch.as_tensor(target.y_train)
    Y_train = Y_train[:, None] if Y_train.ndim == 1 else Y_train
    folds = group_kfold(np.asarray(target.train_games), 5)
    scores = torch.stack([fold_r2_explicit(X_train, Y_train, tr, te, grid, False).mean(-1) for tr, te in folds]).mean(0)
    alpha = float(grid[int(torch.argmax(scores))])
    return RidgeProbe(alpha).fit(X_train, Y_train).score(X[target.test_index], target.y_test), alpha


def former_step(activations: dict, references: list, alphas) -> dict:
    """Every (concept, layer, fit) of one step, the former way: (R^2, alpha) each."""
    out = {}
    for c, (concept_set, ref) in enumerate(references):
        for layer, acts in activations.items():
            X = torch.as_tensor(acts).double()
            for name, target, features in (("raw", concept_set, X), ("linear_part", ref.linear_part, X),
                                           ("nonlinear", ref.nonlinear_part, X),
                                           ("control_nonlinear", ref.control_nonlinear_part, X),
                                           ("board_layer", concept_set, torch.cat([ref.features, X], dim=1))):
                out[(c, layer, name)] = one_at_a_time(features, target, alphas)
    return out


def shared_step(activations: dict, references: list, alphas) -> dict:
    every = passthrough_all_concepts(activations, references, alphas)
    keys = {"raw": "r2", "linear_part": "r2_linear_part", "nonlinear": "r2_nonlinear",
            "control_nonlinear": "r2_control_nonlinear", "board_layer": "r2_board_layer"}
    return {(c, layer, name): (getattr(scores, key), scores.selections[name].alpha)
            for c, by_layer in enumerate(every) for layer, scores in by_layer.items() for name, key in keys.items()}


def best_time(function, repeats: int) -> tuple[float, dict]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=10000)
    parser.add_argument("--per-game", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("runs/bench/probe_fits.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = dom.BoardSpec(8, 8)
    store = generate_store(spec, args.games, 0, seed=0)
    config = PositionConfig(positions_per_game=args.per_game, min_ply=4, augment=False)
    games = store.split_indices("val") if len(store.split_indices("val")) >= 200 else np.arange(store.n_games)
    game_ids, plies, syms = sample_positions(store.lengths, games, args.per_game, 4, np.random.default_rng([0, 3]), False)
    batch = build_positions(spec, store.moves, store.winners, store.first, game_ids, plies, syms, config)
    boards = batch.tokens[:, : spec.n_cells].numpy().astype(np.uint8)
    base = make_domineering_probe_set(spec, batch.tokens, np.zeros((len(boards), 1)), batch.game_ids.numpy(),
                                      test_fraction=0.5, seed=0)
    base_boards = base.tokens[:, : spec.n_cells].numpy().astype(np.uint8)
    references = []
    for name, kwargs in CONCEPTS:
        concept_set = base.with_targets(compute_concept(name, spec, base_boards, **kwargs).astype(np.float64))
        references.append((concept_set, domineering_board_reference(spec, concept_set, name, control_seed=0, **kwargs)))
    model = BoardTransformer(TransformerConfig(rows=8, cols=8, d_model=64, n_layers=4, n_heads=4, d_head=16, d_mlp=256,
                                               n_concepts=16), seed=0).eval()
    activations = capture_cls_residuals(model, base.tokens)
    t_former, former = best_time(lambda: former_step(activations, references, DEFAULT_ALPHAS), args.repeats)
    t_shared, shared = best_time(lambda: shared_step(activations, references, DEFAULT_ALPHAS), args.repeats)
    worst = max(abs(former[k][0] - shared[k][0]) for k in former)
    alphas_equal = all(former[k][1] == shared[k][1] for k in former)
    if worst > 1e-9 or not alphas_equal:
        raise SystemExit(f"the two paths disagree: largest R^2 difference {worst:.2e}, alphas equal: {alphas_equal}")
    result = {"n_train": base.n_train, "n_test": base.n_test, "layers": len(activations), "concepts": len(CONCEPTS),
              "fits_per_step": len(former), "former_s": round(t_former, 3), "shared_s": round(t_shared, 3),
              "speedup": round(t_former / t_shared, 2), "largest_r2_difference": worst, "alphas_equal": alphas_equal}
    print(f"one probe step: {result['fits_per_step']} fits ({len(CONCEPTS)} concepts x {len(activations)} layers x 5), "
          f"{base.n_train} train / {base.n_test} test positions")
    print(f"  one target at a time, explicit predictions: {t_former:.2f} s")
    print(f"  fitted together, Gram form:                  {t_shared:.2f} s  ({t_former / t_shared:.1f}x faster; "
          f"R^2 equal to {worst:.1e}, alphas equal)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
