"""How well a network *plays*: batched matches between agents, with Wilson intervals and Elo estimates.

    result = play_match(spec, PolicyAgent(model), AlphaBetaAgent(1), n_games=200, seed=0)
    result.win_rate, result.win_ci, result.elo, result.to_dict()

An agent picks one move for each of a batch of positions (`choose(spec, boards, to_move, rngs)`); every game of
a match advances together, so a network agent makes one batched forward per ply. Each pairing plays fixed random
openings twice, once with each agent as vertical. Opening i draws from its own stream (NumPy `SeedSequence(seed)
.spawn`, never `seed + i`), and inside a game each colour draws from its own stream too, so swapping the two
agents swaps the results game for game, and neighbouring games share nothing but the master seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from scipy.special import expit

from modinterp.games import domineering as dom
from modinterp.games.players import GameRecords, alphabeta, empty_records
from modinterp.models import board_tokens

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
DEFAULT_OPPONENTS = ("random", "alphabeta:1", "alphabeta:2", "alphabeta:3")


class Agent(Protocol):
    """Picks a legal move for each position; `rngs[i]` is the random stream of position i's game and colour."""

    name: str

    def choose(self, spec: dom.BoardSpec, boards: np.ndarray, to_move: np.ndarray,
               rngs: Sequence[np.random.Generator]) -> np.ndarray: ...


def random_legal_moves(legal: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """One uniformly random legal move per row of a (B, n_moves) legal mask, drawn from that row's stream."""
    moves = np.empty(len(legal), dtype=np.int64)
    for i, rng in enumerate(rngs):
        codes = np.flatnonzero(legal[i])
        moves[i] = codes[rng.integers(len(codes))]
    return moves


class RandomAgent:
    """Uniformly random legal moves."""

    name = "random"

    def choose(self, spec, boards, to_move, rngs) -> np.ndarray:
        return random_legal_moves(dom.legal_mask(spec, boards, to_move), rngs)


class AlphaBetaAgent:
    """The guided player's alpha-beta search over the mobility difference, at a fixed depth (deterministic)."""

    def __init__(self, depth: int):
        if not 1 <= int(depth) <= 12:
            raise ValueError(f"depth={depth}: expected an alpha-beta search depth in [1, 12], e.g. 1, 2 or 3.")
        self.depth = int(depth)
        self.name = f"alphabeta:{self.depth}"

    def choose(self, spec, boards, to_move, rngs) -> np.ndarray:
        return alphabeta(spec, boards, to_move, self.depth)[0]


def model_device(model: torch.nn.Module) -> torch.device:
    """The device the model's parameters live on (chosen by the caller through `modinterp.device`)."""
    return next(model.parameters()).device


# positions per forward of a network player. The value lookahead of 400 games four plies in (17,577 children) through
# a d_model-128 model peaks at 7.5 GB with 8,192 per forward and 1.5 GB with 1,024, which is also faster on the CPU,
# with equal scores (bench/forward_batch.py); 8,192 let two trainings' play evaluations run a 24 GB machine out of memory
FORWARD_BATCH = 1024

@torch.inference_mode()
def forward_outputs(model: torch.nn.Module, boards: np.ndarray, to_move: np.ndarray, batch_size: int,
                    head: str) -> np.ndarray:
    """One head's output ("value" logits (N,) or "policy" logits (N, n_moves)) for boards with the side to move,
    in forwards of at most `batch_size` positions (memory), as float64 on the CPU."""
    config, device = model.config, model_device(model)
    parts = []
    for start in range(0, len(boards), batch_size):
        stop = start + batch_size
        player = to_move[start:stop] if config.side_to_move else None
        tokens = torch.as_tensor(board_tokens(boards[start:stop], config, player), device=device)
        parts.append(getattr(model(tokens), head).double().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0,) if head == "value" else (0, config.n_moves))


def child_positions(spec: dom.BoardSpec, boards: np.ndarray, to_move: np.ndarray):
    """Every legal child of every position: (parent row, move code, child boards, child side to move)."""
    rows, moves = np.nonzero(dom.legal_mask(spec, boards, to_move))
    children = boards[rows].copy()
    cells = spec.move_cells[moves]
    index = np.arange(len(rows))
    children[index, cells[:, 0]] = 1
    children[index, cells[:, 1]] = 1
    return rows, moves, children, (1 - to_move[rows]).astype(np.int8)


