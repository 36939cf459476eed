"""A module's activation as its contribution to an output head (describe/evidence/readouts.py): known values."""

import math

import numpy as np
import pytest
import torch

from modinterp.describe.evidence.readouts import IntactOutputs, Readouts, move_contribution, relative_logit
from modinterp.describe.evidence.transformer import ModuleUnits, mean_activations
from modinterp.describe.subjects import Split
from modinterp.describe.subjects.board import BoardSubject
from modinterp.describe.subjects.board_moves import MOVE_CONCEPTS, BoardMoveSubject, move_concepts, move_search_concepts
from modinterp.games.domineering import BoardSpec, available_mask, legal_mask
from modinterp.models import build_model
from modinterp.studies.carve.describe_run import DescribeConfig

SUBJECT = BoardSubject(BoardSpec(4, 4))


def _boards(n, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(n, 16)).astype(np.uint8)


def _model_and_means(seed=0):
    model = build_model("smoke", 4, 4, seed=seed).eval()
    return model, mean_activations(model, SUBJECT.tokens(model, _boards(64, seed=1)))


def test_value_contribution_of_the_last_mlp_matches_swapping_its_output_for_its_mean_by_hand():
    model, means = _model_and_means()
    last = model.config.n_layers - 1
    mlp = model.blocks[last].mlp
    module = ModuleUnits("mlp", neurons={last: np.arange(model.config.d_mlp)})
    boards = _boards(32, seed=2)
    contribution = Readouts("value", model, SUBJECT, means).of(module)(boards)
    tokens = SUBJECT.tokens(model, boards)
    with torch.no_grad():  # reference: the final residual with the MLP's output replaced by W_out @ mean + b
        _, cache = model.run_with_cache(tokens, names=[f"blocks.{last}.hook_resid_post", f"blocks.{last}.mlp.hook_post"])
        post = cache[f"blocks.{last}.mlp.hook_post"]
        resid = cache[f"blocks.{last}.hook_resid_post"]
        swapped = resid - mlp.W_out(post) + mlp.W_out(means[f"blocks.{last}.mlp.hook_post"].expand_as(post))
        expected = (model.unembed(resid).value - model.unembed(swapped).value).double().numpy()
    np.testing.assert_allclose(contribution, expected, atol=1e-5)
    assert np.abs(contribution).max() > 1e-3  # the check is not vacuous


def test_a_module_that_writes_nothing_contributes_exactly_zero():
    model, means = _model_and_means()
    units = np.arange(4)
    with torch.no_grad():
        model.blocks[0].mlp.W_out.weight[:, units] = 0.0
    silent = ModuleUnits("silent", neurons={0: units})
    boards = _boards(20)
    np.testing.assert_array_equal(Readouts("value", model, SUBJECT, means).of(silent)(boards), np.zeros(20))
    pairs = BoardMoveSubject(BoardSpec(4, 4)).with_moves(Split(boards, np.arange(20)), seed=0).inputs
    contribution = Readouts("move", model, BoardMoveSubject(BoardSpec(4, 4)), means).of(silent)(pairs)
    np.testing.assert_array_equal(contribution, np.zeros(len(pairs)))


def test_move_contribution_by_hand_ignores_a_shift_shared_by_every_move():
    intact = torch.tensor([[2.0, 1.0, 0.0, 5.0], [1.0, 3.0, 2.0, 0.0]])
    legal = torch.tensor([[True, True, True, False], [False, True, True, False]])
    move = torch.tensor([0, 2])
    # row 0: 2 - mean(2, 1, 0) = 1 (move 3 is illegal); row 1: 2 - mean(3, 2) = -0.5
    np.testing.assert_allclose(relative_logit(intact, legal, move).numpy(), [1.0, -0.5])
    shifted = intact + torch.tensor([[7.0], [-3.0]])  # a per-board shift: no contribution
    np.testing.assert_allclose(move_contribution(intact, shifted, legal, move), [0.0, 0.0], atol=1e-12)
    cut = intact.clone()
    cut[0, 0] -= 3.0  # the module raised move 0 by 3 logits: 3 - 3/3 relative to the mean of 3 legal moves
    np.testing.assert_allclose(move_contribution(intact, cut, legal, move), [2.0, 0.0], atol=1e-12)


