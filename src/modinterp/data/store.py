"""GameStore: Domineering game records on disk, validated on load, split by game.

File format (`.npz`, written atomically, read with `allow_pickle=False`; no pickled objects anywhere):
- `moves`    (G, Lmax) int16 move codes (see `modinterp.games.domineering`), -1 after the game's end;
- `lengths`  (G,) int16 number of moves played;
- `winners`  (G,) int8 0 = vertical won, 1 = horizontal won;
- `sources`  (G,) int8 index into `metadata["generator"]["sources"]` (which generator made the game);
- `metadata` 0-d unicode array holding JSON: `schema_version`, `format`, `rows`, `cols`, `first`,
  `n_games`, `seed` and `generator` (settings and seeds of every source).

Loading replays every game (vectorised over games, one step per ply) and checks each move's legality,
the recorded length (the side to move at the end has no legal move) and the recorded winner.
The split is a pure function of each game's move sequence (BLAKE2b of its int16 little-endian bytes),
so it is stable across machines, processes and subsets, and identical games always share a split.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modinterp.atomic import atomic_write
from modinterp.errors import ModinterpError
from modinterp.games import domineering as dom

SCHEMA_VERSION = 1
FORMAT_NAME = "modinterp.domineering.games"
SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_ARRAYS = ("moves", "lengths", "winners", "sources", "metadata")


class GameStoreError(ModinterpError, ValueError):
    """A game file that cannot be read or whose games do not replay as recorded."""


@dataclass
class GameStore:
    """Games on one board: `moves` (G, Lmax) int16 padded with -1, `lengths` (G,), `winners` (G,) int8."""

    spec: dom.BoardSpec
    moves: np.ndarray
    lengths: np.ndarray
    winners: np.ndarray
    first: int = dom.VERTICAL
    generator: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    sources: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.moves = np.asarray(self.moves, dtype=np.int16)
        if self.moves.ndim != 2:
            raise ValueError(f"moves of shape {self.moves.shape}: expected (n_games, max_length)")
        n = len(self.moves)
        self.lengths = _column(self.lengths, n, np.int16, "lengths")
        self.winners = _column(self.winners, n, np.int8, "winners")
        self.sources = _column(np.zeros(n) if self.sources is None else self.sources, n, np.int8, "sources")
        self.first = dom.check_player(self.first)

    # ------------------------------------------------------------------------------------------ basics
    @property
    def n_games(self) -> int:
        return len(self.moves)

    def __len__(self) -> int:
        return self.n_games

    @classmethod
    def from_records(cls, spec: dom.BoardSpec, records, *, first: int = dom.VERTICAL, generator=None,
                     seed: int | None = None, source: int = 0) -> "GameStore":
        """Wrap a `players.GameRecords`-like object (moves, lengths, winners)."""
        return cls(spec, records.moves, records.lengths, records.winners, first, dict(generator or {}), seed,
                   np.full(len(records.moves), source))

    @classmethod
    def concatenate(cls, stores: list["GameStore"], generator: dict | None = None, seed: int | None = None) -> "GameStore":
        """Stack stores of the same board and first player; moves are re-padded to the longest game."""
        if not stores:
            raise ValueError("concatenate needs at least one GameStore")
        spec, first = stores[0].spec, stores[0].first
        for i, store in enumerate(stores):
            if store.spec != spec or store.first != first:
                raise ValueError(f"store {i} is {store.spec} first={store.first}: expected {spec} first={first}")
        width = max(1, max(s.moves.shape[1] for s in stores))
        moves = np.concatenate([np.pad(s.moves, ((0, 0), (0, width - s.moves.shape[1])), constant_values=-1)
                                for s in stores])
        return cls(spec, moves, np.concatenate([s.lengths for s in stores]),
                   np.concatenate([s.winners for s in stores]), first,
                   generator if generator is not None else stores[0].generator,
                   seed if seed is not None else stores[0].seed, np.concatenate([s.sources for s in stores]))

    def subset(self, indices) -> "GameStore":
        """The games at `indices` (same board, settings and seed), padding trimmed to the longest kept game."""
        indices = np.asarray(indices, dtype=np.int64)
        width = max(1, int(self.lengths[indices].max(initial=0)))
        return GameStore(self.spec, self.moves[indices, :width], self.lengths[indices], self.winners[indices],
                         self.first, self.generator, self.seed, self.sources[indices])

    # ---------------------------------------------------------------------------------------- split
    def digest(self) -> str:
        """16 hex digits naming these games: board, every game's moves and winner, in order. Two runs trained on
        stores with the same digest saw the same games (recorded in a run's manifest.json as `games_digest`)."""
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.spec.rows}x{self.spec.cols}".encode())
        h.update(self.game_hashes().astype("<u8").tobytes())
        h.update(self.winners.astype(np.int8).tobytes())
        return h.hexdigest()

    def game_hashes(self) -> np.ndarray:
        """(G,) uint64 BLAKE2b-64 of each game's played moves (int16 little-endian bytes)."""
        moves = self.moves.astype("<i2")
        digests = [hashlib.blake2b(moves[g, : self.lengths[g]].tobytes(), digest_size=8).digest()
                   for g in range(self.n_games)]
        return np.frombuffer(b"".join(digests), dtype="<u8").copy() if digests else np.zeros(0, np.uint64)

    def split_of_games(self, fractions=DEFAULT_FRACTIONS) -> np.ndarray:
        """(G,) int8 split id per game: 0 train, 1 val, 2 test, from the move-sequence hash."""
        fractions = np.asarray(fractions, dtype=np.float64)
        if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
            raise ValueError(f"fractions={fractions.tolist()}: expected three non-negative numbers summing to 1")
        unit = (self.game_hashes() >> np.uint64(11)).astype(np.float64) / float(2**53)  # uniform in [0, 1)
        return np.searchsorted(np.cumsum(fractions)[:2], unit, side="right").astype(np.int8)

    def split_indices(self, split: str, fractions=DEFAULT_FRACTIONS) -> np.ndarray:
        """Game indices of `split` ('train', 'val' or 'test'); a game's split depends only on its moves."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        return np.flatnonzero(self.split_of_games(fractions) == SPLITS.index(split))

    def duplicates(self) -> list[np.ndarray]:
        """Groups (index arrays, each of size >= 2) of games with identical move sequences."""
        order = np.lexsort(self.moves.T[::-1])
        sorted_moves = self.moves[order]
        new_group = np.ones(self.n_games, dtype=bool)
        new_group[1:] = (sorted_moves[1:] != sorted_moves[:-1]).any(axis=1)
        starts = np.flatnonzero(new_group)
        groups = np.split(order, starts[1:])
        return [np.sort(group) for group in groups if len(group) > 1]

    # ------------------------------------------------------------------------------------------ stats
    def statistics(self) -> dict[str, Any]:
        """Summary figures: counts, game lengths and vertical win rate (overall and per source), splits, duplicates."""
        names = [source.get("name", f"source {i}") for i, source in enumerate(self.generator.get("sources", []))]
        groups = {"all": np.ones(self.n_games, dtype=bool)}
        for i in np.unique(self.sources):
            groups[names[i] if i < len(names) else f"source {i}"] = self.sources == i
        by_group = {}
        for name, mask in groups.items():
            lengths = self.lengths[mask].astype(np.float64)
            by_group[name] = {"n_games": int(mask.sum()),
                              "length_mean": float(lengths.mean()) if lengths.size else None,
                              "length_std": float(lengths.std()) if lengths.size else None,
                              "length_min": int(lengths.min()) if lengths.size else None,
                              "length_max": int(lengths.max()) if lengths.size else None,
                              "vertical_win_rate": float((self.winners[mask] == dom.VERTICAL).mean()) if lengths.size else None}
        split = self.split_of_games()
        duplicates = self.duplicates()
        return {"board": str(self.spec), "first": dom.PLAYER_NAMES[self.first], "n_games": self.n_games,
                "n_positions": int(self.lengths.sum()) + self.n_games, "groups": by_group,
                "splits": {name: int((split == i).sum()) for i, name in enumerate(SPLITS)},
                "duplicate_groups": len(duplicates), "duplicate_games": int(sum(len(g) - 1 for g in duplicates)),
                "seed": self.seed, "generator": self.generator}

    # ------------------------------------------------------------------------------------------- I/O
    def metadata(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "format": FORMAT_NAME, "rows": self.spec.rows,
                "cols": self.spec.cols, "first": dom.PLAYER_NAMES[self.first], "n_games": self.n_games,
                "seed": self.seed, "generator": self.generator}

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically to `path` (conventionally `*.npz`)."""
        metadata = np.array(json.dumps(self.metadata(), sort_keys=True))

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object stops numpy from appending '.npz' to the temp name
                np.savez_compressed(fh, moves=self.moves, lengths=self.lengths, winners=self.winners,
                                    sources=self.sources, metadata=metadata)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike, validate: bool = True) -> "GameStore":
        """Read `path`; with `validate` every game is replayed and the first bad one raises GameStoreError."""
        path = Path(path)
        arrays = _read_arrays(path)
        meta = _parse_metadata(path, arrays["metadata"])
        store = _build_store(path, arrays, meta)
        if validate:
            store.validate(where=str(path))
        return store

    def validate(self, where: str = "GameStore") -> "GameStore":
        """Replay every game; raise GameStoreError '<where>: game i of G is invalid: <why>' on the first bad one."""
        problem = find_invalid_game(self.spec, self.moves, self.lengths, self.winners, self.first)
        if problem is not None:
            game, reason = problem
            raise GameStoreError(f"{where}: game {game} of {self.n_games} is invalid: {reason}")
        return self


