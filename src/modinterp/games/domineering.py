"""Batched Domineering on any R x C board (2 <= R, C <= 16); 16x16 is the paper setting, 8x8 the CPU one.

Rules. Two players place dominoes on empty cells: VERTICAL (player 0) covers two cells of one column,
HORIZONTAL (player 1) two cells of one row. Normal play: the side to move with no legal move loses.
Vertical moves first unless told otherwise (`first=HORIZONTAL`).

Cells. A board is a uint8 vector of length R*C in row-major order (cell = r*C + c), 1 = occupied.
A batch of B boards is an array (B, R*C). Boards do not record who placed a domino; the side to move
travels beside the board (`to_move`, (B,) int8) and equals `first` xor (ply parity).

Move codes (the one place they are defined; every module uses these):
- Vertical moves come first, numbered by their TOP cell (r, c), r < R-1, in row-major order:
  code = r*C + c, for codes 0 .. n_vertical-1 where n_vertical = (R-1)*C.
- Horizontal moves follow, numbered by their LEFT cell (r, c), c < C-1, in row-major order:
  code = n_vertical + r*(C-1) + c, for codes n_vertical .. n_moves-1 where n_horizontal = R*(C-1).
- `spec.move_cells[code]` gives the two covered cells, top/left cell first. -1 pads move sequences.
(The original implementation numbered horizontal moves column-major; this one does not.)

Symmetries that keep the players' roles (a quarter turn would swap them): 0 identity, 1 flip top-bottom,
2 flip left-right, 3 rotate 180 degrees. Each is its own inverse; they form the Klein four-group.
`transform_boards` and `transform_moves` apply the same cell permutation, so
`play(transform(board), transform(move)) == transform(play(board, move))`.

Everything here is vectorised NumPy over the batch; no per-game Python loops.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

VERTICAL = 0
HORIZONTAL = 1
PLAYER_NAMES = ("vertical", "horizontal")
SYMMETRY_NAMES = ("identity", "flip_top_bottom", "flip_left_right", "rotate_180")
MIN_SIZE, MAX_SIZE = 2, 16


class IllegalMoveError(ValueError):
    """A move that cannot be played: out of range, wrong orientation for the player, or onto an occupied cell."""


@dataclass(frozen=True)
class BoardSpec:
    """Board geometry: size, move codes and the cells each move covers (see the module docstring)."""

    rows: int
    cols: int

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not MIN_SIZE <= value <= MAX_SIZE:
                raise ValueError(f"BoardSpec.{name}={value!r}: expected an integer in [{MIN_SIZE}, {MAX_SIZE}]")

    @classmethod
    def parse(cls, text: str) -> "BoardSpec":
        """Read 'RxC' (e.g. '8x8', '16x16', '4x5'); raises ValueError naming the text and the expected form."""
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
        if match is None:
            raise ValueError(f"board {text!r}: expected ROWSxCOLS such as '8x8' or '16x16'")
        rows, cols = int(match.group(1)), int(match.group(2))
        if not (MIN_SIZE <= rows <= MAX_SIZE and MIN_SIZE <= cols <= MAX_SIZE):
            raise ValueError(f"board {text!r}: rows and cols must each lie in [{MIN_SIZE}, {MAX_SIZE}]")
        return cls(rows, cols)

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}"

    @property
    def n_cells(self) -> int:
        return self.rows * self.cols

    @property
    def n_vertical(self) -> int:
        return (self.rows - 1) * self.cols

    @property
    def n_horizontal(self) -> int:
        return self.rows * (self.cols - 1)

    @property
    def n_moves(self) -> int:
        return self.n_vertical + self.n_horizontal

    @property
    def move_cells(self) -> np.ndarray:
        """(n_moves, 2) int64 flat cells covered by each move, top/left cell first (read-only)."""
        return _move_cells(self.rows, self.cols)

    @property
    def move_player(self) -> np.ndarray:
        """(n_moves,) int8: VERTICAL for codes < n_vertical, HORIZONTAL after (read-only)."""
        return _move_player(self.rows, self.cols)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=None)
def _move_cells(rows: int, cols: int) -> np.ndarray:
    r, c = np.divmod(np.arange((rows - 1) * cols), cols)
    top = r * cols + c
    vertical = np.stack([top, top + cols], axis=1)
    r, c = np.divmod(np.arange(rows * (cols - 1)), cols - 1)
    left = r * cols + c
    horizontal = np.stack([left, left + 1], axis=1)
    return _readonly(np.concatenate([vertical, horizontal]).astype(np.int64))


@functools.lru_cache(maxsize=None)
def _move_player(rows: int, cols: int) -> np.ndarray:
    n_vertical, n_horizontal = (rows - 1) * cols, rows * (cols - 1)
    return _readonly(np.repeat(np.array([VERTICAL, HORIZONTAL], np.int8), [n_vertical, n_horizontal]))


# ---------------------------------------------------------------------------------------------- states

def initial_boards(spec: BoardSpec, n: int = 1) -> np.ndarray:
    """(n, n_cells) uint8 empty boards."""
    return np.zeros((n, spec.n_cells), dtype=np.uint8)


def initial_to_move(n: int = 1, first: int = VERTICAL) -> np.ndarray:
    """(n,) int8 side to move at the start: `first` for every game."""
    return np.full(n, check_player(first), dtype=np.int8)


def player_to_move(ply, first: int = VERTICAL) -> np.ndarray:
    """Side to move after `ply` moves (scalar or array): `first` on even plies, the other side on odd."""
    return (np.asarray(ply) % 2 ^ check_player(first)).astype(np.int8)


def check_player(player) -> int:
    """`player` as an int, after checking it is VERTICAL (0) or HORIZONTAL (1)."""
    if int(player) not in (VERTICAL, HORIZONTAL):
        raise ValueError(f"player={player!r}: expected VERTICAL (0) or HORIZONTAL (1)")
    return int(player)


def as_boards(spec: BoardSpec, boards) -> np.ndarray:
    """`boards` as a (B, n_cells) array (a single board becomes B=1); raises ValueError on a wrong shape."""
    boards = np.asarray(boards)
    if boards.ndim == 1:
        boards = boards[None]
    if boards.ndim != 2 or boards.shape[1] != spec.n_cells:
        raise ValueError(f"boards of shape {boards.shape}: expected (B, {spec.n_cells}) for a {spec} board")
    return boards


def _per_game(value, n: int, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 0:
        return np.full(n, int(array), dtype=np.int64)
    if array.shape != (n,):
        raise ValueError(f"{name} of shape {array.shape}: expected a scalar or shape ({n},)")
    return array.astype(np.int64)


# ----------------------------------------------------------------------------------------------- masks

def available_mask(spec: BoardSpec, boards) -> np.ndarray:
    """(B, n_moves) bool: moves whose two cells are empty, for both players whoever is to move."""
    free = as_boards(spec, boards) == 0
    cells = spec.move_cells
    return free[:, cells[:, 0]] & free[:, cells[:, 1]]


def legal_mask(spec: BoardSpec, boards, player) -> np.ndarray:
    """(B, n_moves) bool: moves `player` (int or (B,) array) may play; the other orientation is False."""
    boards = as_boards(spec, boards)
    player = _per_game(player, len(boards), "player")
    if player.size and not np.isin(player, (VERTICAL, HORIZONTAL)).all():
        raise ValueError(f"player values {np.unique(player).tolist()}: expected VERTICAL (0) or HORIZONTAL (1)")
    return available_mask(spec, boards) & (spec.move_player[None, :] == player[:, None])


def legal_counts(spec: BoardSpec, boards) -> np.ndarray:
    """(B, 2) int64 number of available moves for (vertical, horizontal)."""
    available = available_mask(spec, boards)
    return np.stack([available[:, : spec.n_vertical].sum(1), available[:, spec.n_vertical :].sum(1)], axis=1)


def is_over(spec: BoardSpec, boards, to_move) -> np.ndarray:
    """(B,) bool: the side to move has no legal move."""
    return ~legal_mask(spec, boards, to_move).any(axis=1)


def winner(spec: BoardSpec, boards, to_move) -> np.ndarray:
    """(B,) int8: the winner (the side that moved last) where the game is over, -1 where it goes on."""
    to_move = _per_game(to_move, len(as_boards(spec, boards)), "to_move")
    return np.where(is_over(spec, boards, to_move), 1 - to_move, -1).astype(np.int8)


# ------------------------------------------------------------------------------------------------ play

def illegal_move_reasons(spec: BoardSpec, boards, to_move, moves) -> list[str | None]:
    """Per game, why `moves[i]` is illegal for `to_move[i]` on `boards[i]`, or None when it is legal."""
    boards = as_boards(spec, boards)
    bad = illegal_move_codes(spec, boards, _per_game(to_move, len(boards), "to_move"), _per_game(moves, len(boards), "moves"))
    return [None if code == 0 else ILLEGAL_MOVE_REASONS[code] for code in bad]


ILLEGAL_MOVE_REASONS = {1: "out of range", 2: "wrong orientation for the player", 3: "occupied cell"}


def illegal_move_codes(spec: BoardSpec, boards: np.ndarray, to_move: np.ndarray, moves: np.ndarray,
                   rows: np.ndarray | None = None) -> np.ndarray:
    """(B,) int8: 0 legal, 1 out of range, 2 wrong orientation, 3 a covered cell is occupied.

    `rows` (optional) selects which boards the moves apply to, so callers need not copy a subset of boards.
    """
    in_range = (moves >= 0) & (moves < spec.n_moves)
    safe = np.where(in_range, moves, 0)
    cells = spec.move_cells[safe]
    rows = np.arange(len(boards)) if rows is None else rows
    occupied = (boards[rows, cells[:, 0]] != 0) | (boards[rows, cells[:, 1]] != 0)
    wrong_side = spec.move_player[safe] != to_move
    return np.select([~in_range, wrong_side, occupied], [1, 2, 3], 0).astype(np.int8)


def play(spec: BoardSpec, boards, to_move, moves, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Play one move in each game; returns new (boards, to_move) and leaves the inputs untouched.

    With `check` (the default) an illegal move raises IllegalMoveError naming the first bad game index,
    the move code and why (out of range / wrong orientation for the player / occupied cell).
    """
    boards = as_boards(spec, boards)
    n = len(boards)
    to_move = _per_game(to_move, n, "to_move")
    moves = _per_game(moves, n, "moves")
    if check:
        codes = illegal_move_codes(spec, boards, to_move, moves)
        if codes.any():
            game = int(np.flatnonzero(codes)[0])
            raise IllegalMoveError(
                f"game {game}: move {int(moves[game])} is illegal for {PLAYER_NAMES[to_move[game]]} on a {spec} board: "
                f"{ILLEGAL_MOVE_REASONS[int(codes[game])]} ({int((codes != 0).sum())} illegal move(s) in the batch of {n})")
    new_boards = boards.copy()
    cells = spec.move_cells[moves]
    rows = np.arange(n)
    new_boards[rows, cells[:, 0]] = 1
    new_boards[rows, cells[:, 1]] = 1
    return new_boards, (1 - to_move).astype(np.int8)