def test_the_subject_gives_the_legal_moves_of_the_player_to_move():
    empty = np.zeros((1, 16), dtype=np.uint8)
    one_move = empty.copy()
    one_move[0, [0, 4]] = 1  # a vertical domino on r0c0-r1c0: horizontal is to move
    legal = SUBJECT.legal(np.concatenate([empty, one_move]))
    n_vertical = 3 * 4  # moves are coded vertical first (games.domineering)
    assert legal[0, :n_vertical].all() and not legal[0, n_vertical:].any()
    assert not legal[1, :n_vertical].any() and legal[1, n_vertical:].sum() == 4 * 3 - 2  # r0c0-r0c1 and r1c0-r1c1 are blocked


def test_unknown_readouts_and_the_old_partition_name_are_refused_with_the_fix():
    model, means = _model_and_means()
    with pytest.raises(ValueError, match="expected one of pc1, value, move"):
        Readouts("pc2", model, SUBJECT, means)
    with pytest.raises(ValueError, match=r"--activation.*expected one of pc1, value, move"):
        DescribeConfig(activation="logit")
    with pytest.raises(ValueError, match="now called tree"):
        DescribeConfig(partition="gh")
    with pytest.raises(ValueError, match="--random-partitions"):
        DescribeConfig(random_partitions=-1)


def test_the_intact_outputs_are_computed_once_per_board_set_and_equal_a_fresh_forward():
    model, _ = _model_and_means()
    intact, boards = IntactOutputs(model, SUBJECT), _boards(10, seed=4)
    first = intact(boards)
    assert intact(boards.copy()) is first and len(intact._cache) == 1  # same boards, same entry
    assert intact(boards[:5])["value"].shape == (5,) and len(intact._cache) == 2
    with torch.no_grad():
        fresh = model(SUBJECT.tokens(model, boards))
    assert torch.equal(first["value"], fresh.value) and torch.equal(first["policy"], fresh.policy)


def _move_code(spec, a, b):
    return int(np.flatnonzero((spec.move_cells == [a, b]).all(1))[0])


def test_move_concepts_by_hand_on_an_empty_and_a_crowded_board():
    spec = BoardSpec(4, 4)
    move = _move_code(spec, 5, 9)  # vertical r1c1-r2c1
    empty = np.zeros((1, 16), dtype=np.uint8)
    values = dict(zip(MOVE_CONCEPTS, move_concepts(spec, empty, [move])[0]))
    del values["move_search_value"], values["move_search_advantage"]  # checked against a brute-force search below
    # horizontal r1c0-r1c1, r1c1-r1c2, r2c0-r2c1, r2c1-r2c2 are taken away; vertical r0c1-r1c1 and r2c1-r3c1
    assert values == {"move_blocks_opponent": 4, "move_blocks_own": 2, "move_mobility_gain": 2, "move_row": 1.5,
                      "move_col": 1.0, "move_border_distance": 1, "move_occupied_neighbours": 0}
    crowded = empty.copy()
    crowded[0, [4, 6, 1]] = 1  # r1c0, r1c2 and r0c1 occupied: r1c0-r1c1, r1c1-r1c2 and r0c1-r1c1 are gone already
    values = dict(zip(MOVE_CONCEPTS, move_concepts(spec, crowded, [move])[0]))
    assert values["move_blocks_opponent"] == 2 and values["move_blocks_own"] == 1
    assert values["move_occupied_neighbours"] == 3


def _brute_force_search_value(spec, board, move) -> float:
    """The mover's depth-2 value by enumeration: the least, over the opponent's replies, of (own available moves -
    the opponent's) afterwards; with no reply left, the mover's available moves."""
    mover = spec.move_player[move]
    child = board.copy()
    child[spec.move_cells[move]] = 1

    def own_minus_other(position):
        available = available_mask(spec, position[None])[0]
        return int((available & (spec.move_player == mover)).sum() - (available & (spec.move_player != mover)).sum())

    replies = np.flatnonzero(legal_mask(spec, child[None], np.array([1 - mover]))[0])
    if len(replies) == 0:
        return own_minus_other(child)
    values = []
    for reply in replies:
        after = child.copy()
        after[spec.move_cells[reply]] = 1
        values.append(own_minus_other(after))
    return min(values)