def _column(values, n: int, dtype, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ValueError(f"{name} of shape {array.shape}: expected ({n},), one entry per game")
    return array.astype(dtype)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise GameStoreError(f"{path}: no such game file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise GameStoreError(f"{path}: missing array(s) {missing}; expected {list(_ARRAYS)} "
                                     "(is this a modinterp game file?)")
            return {name: data[name] for name in _ARRAYS}
    except GameStoreError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise GameStoreError(f"{path}: unreadable game file (truncated or not an .npz): {exc}") from exc


def _parse_metadata(path: Path, raw: np.ndarray) -> dict[str, Any]:
    try:
        meta = json.loads(str(raw[()]))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise GameStoreError(f"{path}: metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise GameStoreError(f"{path}: metadata must be a JSON object, got {type(meta).__name__}")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise GameStoreError(f"{path}: schema_version={version!r} is not supported; this modinterp reads "
                             f"schema_version={SCHEMA_VERSION} (regenerate the file or upgrade modinterp)")
    for key in ("rows", "cols", "first"):
        if key not in meta:
            raise GameStoreError(f"{path}: metadata field {key!r} is missing")
    if meta["first"] not in dom.PLAYER_NAMES:
        raise GameStoreError(f"{path}: metadata first={meta['first']!r}: expected one of {dom.PLAYER_NAMES}")
    return meta


def _build_store(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GameStore:
    try:
        spec = dom.BoardSpec(meta["rows"], meta["cols"])
    except ValueError as exc:
        raise GameStoreError(f"{path}: metadata board size: {exc}") from exc
    moves = arrays["moves"]
    if moves.ndim != 2 or not np.issubdtype(moves.dtype, np.integer):
        raise GameStoreError(f"{path}: moves has shape {moves.shape} dtype {moves.dtype}; expected (G, Lmax) int16")
    if moves.shape[1] > spec.n_cells // 2:
        raise GameStoreError(f"{path}: moves has {moves.shape[1]} columns but a {spec} game lasts at most "
                             f"{spec.n_cells // 2} moves (wrong board size?)")
    n = len(moves)
    for name in ("lengths", "winners", "sources"):
        if arrays[name].shape != (n,):
            raise GameStoreError(f"{path}: {name} has shape {arrays[name].shape}; expected ({n},), one per game")
    if meta.get("n_games", n) != n:
        raise GameStoreError(f"{path}: metadata n_games={meta['n_games']} but the file holds {n} games")
    return GameStore(spec, moves, arrays["lengths"], arrays["winners"], dom.PLAYER_NAMES.index(meta["first"]),
                     meta.get("generator", {}), meta.get("seed"), arrays["sources"])


def find_invalid_game(spec: dom.BoardSpec, moves, lengths, winners, first: int = dom.VERTICAL) -> tuple[int, str] | None:
    """Replay all games at once; return (first bad game index, why) or None when every game is valid.

    Checks: lengths within [0, Lmax]; -1 exactly after each game's end; every move legal for the side to move;
    the side to move after the last move has no legal move (the recorded length is the true end); the recorded
    winner is the side that moved last.
    """
    moves = np.asarray(moves).astype(np.int64)
    lengths = np.asarray(lengths).astype(np.int64)
    winners = np.asarray(winners).astype(np.int64)
    n, width = moves.shape
    reasons: dict[int, str] = {}

    def flag(bad: np.ndarray, why) -> None:
        for game in np.flatnonzero(bad):
            reasons.setdefault(int(game), why(int(game)) if callable(why) else why)

    flag((lengths < 0) | (lengths > width), lambda g: f"length {lengths[g]} outside [0, {width}]")
    inside = np.arange(width)[None, :] < lengths[:, None]
    flag((inside & (moves < 0)).any(1), "a -1 (padding) before the recorded length")
    flag((~inside & (moves != -1)).any(1), "a move after the recorded length (padding must be -1)")
    boards = dom.initial_boards(spec, n)
    to_move = dom.initial_to_move(n, first).astype(np.int64)
    for ply in range(width):
        active = np.flatnonzero(inside[:, ply])
        if active.size == 0:
            break
        codes = dom.illegal_move_codes(spec, boards, to_move[active], moves[active, ply], rows=active)
        bad = codes != 0
        for game, code in zip(active[bad], codes[bad]):
            reasons.setdefault(int(game), f"ply {ply}: move {moves[game, ply]} is illegal for "
                                          f"{dom.PLAYER_NAMES[to_move[game]]}: {dom.ILLEGAL_MOVE_REASONS[int(code)]}")
        ok = active[~bad]
        cells = spec.move_cells[moves[ok, ply]]
        boards[ok, cells[:, 0]] = 1
        boards[ok, cells[:, 1]] = 1
        to_move[active] = 1 - to_move[active]
    unfinished = ~dom.is_over(spec, boards, to_move)
    flag(unfinished, lambda g: f"recorded length {lengths[g]} but {dom.PLAYER_NAMES[to_move[g]]} still has a legal move")
    expected = 1 - to_move
    flag(winners != expected, lambda g: f"recorded winner {winners[g]} but {dom.PLAYER_NAMES[expected[g]]} "
                                        f"({expected[g]}) moved last and won")
    return (min(reasons), reasons[min(reasons)]) if reasons else None


def derive_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for sub-stream `stream` of `seed` (NumPy SeedSequence), so sources never share games."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def generate_store(spec: dom.BoardSpec, n_random: int, n_guided: int, seed: int, *, first: int = dom.VERTICAL,
                   opening_plies: int = 16, epsilon: float = 0.25, progress=None) -> GameStore:
    """Generate `n_random` uniformly random and `n_guided` alpha-beta guided games (modinterp.games.players).

    Each source gets its own seed derived from `seed` (`derive_seed(seed, 0)` random, `derive_seed(seed, 1)`
    guided), recorded in `generator["sources"]`. `progress(name)` may return a per-game progress callable.
    """
    from modinterp.games import players  # compiled kernels: imported only when games are generated

    for name, value in (("n_random", n_random), ("n_guided", n_guided)):
        if int(value) < 0:
            raise ValueError(f"{name}={value}: expected a count >= 0")
    first = dom.check_player(first)
    sources, parts = [], []
    if n_random:
        settings = {"name": "random", "n_games": int(n_random), "seed": derive_seed(seed, 0)}
        records = players.random_games(spec, int(n_random), settings["seed"], first=first,
                                       progress=progress("random") if progress else None)
        parts.append(GameStore.from_records(spec, records, first=first, source=len(sources)))
        sources.append(settings)
    if n_guided:
        settings = {"name": "guided", "n_games": int(n_guided), "seed": derive_seed(seed, 1),
                    "opening_plies": int(opening_plies), "epsilon": float(epsilon)}
        records = players.guided_games(spec, int(n_guided), settings["seed"], first=first, opening_plies=opening_plies,
                                       epsilon=epsilon, progress=progress("guided") if progress else None)
        parts.append(GameStore.from_records(spec, records, first=first, source=len(sources)))
        sources.append(settings)
    generator = {"sources": sources, "seed_derivation": "SeedSequence([seed, source_index]) >> 1"}
    if not parts:
        empty = np.zeros((0, spec.n_cells // 2), dtype=np.int16)
        return GameStore(spec, empty, np.zeros(0), np.zeros(0), first, generator, int(seed))  # nothing to check
    return GameStore.concatenate(parts, generator=generator, seed=int(seed)).validate(where=f"generated {spec} games")