def lookahead_scores(model: torch.nn.Module, spec: dom.BoardSpec, boards: np.ndarray, to_move: np.ndarray,
                     batch_size: int = FORWARD_BATCH, known_wins: bool = True) -> np.ndarray:
    """(B, n_moves) value-head logit, from the mover's side, of the position after each legal move; -inf for
    illegal moves. With `known_wins` a move that leaves the opponent without a move scores +inf (the rules,
    not the network, decide a finished game)."""
    rows, moves, children, child_to_move = child_positions(spec, boards, to_move)
    logits = forward_outputs(model, children, child_to_move, batch_size, "value")
    mover = np.where(to_move[rows] == dom.VERTICAL, logits, -logits)
    if known_wins:
        mover[dom.is_over(spec, children, child_to_move)] = np.inf
    scores = np.full((len(boards), spec.n_moves), -np.inf)
    scores[rows, moves] = mover
    return scores


def sample_moves(scores: np.ndarray, temperature: float, epsilon: float,
                 rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Per row: with probability `epsilon` a uniformly random legal move, else a draw from the softmax of the
    children's win probabilities (sigmoid of the score) over `temperature`; temperature 0 is the argmax (first
    best move). Known wins (+inf) are taken whenever present. Each row draws from its own stream only."""
    greedy = scores.argmax(axis=1)
    if temperature <= 0 and epsilon <= 0:
        return greedy
    moves = greedy.copy()
    for i, rng in enumerate(rngs):
        legal = np.flatnonzero(scores[i] > -np.inf)
        if epsilon > 0 and rng.random() < epsilon:
            moves[i] = legal[rng.integers(len(legal))]
        elif temperature > 0 and not np.isposinf(scores[i, greedy[i]]):
            probability = expit(scores[i, legal])
            weights = np.exp((probability - probability.max()) / temperature)
            moves[i] = legal[np.searchsorted(np.cumsum(weights), rng.random() * weights.sum(), side="right")]
    return moves


class ValueAgent:
    """1-ply lookahead on the value head: evaluate every child in one batched forward and pick the best for
    the mover (argmax), or explore with `temperature` (softmax over child win probabilities) and `epsilon`."""

    def __init__(self, model: torch.nn.Module, name: str = "value", temperature: float = 0.0, epsilon: float = 0.0,
                 batch_size: int = FORWARD_BATCH, known_wins: bool = True):
        if temperature < 0 or not 0 <= epsilon <= 1:
            raise ValueError(f"temperature={temperature}, epsilon={epsilon}: expected temperature >= 0 and "
                             "epsilon in [0, 1].")
        self.model, self.name = model, name
        self.temperature, self.epsilon = float(temperature), float(epsilon)
        self.batch_size, self.known_wins = int(batch_size), bool(known_wins)
        self.positions_evaluated = self.calls = 0

    def choose(self, spec, boards, to_move, rngs) -> np.ndarray:
        scores = lookahead_scores(self.model, spec, boards, to_move, self.batch_size, self.known_wins)
        self.positions_evaluated += int((scores > -np.inf).sum())
        self.calls += 1
        return sample_moves(scores, self.temperature, self.epsilon, rngs)


class PolicyAgent:
    """The policy head played greedily: the legal move with the highest logit."""

    def __init__(self, model: torch.nn.Module, name: str = "policy", batch_size: int = FORWARD_BATCH):
        self.model, self.name, self.batch_size = model, name, int(batch_size)

    def choose(self, spec, boards, to_move, rngs) -> np.ndarray:
        logits = forward_outputs(self.model, boards, to_move, self.batch_size, "policy")
        legal = dom.legal_mask(spec, boards, to_move)
        return np.where(legal, logits, -np.inf).argmax(axis=1)


def network_agent(model: torch.nn.Module, mode: str, name: str | None = None) -> Agent:
    """A network as a player: mode "policy" (greedy policy head) or "value" (1-ply lookahead on the value head)."""
    if mode == "policy":
        return PolicyAgent(model, name or "policy")
    if mode == "value":
        return ValueAgent(model, name or "value")
    raise ValueError(f"mode={mode!r}: expected 'policy' (greedy policy head) or 'value' (1-ply value lookahead).")


def builtin_opponent(name: str) -> Agent:
    """'random' or 'alphabeta:D' (D = 1..12) as an agent."""
    if name == "random":
        return RandomAgent()
    if name.startswith("alphabeta:") and name.split(":", 1)[1].isdigit():
        return AlphaBetaAgent(int(name.split(":", 1)[1]))
    raise ValueError(f"opponent {name!r}: expected 'random' or 'alphabeta:D' with a depth D such as 1, 2 or 3.")


# ------------------------------------------------------------------------------------------------ games

@dataclass(frozen=True)
class GameStreams:
    """The independent random streams of one game: its opening, and the moves of vertical and horizontal."""

    opening: np.random.Generator
    sides: tuple[np.random.Generator, np.random.Generator]


def game_streams(seed: int, n_openings: int, repeats: int = 1) -> list[GameStreams]:
    """Streams for `n_openings` openings, each repeated `repeats` times in a row (identical streams, so repeated
    games share their opening): opening i uses `SeedSequence(seed).spawn(n_openings)[i]`."""
    out = []
    for child in np.random.SeedSequence(int(seed)).spawn(int(n_openings)):
        parts = child.spawn(3)  # spawn once: a second spawn of the same sequence would give new streams
        for _ in range(int(repeats)):
            opening, vertical, horizontal = (np.random.Generator(np.random.PCG64(s)) for s in parts)
            out.append(GameStreams(opening, (vertical, horizontal)))
    return out


def play_games(spec: dom.BoardSpec, agents: Sequence[Agent], vertical_agent: np.ndarray, streams: list[GameStreams],
               opening_plies: int, first: int = dom.VERTICAL,
               progress: Callable[[int], None] | None = None) -> GameRecords:
    """Play len(streams) games at once: game g's first `opening_plies` plies are uniformly random (its opening
    stream), then agents[vertical_agent[g]] moves as vertical and the other agent as horizontal. Each agent is
    asked once per ply for all the games where it is to move. `progress(n)` hears of finished games."""
    n = len(streams)
    vertical_agent = np.asarray(vertical_agent, dtype=np.int64)
    if vertical_agent.shape != (n,) or not np.isin(vertical_agent, range(len(agents))).all():
        raise ValueError(f"vertical_agent: expected ({n},) indices into the {len(agents)} agents.")
    out = empty_records(spec.rows, spec.cols, n)
    boards, to_move = dom.initial_boards(spec, n), dom.initial_to_move(n, first)
    active = ~dom.is_over(spec, boards, to_move)
    _finish(out, np.flatnonzero(~active), 0, to_move, progress)
    ply = 0
    while active.any():
        idx = np.flatnonzero(active)
        moves = _ply_moves(spec, agents, vertical_agent, streams, boards[idx], to_move[idx], idx, ply < opening_plies)
        boards[idx], to_move[idx] = dom.play(spec, boards[idx], to_move[idx], moves)
        out.moves[idx, ply] = moves
        ply += 1
        done = idx[dom.is_over(spec, boards[idx], to_move[idx])]
        active[done] = False
        _finish(out, done, ply, to_move, progress)
    return out


def _ply_moves(spec, agents, vertical_agent, streams, boards, to_move, idx, opening: bool) -> np.ndarray:
    """The moves of one ply in the games `idx`: random in the opening, else each agent's for its own games."""
    if opening:
        return random_legal_moves(dom.legal_mask(spec, boards, to_move), [streams[g].opening for g in idx])
    rngs = [streams[g].sides[side] for g, side in zip(idx, to_move)]
    mover = np.where(to_move == dom.VERTICAL, vertical_agent[idx], 1 - vertical_agent[idx])
    if agents[0] is agents[-1]:  # self-play: one call for every game
        mover[:] = 0
    moves = np.empty(len(idx), dtype=np.int64)
    for k in np.unique(mover):
        chosen = np.flatnonzero(mover == k)
        moves[chosen] = agents[k].choose(spec, boards[chosen], to_move[chosen], [rngs[i] for i in chosen])
    return moves