def test_move_search_value_equals_a_brute_force_depth_2_search_and_the_engines_search_off_terminal_lines():
    from modinterp.games.players import alphabeta

    spec = BoardSpec(6, 6)
    subject = BoardMoveSubject(spec, sector=(2, 2))
    pairs, _ = subject.splits(30, 10, seed=3)
    boards, moves = subject.board_part(pairs.inputs), subject.move_part(pairs.inputs)
    value, _ = move_search_concepts(spec, boards, moves)
    assert len(moves) > 200 and value.tolist() == [_brute_force_search_value(spec, b, m) for b, m in zip(boards, moves)]
    children = boards.copy()
    for i, m in enumerate(moves):
        children[i, spec.move_cells[m]] = 1
    _, engine = alphabeta(spec, children, 1 - spec.move_player[moves], 1)  # the opponent's negamax value, +/-1e6 at a win
    decided = np.abs(engine) >= 10**5
    assert decided.any() and (~decided).sum() > 100
    assert np.array_equal(value[~decided], -engine[~decided])


def test_move_search_advantage_averages_to_zero_over_a_boards_legal_moves_and_illegal_pairs_are_refused():
    spec = BoardSpec(6, 6)
    board = np.zeros(36, dtype=np.uint8)
    board[[0, 7, 14, 20, 27]] = 1
    legal = np.flatnonzero(legal_mask(spec, board[None], np.array([0]))[0])
    value, advantage = move_search_concepts(spec, np.repeat(board[None], len(legal), 0), legal)
    assert advantage.mean() == pytest.approx(0) and np.allclose(value - advantage, value.mean())
    with pytest.raises(ValueError, match="not legal for its player"):
        move_search_concepts(spec, board[None], np.array([_move_code(spec, 0, 6)]))  # r0c0 is occupied


def test_board_move_pairs_hold_legal_moves_of_the_player_to_move_and_stay_scorable_when_occluded():
    subject = BoardMoveSubject(BoardSpec(4, 4), moves_per_board=2)
    evidence, heldout = subject.splits(6, 3, seed=0)
    assert set(evidence.groups.tolist()).isdisjoint(heldout.groups.tolist())
    boards, moves = subject.board_part(evidence.inputs), subject.move_part(evidence.inputs)
    assert SUBJECT.legal(boards)[np.arange(len(moves)), moves].all()
    full = np.ones((1, 16), dtype=np.uint8)
    pairs = subject.with_moves(Split(np.concatenate([np.zeros((1, 16), np.uint8), full]), np.array([7, 8])), seed=1)
    assert pairs.groups.tolist() == [7, 7]  # two distinct moves of the empty board; the full board has none
    assert len(set(subject.move_part(pairs.inputs).tolist())) == 2
    table = subject.concept_table(evidence.inputs)
    assert table.names[-len(MOVE_CONCEPTS):] == list(MOVE_CONCEPTS) and table.n_positions == len(moves)
    assert subject.splits(6, 3, seed=0)[0].inputs.tolist() == evidence.inputs.tolist()  # seeded


def test_a_pairs_player_is_its_moves_and_survives_occlusion():
    """Flipping one cell changes the ply parity; the pair's player (its move's) and its move's legality must not
    change, or the 'cells it reads' would measure a player swap instead of the module."""
    subject = BoardMoveSubject(BoardSpec(4, 4), moves_per_board=3)
    evidence, _ = subject.splits(8, 3, seed=2)
    moves = subject.move_part(evidence.inputs)
    for name, occluded in subject.occlusions(evidence.inputs):
        assert (subject.player(occluded) == subject.player(evidence.inputs)).all()
        assert subject.legal(occluded)[np.arange(len(moves)), moves].all(), name
        assert (subject.move_part(occluded) == moves).all()


def test_readouts_refuse_a_subject_of_the_wrong_kind():
    model, means = _model_and_means()
    with pytest.raises(ValueError, match="BoardMoveSubject"):
        Readouts("move", model, SUBJECT, means)
    with pytest.raises(ValueError, match="BoardSubject"):
        Readouts("value", model, BoardMoveSubject(BoardSpec(4, 4)), means)


@pytest.mark.parametrize("kind", ["pc1", "value"])
def test_batched_activations_equal_one_readout_per_module(kind):
    model, means = _model_and_means()
    modules = [ModuleUnits("a", neurons={0: np.arange(5)}, heads={0: np.array([1])}), ModuleUnits("b", neurons={0: np.arange(5, 12)})]
    readouts, ev, ho = Readouts(kind, model, SUBJECT, means), _boards(30, seed=6), _boards(20, seed=7)
    batched = readouts.activations(modules, ev, ho)
    for m in modules:
        one = readouts.of(m).fit(ev)
        np.testing.assert_allclose(batched[m.name][0], one(ev), atol=1e-10)
        np.testing.assert_allclose(batched[m.name][1], one(ho), atol=1e-10)