# ------------------------------------------------------------------------------------------ symmetries

def _check_symmetry(sym) -> np.ndarray:
    sym = np.asarray(sym, dtype=np.int64)
    if sym.size and (sym.min() < 0 or sym.max() > 3):
        raise ValueError(f"symmetry id(s) {np.unique(sym).tolist()}: expected 0 identity, 1 flip top-bottom, "
                         "2 flip left-right or 3 rotate 180")
    return sym


@functools.lru_cache(maxsize=None)
def _cell_permutations(rows: int, cols: int) -> np.ndarray:
    """(4, n_cells): image of each cell under each symmetry."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    images = [(r, c), (rows - 1 - r, c), (r, cols - 1 - c), (rows - 1 - r, cols - 1 - c)]
    return _readonly(np.stack([rr * cols + cc for rr, cc in images]).astype(np.int64))


@functools.lru_cache(maxsize=None)
def _move_permutations(rows: int, cols: int) -> np.ndarray:
    """(4, n_moves + 1): image of each move code under each symmetry; the last column maps -1 to -1."""
    spec = BoardSpec(rows, cols)
    cells = spec.move_cells
    code_of_pair = np.full(spec.n_cells * spec.n_cells, -1, dtype=np.int64)
    code_of_pair[cells[:, 0] * spec.n_cells + cells[:, 1]] = np.arange(spec.n_moves)
    table = np.full((4, spec.n_moves + 1), -1, dtype=np.int64)
    for sym, perm in enumerate(_cell_permutations(rows, cols)):
        a, b = perm[cells[:, 0]], perm[cells[:, 1]]
        table[sym, : spec.n_moves] = code_of_pair[np.minimum(a, b) * spec.n_cells + np.maximum(a, b)]
    return _readonly(table)


def transform_boards(spec: BoardSpec, boards, sym) -> np.ndarray:
    """Apply symmetry `sym` (int or (B,) array) to boards (B, n_cells): cell x moves to perm[x]."""
    boards = as_boards(spec, boards)
    sym = _check_symmetry(sym)
    inverse = _cell_permutations(spec.rows, spec.cols)  # every symmetry is an involution: perm == perm^-1
    if sym.ndim == 0:
        return boards[:, inverse[int(sym)]]
    sym = _per_game(sym, len(boards), "sym")
    return np.take_along_axis(boards, inverse[sym], axis=1)


def transform_moves(spec: BoardSpec, moves, sym) -> np.ndarray:
    """Apply symmetry `sym` to move codes of any shape (-1 padding stays -1); a (B,) `sym` acts per row."""
    moves = np.asarray(moves)
    sym = _check_symmetry(sym)
    if moves.size and (moves.min() < -1 or moves.max() >= spec.n_moves):
        raise ValueError(f"move codes in [{moves.min()}, {moves.max()}]: expected -1 (padding) or [0, {spec.n_moves})")
    table = _move_permutations(spec.rows, spec.cols)
    index = np.where(moves < 0, spec.n_moves, moves)
    if sym.ndim == 0:
        out = table[int(sym)][index]
    else:
        if moves.ndim == 0 or sym.shape != moves.shape[:1]:
            raise ValueError(f"sym of shape {sym.shape}: expected a scalar or one id per row of moves {moves.shape}")
        out = table[sym.reshape((-1,) + (1,) * (moves.ndim - 1)), index]
    return out.astype(moves.dtype)


# ---------------------------------------------------------------------------------------------- replay

def replay_boards(spec: BoardSpec, moves, game_index, ply) -> np.ndarray:
    """(N, n_cells) uint8 board of game `game_index[i]` after its first `ply[i]` moves.

    `moves` is (G, Lmax) with -1 padding. Vectorised: every move cell of every selected game is scattered
    at once, masked by ply; no legality check (use `modinterp.data.store` validation for that).
    """
    moves = np.asarray(moves)
    if moves.ndim != 2:
        raise ValueError(f"moves of shape {moves.shape}: expected (G, Lmax) padded with -1")
    game_index = np.atleast_1d(np.asarray(game_index, dtype=np.int64))
    ply = np.broadcast_to(np.asarray(ply, dtype=np.int64), game_index.shape)
    if ply.size and (ply.min() < 0 or ply.max() > moves.shape[1]):
        raise ValueError(f"ply in [{ply.min()}, {ply.max()}]: expected 0 <= ply <= Lmax={moves.shape[1]}")
    selected = moves[game_index]
    played = (np.arange(moves.shape[1])[None, :] < ply[:, None]) & (selected >= 0)
    cells = spec.move_cells[np.where(played, selected, 0)]  # (N, Lmax, 2)
    cells = np.where(played[..., None], cells, spec.n_cells)  # masked plies land in a spare column
    boards = np.zeros((len(game_index), spec.n_cells + 1), dtype=np.uint8)
    np.put_along_axis(boards, cells.reshape(len(game_index), -1), 1, axis=1)
    return boards[:, : spec.n_cells]


# ---------------------------------------------------------------------------------------------- render

def render(spec: BoardSpec, board, last_move: int | None = None, moves=None) -> str:
    """ASCII picture of one board: '.' empty, '#' occupied.

    With `moves` (the moves played so far) dominoes are drawn by owner, 'v' vertical and 'h' horizontal;
    the cells of `last_move` are drawn upper-case ('V'/'H').
    """
    board = as_boards(spec, board)[0]
    chars = np.where(board != 0, "#", ".").astype("<U1")
    if moves is not None:
        moves = np.asarray(moves).ravel()
        moves = moves[moves >= 0]
        cells = spec.move_cells[moves]
        for column in (0, 1):
            chars[cells[:, column]] = np.where(spec.move_player[moves] == VERTICAL, "v", "h")
    if last_move is not None and last_move >= 0:
        chars[spec.move_cells[last_move]] = "V" if spec.move_player[last_move] == VERTICAL else "H"
    width = len(str(spec.cols - 1))
    header = " " * 3 + " ".join(str(c).rjust(width) for c in range(spec.cols))
    lines = [header] + [
        f"{r:>2} " + " ".join(ch.rjust(width) for ch in chars[r * spec.cols:(r + 1) * spec.cols]) for r in range(spec.rows)
    ]
    return "\n".join(lines)


def describe_move(spec: BoardSpec, move: int) -> str:
    """Human-readable move, e.g. 'V(3,4)-(4,4)' for a vertical domino with top cell row 3, column 4."""
    if not 0 <= move < spec.n_moves:
        raise ValueError(f"move {move}: expected a code in [0, {spec.n_moves}) for a {spec} board")
    (r0, c0), (r1, c1) = (divmod(int(x), spec.cols) for x in spec.move_cells[move])
    return f"{'V' if spec.move_player[move] == VERTICAL else 'H'}({r0},{c0})-({r1},{c1})"
