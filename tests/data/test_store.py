"""GameStore: round trip, validation of damaged files, stable game-level split, duplicates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modinterp.data.store import SCHEMA_VERSION, GameStore, GameStoreError, find_invalid_game
from modinterp.games import domineering as dom

SPEC = dom.BoardSpec(8, 8)


@pytest.fixture()
def store(games_8x8):
    moves, lengths, winners = games_8x8
    return GameStore(SPEC, moves, lengths, winners, generator={"sources": [{"name": "random", "seed": 0}]}, seed=0)


def write_raw(path, store: GameStore, metadata_changes=None, **array_changes):
    """Write a store file by hand with some arrays or metadata fields replaced (to build damaged files)."""
    meta = store.metadata() | (metadata_changes or {})
    arrays = {"moves": store.moves, "lengths": store.lengths, "winners": store.winners, "sources": store.sources,
              "metadata": np.array(json.dumps(meta))} | array_changes
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_round_trip_keeps_games_and_settings(store, tmp_path):
    loaded = GameStore.load(store.save(tmp_path / "games.npz"))
    assert loaded.spec == SPEC and loaded.first == dom.VERTICAL and loaded.seed == 0
    assert loaded.generator == store.generator
    for name in ("moves", "lengths", "winners", "sources"):
        assert (getattr(loaded, name) == getattr(store, name)).all() and getattr(loaded, name).dtype == getattr(store, name).dtype


def test_digest_names_the_games_across_a_round_trip_and_changes_with_them(store, tmp_path):
    digest = store.digest()
    assert len(digest) == 16 and GameStore.load(store.save(tmp_path / "games.npz")).digest() == digest
    assert store.subset(np.arange(store.n_games - 1)).digest() != digest  # one game fewer
    assert store.subset(np.arange(store.n_games)[::-1]).digest() != digest  # the same games in another order
    flipped = GameStore(SPEC, store.moves, store.lengths, 1 - store.winners, generator=store.generator, seed=0)
    assert flipped.digest() != digest  # the same moves with other winners


def test_save_writes_exactly_the_given_path(store, tmp_path):
    store.save(tmp_path / "games.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["games.bin"]


def test_truncated_file_raises_clear_error(store, tmp_path):
    path = store.save(tmp_path / "games.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GameStoreError, match=r"games\.npz: unreadable game file \(truncated"):
        GameStore.load(path)


def test_unknown_schema_version_raises_clear_error(store, tmp_path):
    path = write_raw(tmp_path / "games.npz", store, {"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(GameStoreError, match=rf"games\.npz: schema_version={SCHEMA_VERSION + 1} is not supported"):
        GameStore.load(path)


def test_illegal_move_names_the_game_and_ply(store, tmp_path):
    moves = store.moves.copy()
    moves[7, 3] = moves[7, 2]  # replays the previous move onto occupied cells... or the wrong side's orientation
    path = write_raw(tmp_path / "games.npz", store, moves=moves)
    with pytest.raises(GameStoreError, match=r"games\.npz: game 7 of 200 is invalid: ply 3: move \d+ is illegal"):
        GameStore.load(path)


def test_wrong_winner_names_the_game(store, tmp_path):
    winners = store.winners.copy()
    winners[11] = 1 - winners[11]
    path = write_raw(tmp_path / "games.npz", store, winners=winners)
    with pytest.raises(GameStoreError, match=r"game 11 of 200 is invalid: recorded winner"):
        GameStore.load(path)


def test_wrong_length_names_the_game(store, tmp_path):
    moves, lengths = store.moves.copy(), store.lengths.copy()
    moves[4, lengths[4] - 1] = -1
    lengths[4] -= 1  # drop the last move: the game is no longer over
    path = write_raw(tmp_path / "games.npz", store, moves=moves, lengths=lengths)
    with pytest.raises(GameStoreError, match=r"game 4 of 200 is invalid: recorded length .* still has a legal move"):
        GameStore.load(path)


@pytest.mark.parametrize("rows,cols,message", [
    (6, 6, r"columns but a 6x6 game lasts at most 18 moves"),
    (8, 9, r"game 0 of 200 is invalid"),
    (20, 8, r"metadata board size: BoardSpec.rows=20"),
])
def test_wrong_board_size_raises_clear_error(store, tmp_path, rows, cols, message):
    path = write_raw(tmp_path / "games.npz", store, {"rows": rows, "cols": cols})
    with pytest.raises(GameStoreError, match=message):
        GameStore.load(path)


def test_missing_array_raises_clear_error(store, tmp_path):
    path = tmp_path / "games.npz"
    with open(path, "wb") as fh:
        np.savez(fh, moves=store.moves)
    with pytest.raises(GameStoreError, match=r"missing array\(s\) \['lengths'"):
        GameStore.load(path)


def test_find_invalid_game_accepts_valid_games(games_8x8):
    assert find_invalid_game(SPEC, *games_8x8) is None


def test_find_invalid_game_rejects_moves_after_the_end(games_8x8):
    moves, lengths, winners = (a.copy() for a in games_8x8)
    moves[2, lengths[2]] = 0
    assert find_invalid_game(SPEC, moves, lengths, winners)[0] == 2


def test_find_invalid_game_respects_first_player(random_playout):
    spec = dom.BoardSpec(5, 5)
    games = random_playout(spec, 20, seed=3, first=dom.HORIZONTAL)
    assert find_invalid_game(spec, *games, first=dom.HORIZONTAL) is None
    assert find_invalid_game(spec, *games, first=dom.VERTICAL) == (0, find_invalid_game(spec, *games)[1])
    assert "wrong orientation" in find_invalid_game(spec, *games)[1]


# ------------------------------------------------------------------------------------------ split

def test_splits_partition_the_games(store):
    parts = [store.split_indices(s) for s in ("train", "val", "test")]
    assert sorted(np.concatenate(parts).tolist()) == list(range(store.n_games))
    assert 0.65 < len(parts[0]) / store.n_games < 0.95 and len(parts[1]) > 0 and len(parts[2]) > 0


def test_split_depends_only_on_each_games_moves(store):
    order = np.random.default_rng(0).permutation(store.n_games)[:120]
    shuffled = store.subset(order)
    for split in ("train", "val", "test"):
        expected = set(order[np.isin(order, store.split_indices(split))].tolist())
        assert set(order[shuffled.split_indices(split)].tolist()) == expected


def test_split_hash_is_pinned_blake2b_of_int16_moves():
    # A change here would silently reshuffle every saved data set's train/val/test assignment.
    import hashlib
    spec = dom.BoardSpec(2, 2)
    fixed = GameStore(spec, np.array([[0, -1], [1, -1]]), [1, 1], [0, 0])
    expected = int.from_bytes(hashlib.blake2b(np.array([0], "<i2").tobytes(), digest_size=8).digest(), "little")
    assert fixed.game_hashes()[0] == expected
    assert fixed.game_hashes().tolist() == PINNED_HASHES


PINNED_HASHES = [3946152381968277653, 10676198942114375738]


def test_unknown_split_name_is_rejected(store):
    with pytest.raises(ValueError, match="split='dev'"):
        store.split_indices("dev")


def test_duplicates_are_reported(store):
    doubled = GameStore.concatenate([store, store.subset([3, 5])])
    groups = [g.tolist() for g in doubled.duplicates()]
    assert groups == [[3, 200], [5, 201]]
    assert store.duplicates() == []


def test_duplicate_games_share_a_split(store):
    doubled = GameStore.concatenate([store, store.subset([3, 5])])
    split = doubled.split_of_games()
    assert split[3] == split[200] and split[5] == split[201]


def test_subset_trims_padding(store):
    small = store.subset([0, 1])
    assert small.moves.shape == (2, int(store.lengths[:2].max()))
    assert (small.lengths == store.lengths[:2]).all()


def test_validate_names_the_caller_and_game(store):
    bad = GameStore(store.spec, store.moves, store.lengths, 1 - store.winners)
    with pytest.raises(GameStoreError, match=r"^memory: game 0 of 200 is invalid: recorded winner"):
        bad.validate(where="memory")


def test_from_records_wraps_player_output(games_8x8):
    from types import SimpleNamespace
    moves, lengths, winners = games_8x8
    store = GameStore.from_records(SPEC, SimpleNamespace(moves=moves, lengths=lengths, winners=winners), source=1,
                                   generator={"sources": [{"name": "a"}, {"name": "b"}]})
    assert (store.sources == 1).all() and store.validate() is store
    assert list(store.statistics()["groups"]) == ["all", "b"]