def _finish(out: GameRecords, games: np.ndarray, ply: int, to_move: np.ndarray, progress) -> None:
    """Record the length and winner (the side that moved last) of games that just ended."""
    out.lengths[games] = ply
    out.winners[games] = 1 - to_move[games]
    if progress is not None and len(games):
        progress(len(games))


# ------------------------------------------------------------------------------------------------ statistics

def wilson_interval(wins: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = wins / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if wins == 0 else low), (1.0 if wins == n else high)  # exact ends, free of rounding


def elo_difference(score: float) -> float | None:
    """Elo difference implied by an expected score (logistic, 400 points per factor 10 in odds); None at 0 or 1
    (unbounded)."""
    if not 0.0 < score < 1.0:
        return None
    return 400.0 * math.log10(score / (1.0 - score))


@dataclass
class MatchResult:
    """Outcome of one pairing, from agent `a`'s side. `elo` uses the score clipped to [1/(2n), 1 - 1/(2n)]
    so that a clean sweep has a finite estimate; the interval maps the Wilson bounds (None = unbounded)."""

    a: str
    b: str
    n_games: int
    wins: int
    wins_as_vertical: int
    games_as_vertical: int
    mean_length: float
    seconds: float
    seed: int
    opening_plies: int
    records: GameRecords | None = field(default=None, repr=False)

    @property
    def win_rate(self) -> float:
        return self.wins / self.n_games if self.n_games else float("nan")

    @property
    def win_ci(self) -> tuple[float, float]:
        return wilson_interval(self.wins, self.n_games)

    @property
    def elo(self) -> float | None:
        if not self.n_games:
            return None
        edge = 1.0 / (2 * self.n_games)
        return elo_difference(min(max(self.win_rate, edge), 1.0 - edge))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no game records)."""
        low, high = self.win_ci
        horizontal = self.n_games - self.games_as_vertical
        return {"a": self.a, "b": self.b, "n_games": self.n_games, "wins": self.wins, "win_rate": self.win_rate,
                "win_ci95": [low, high], "elo": self.elo, "elo_ci95": [elo_difference(low), elo_difference(high)],
                "win_rate_as_vertical": self.wins_as_vertical / max(1, self.games_as_vertical),
                "win_rate_as_horizontal": (self.wins - self.wins_as_vertical) / max(1, horizontal),
                "mean_length": self.mean_length, "seconds": self.seconds, "seed": self.seed,
                "opening_plies": self.opening_plies}


def play_match(spec: dom.BoardSpec, a: Agent, b: Agent, n_games: int = 200, seed: int = 0, opening_plies: int = 4,
               first: int = dom.VERTICAL, progress: Callable[[int], None] | None = None) -> MatchResult:
    """`n_games` (even) games of `a` against `b`: n_games/2 random openings of `opening_plies` plies, each played
    once with `a` as vertical (game 2i) and once as horizontal (game 2i+1)."""
    if n_games < 2 or n_games % 2:
        raise ValueError(f"n_games={n_games}: expected an even number >= 2 (each opening is played with both colours).")
    if opening_plies < 0:
        raise ValueError(f"opening_plies={opening_plies}: expected a count >= 0.")
    started = time.perf_counter()
    a_vertical = np.tile([True, False], n_games // 2)
    streams = game_streams(seed, n_games // 2, repeats=2)
    records = play_games(spec, (a, b), np.where(a_vertical, 0, 1), streams, opening_plies, first, progress)
    a_won = records.winners == np.where(a_vertical, dom.VERTICAL, dom.HORIZONTAL)
    return MatchResult(a.name, b.name, n_games, int(a_won.sum()), int((a_won & a_vertical).sum()),
                       int(a_vertical.sum()), float(records.lengths.mean()), time.perf_counter() - started,
                       int(seed), int(opening_plies), records)


def evaluate_play(model: torch.nn.Module, spec: dom.BoardSpec, mode: str = "policy",
                  opponents: Sequence[str] = DEFAULT_OPPONENTS, n_games: int = 200, seed: int = 0,
                  opening_plies: int = 4) -> list[MatchResult]:
    """The model (played by `mode`) against each built-in opponent on the same openings."""
    agent = network_agent(model, mode)
    return [play_match(spec, agent, builtin_opponent(name), n_games, seed, opening_plies) for name in opponents]
