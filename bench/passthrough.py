"""Raw probe R^2 beside the passthrough-free measures, per layer of trained models, on one fixed probe set.

    python bench/passthrough.py --games runs/games/8x8.npz --run runs/smoke-aux [--run runs/smoke-noaux ...]
        [--concept sector_move_difference --concept safe_moves ...] [--max-games 400] [--per-game 16] [--json OUT]

Each --run is a training run directory (final/model.safetensors + final/config.json, from `modinterp train`). The
probe set is drawn from the store's validation games as the growth study draws it (positions from ply 4 on, no
augmentation, split by game, symmetric duplicates dropped). For every concept, run and layer it prints raw R^2,
the board-only reference, the gain of board + layer, R^2 of the concept's linear and nonlinear parts, the
scrambled-board control and the selectivity (`modinterp.probes.passthrough`), plus a randomly initialised model
of the same config as the first run (`init`) and the count of CV fits whose alpha sat at the grid's edge.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from modinterp.data.positions import PositionConfig, build_positions, sample_positions  # noqa: E402
from modinterp.data.store import GameStore  # noqa: E402
from modinterp.games.concepts import CONCEPTS, DEFAULT_SECTOR  # noqa: E402
from modinterp.models import BoardTransformer, TransformerConfig  # noqa: E402
from modinterp.probes import DEFAULT_ALPHAS, capture_cls_residuals, make_domineering_probe_set  # noqa: E402
from modinterp.probes.passthrough import domineering_board_reference, passthrough_all_layers  # noqa: E402
from modinterp.train.checkpoint import load_model_weights  # noqa: E402

COLUMNS = ("r2", "r2_board", "r2_gain", "r2_linear_part", "r2_nonlinear", "r2_control_nonlinear", "selectivity")
SECTOR_CONCEPTS = ("sector_move_difference", "sector_occupancy", "sector_mobility")


def load_run(run: Path) -> BoardTransformer:
    """The final model of a training run directory."""
    config = json.loads((run / "final" / "config.json").read_text())["model"]
    model = BoardTransformer(TransformerConfig(**config), seed=0)
    load_model_weights(model, run / "final" / "model.safetensors")
    return model


def concept_kwargs(concept: str) -> dict:
    return {"sector": DEFAULT_SECTOR} if concept in SECTOR_CONCEPTS else {}


def probe_positions(store: GameStore, max_games: int, per_game: int, seed: int, side_to_move: bool):
    """Tokens and game ids of up to `max_games` validation games, `per_game` positions each (ply >= 4)."""
    config = PositionConfig(positions_per_game=per_game, min_ply=4, augment=False, side_to_move_token=side_to_move)
    games = store.split_indices("val")[:max_games]
    game_ids, plies, syms = sample_positions(store.lengths, games, per_game, 4, np.random.default_rng([seed, 3]), False)
    batch = build_positions(store.spec, store.moves, store.winners, store.first, game_ids, plies, syms, config)
    return batch.tokens, batch.game_ids.numpy()


def boards_of(tokens, spec) -> np.ndarray:
    return tokens[:, : spec.rows * spec.cols].numpy().astype(np.uint8)


def measure(store, models: dict, concept: str, tokens, game_ids, seed: int, alphas) -> list[dict]:
    """Passthrough records of every model and layer for one concept."""
    kwargs = concept_kwargs(concept)
    targets = CONCEPTS[concept].fn(store.spec, boards_of(tokens, store.spec), **kwargs)
    probe_set = make_domineering_probe_set(store.spec, tokens, targets, game_ids, test_fraction=0.2, seed=seed)
    reference = domineering_board_reference(store.spec, probe_set, concept, control_seed=seed, alphas=alphas, **kwargs)
    rows = []
    for name, model in models.items():
        activations = capture_cls_residuals(model, probe_set.tokens)
        for scores in passthrough_all_layers(activations, probe_set, reference, alphas=alphas).values():
            rows.append({**scores.record(name, 0, 0, concept), "n_train": probe_set.n_train, "n_test": probe_set.n_test})
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'concept':<24}{'model':<16}{'layer':<10}" + "".join(f"{c:>21}" for c in COLUMNS) + f"{'edge':>6}{'open':>6}"
    print(header)
    for r in rows:
        print(f"{r['concept']:<24}{r['condition']:<16}{r['layer']:<10}" + "".join(f"{r[c]:>21.4f}" for c in COLUMNS)
              + f"{r['n_alphas_at_edge']:>6}{r['n_alphas_at_open_edge']:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=Path, required=True)
    parser.add_argument("--run", type=Path, action="append", required=True)
    parser.add_argument("--concept", action="append", default=None)
    parser.add_argument("--max-games", type=int, default=400)
    parser.add_argument("--per-game", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--alphas-logspace", type=float, nargs=3, metavar=("START", "STOP", "NUM"), default=None,
                        help="alpha grid np.logspace(START, STOP, NUM) instead of DEFAULT_ALPHAS, e.g. -3 5 17 (the former grid)")
    args = parser.parse_args()
    store = GameStore.load(args.games)
    models = {run.name: load_run(run) for run in args.run}
    first = next(iter(models.values()))
    models["init"] = BoardTransformer(first.config, seed=args.seed)
    tokens, game_ids = probe_positions(store, args.max_games, args.per_game, args.seed, first.config.side_to_move)
    alphas = DEFAULT_ALPHAS if args.alphas_logspace is None else tuple(
        float(a) for a in np.logspace(args.alphas_logspace[0], args.alphas_logspace[1], int(args.alphas_logspace[2])))
    started = time.perf_counter()
    rows = [row for concept in (args.concept or ["sector_move_difference"])
            for row in measure(store, models, concept, tokens, game_ids, args.seed, alphas)]
    print_table(rows)
    edge = sum(r["n_alphas_at_edge"] for r in rows)
    open_edge = sum(r["n_alphas_at_open_edge"] for r in rows)
    print(f"\n{len(rows)} layer records, {5 * len(rows)} CV fits, {edge} at the alpha grid's edge ({open_edge} still changing there) "
          f"({alphas[0]:g} .. {alphas[-1]:g}, {len(alphas)} alphas); "
          f"{rows[0]['n_train']} probe-train / {rows[0]['n_test']} probe-test positions; {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
