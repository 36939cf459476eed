"""`TransformerConfig`, the token format, the move-code table and the named model presets.

Kept apart from the modules so that data code can build tokens and move tables without importing the network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from modinterp.games.domineering import BoardSpec

# Token values. A board is one token per cell (row-major), optionally a side-to-move token, then CLS last.
EMPTY, OCCUPIED, CLS = 0, 1, 2
OUTPUT_HEADS = ("value", "policy", "concept")  # the output heads, in the order of `ModelOutput`
VERTICAL_TO_MOVE, HORIZONTAL_TO_MOVE = 3, 4
BUS_NORMS = ("layer", "none")  # TransformerConfig.bus_norm: the bus normalised as its own group, or passed through
MAX_SHARE = 1000  # module_shares are small ratios (1:3); the cap keeps the split's integer arithmetic exact  # only with `side_to_move=True`: token = 3 + player


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a `BoardTransformer`. Validated on construction; errors name the field and the fix."""

    rows: int
    cols: int
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_head: int = 16
    d_mlp: int = 512
    n_concepts: int = 16
    side_to_move: bool = False  # add a side-to-move token before CLS (off, as in the original)
    ln_eps: float = 1e-5
    # Per-module residual subspaces (models/subspace.py): k private residual slices plus a shared bus of
    # bus_width dims; each head and neuron reads and writes only its module's slice and the bus. 1 / 0: off.
    n_modules: int = 1
    bus_width: int = 0
    # One-way bus (models/subspace.py): -1 = every module reads and writes the bus; m = only module m writes it and
    # every module reads it, an interface from m to the others (e.g. the policy module's features to the value).
    bus_writer: int = -1
    # How each LayerNorm treats the bus (models/subspace.py): "layer" normalises it as its own group (a bus of b dims
    # then carries a unit vector in the b - 1 dims left by centring: b - 2 numbers; b = 2: one sign per position); "none" passes it through unnormalised
    # (gain and bias only), so it carries all b numbers, and a bus of 1 is allowed.
    bus_norm: str = "layer"
    # Unequal modules (models/subspace.py): module m gets about module_shares[m] / sum of each layer's heads and
    # neurons and of the private residual dims, e.g. (1, 3) for a value module a third the policy module's size.
    # None = equal shares.
    module_shares: tuple[int, ...] | None = None
    # Output routing (models/subspace.py): the module whose slice (and the bus) each output head reads; -1 = the
    # whole stream. Routing the value and policy heads to different modules gives the modules different jobs.
    value_module: int = -1
    policy_module: int = -1
    concept_module: int = -1

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 2 <= value <= 16:
                raise ValueError(f"TransformerConfig.{name}={value!r}: expected an int in 2..16 (board side length)")
        for name in ("d_model", "n_layers", "n_heads", "d_head", "d_mlp", "n_concepts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TransformerConfig.{name}={value!r}: expected a positive int")
        if not isinstance(self.side_to_move, bool):
            raise ValueError(f"TransformerConfig.side_to_move={self.side_to_move!r}: expected True or False")
        if not (isinstance(self.ln_eps, float) and 0 < self.ln_eps < 1):
            raise ValueError(f"TransformerConfig.ln_eps={self.ln_eps!r}: expected a float in (0, 1), e.g. 1e-5")
        self._check_subspaces()

    def _check_subspaces(self) -> None:
        """n_modules / bus_width: every module needs a head, a neuron and residual dims of its own, and no residual
        group may be one-dimensional (its LayerNorm would map it to a constant: a bus or slice that carries nothing)."""
        k, bus = self.n_modules, self.bus_width
        self._check_shares()
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"TransformerConfig.n_modules={k!r}: expected a positive int (1 = no subspaces)")
        if not isinstance(bus, int) or isinstance(bus, bool) or bus < 0:
            raise ValueError(f"TransformerConfig.bus_width={bus!r}: expected an int >= 0")
        if k == 1 and bus:
            raise ValueError(f"TransformerConfig.bus_width={bus} needs n_modules > 1 (a bus joins modules)")
        for name, size in (("n_heads", self.n_heads), ("d_mlp", self.d_mlp), ("d_model - bus_width", self.d_model - bus)):
            if size < k:
                raise ValueError(f"TransformerConfig.n_modules={k} exceeds {name}={size}: every module needs at "
                                 "least one head, one MLP neuron and one private residual dimension")
            if self.module_shares is not None and min(self._module_sizes(size)) < 1:
                raise ValueError(f"TransformerConfig.module_shares={self.module_shares}: a module gets no unit of "
                                 f"{name}={size} (sizes {self._module_sizes(size)}); use more even shares")
        if self.bus_norm not in BUS_NORMS:
            raise ValueError(f"TransformerConfig.bus_norm={self.bus_norm!r}: expected one of "
                             f"{', '.join(map(repr, BUS_NORMS))}")
        if self.bus_norm == "none" and not bus:
            raise ValueError("TransformerConfig.bus_norm='none' leaves a bus unnormalised, and this model has none "
                             "(n_modules > 1 and bus_width > 0 make one); use the default 'layer'")
        if k > 1 and bus == 1 and self.bus_norm == "layer":
            raise ValueError("TransformerConfig.bus_width=1: a one-dimensional bus is normalised to a constant by "
                             "each LayerNorm (models/subspace.py), so it would join nothing; use 0, >= 2, or "
                             "bus_norm='none'")
        if k > 1 and min(self._module_sizes(self.d_model - bus)) < 2:
            raise ValueError(f"TransformerConfig.n_modules={k} with d_model - bus_width={self.d_model - bus} leaves "
                             "a module 1 residual dimension, which its LayerNorm maps to a constant; give every "
                             "module at least 2")
        w = self.bus_writer
        if not isinstance(w, int) or isinstance(w, bool) or not -1 <= w < k or (w != -1 and not bus):
            fix = "; a writer needs n_modules > 1 and a bus (bus_width > 0)" if not bus else f" or a module in 0..{k - 1}"
            raise ValueError(f"TransformerConfig.bus_writer={w!r}: expected -1 (every module writes the bus){fix}")
        for name in OUTPUT_HEADS:
            m = getattr(self, f"{name}_module")
            if not isinstance(m, int) or isinstance(m, bool) or not -1 <= m < k or (k == 1 and m != -1):
                routes = "; routing a head needs n_modules > 1" if k == 1 else f" or a module in 0..{k - 1}"
                raise ValueError(f"TransformerConfig.{name}_module={m!r}: expected -1 (the head reads the whole "
                                 f"stream){routes}")

    def _check_shares(self) -> None:
        shares = self.module_shares
        if shares is None:
            return
        if isinstance(shares, list):  # from TOML / JSON
            object.__setattr__(self, "module_shares", shares := tuple(shares))
        if (not isinstance(shares, tuple) or len(shares) != self.n_modules or self.n_modules == 1
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SHARE for v in shares)):
            raise ValueError(f"TransformerConfig.module_shares={shares!r}: expected None (equal modules) or, with "
                             f"n_modules={self.n_modules} > 1, that many ints in 1..{MAX_SHARE}, e.g. (1, 3)")
        divisor = math.gcd(*shares)  # shares are ratios: one config per split ((2, 6) is (1, 3), (1, 1) is None)
        object.__setattr__(self, "module_shares", None if len(set(shares)) == 1 else tuple(v // divisor for v in shares))

    def _module_sizes(self, n_units: int) -> list[int]:
        return np.bincount(module_index(n_units, self.n_modules, self.module_shares), minlength=self.n_modules).tolist()

    @property
    def modular(self) -> bool:
        """Whether the residual stream is split into per-module subspaces (n_modules > 1)."""
        return self.n_modules > 1

    # Derived sizes (the board geometry and move codes are the engine's: one convention everywhere) ----------
    @property
    def board(self) -> BoardSpec:
        return BoardSpec(self.rows, self.cols)

    @property
    def n_cells(self) -> int:
        return self.board.n_cells

    @property
    def n_vertical(self) -> int:
        return self.board.n_vertical

    @property
    def n_moves(self) -> int:
        return self.board.n_moves

    @property
    def seq_len(self) -> int:
        """Tokens per position: the cells, the optional side-to-move token, CLS."""
        return self.n_cells + 1 + int(self.side_to_move)

    @property
    def n_token_values(self) -> int:
        return 5 if self.side_to_move else 3

    # Serialisation ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TransformerConfig.from_dict: unknown field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


def module_index(n_units: int, n_modules: int, shares: tuple[int, ...] | list[int] | None = None) -> np.ndarray:
    """(n_units,) module of each unit: contiguous runs, module m's run holding about shares[m] / sum(shares) of the
    units (equal shares by default, so runs differ by at most one: unit i -> i*k // n). The split rule of
    `models/subspace.py` (`module_of`), kept here so that the config can validate it without torch."""
    shares = [1] * n_modules if shares is None else list(shares)
    starts = np.cumsum(shares[:-1], dtype=np.int64) * n_units  # module m >= 1 starts at ceil(n * cum_m / total)
    return (starts[None, :] <= np.arange(n_units)[:, None] * sum(shares)).sum(1)


def move_cells_table(rows: int, cols: int) -> np.ndarray:
    """(n_moves, 2) flat cell indices covered by each move code, top/left cell first (the engine's move codes)."""
    return np.array(BoardSpec(rows, cols).move_cells, dtype=np.int64)


def board_tokens(boards: np.ndarray, config: TransformerConfig, player: np.ndarray | int | None = None) -> np.ndarray:
    """Token array (B, seq_len) int64 from boards (B, n_cells) of 0/1; `player` is required iff side_to_move."""
    boards = np.asarray(boards)
    if boards.ndim != 2 or boards.shape[1] != config.n_cells:
        raise ValueError(f"boards have shape {boards.shape}; expected (batch, {config.n_cells}) for a "
                         f"{config.rows}x{config.cols} board")
    parts = [boards.astype(np.int64)]
    if config.side_to_move:
        if player is None:
            raise ValueError("config.side_to_move is True: pass player (0 vertical, 1 horizontal) per board")
        side = VERTICAL_TO_MOVE + np.broadcast_to(np.asarray(player, dtype=np.int64), (len(boards),))
        parts.append(side[:, None])
    parts.append(np.full((len(boards), 1), CLS, dtype=np.int64))
    return np.concatenate(parts, axis=1)


# Presets ----------------------------------------------------------------------------------------------------
# `small`/`large` are the original's sizes (563,730 and 1,650,066 parameters on 16x16 with 16 concepts).
# The cpu-* pair shares d_model and d_head (so the small one embeds into the large one) and is sized for the
# quick growth study on an 8x8 board (configs/study-quick.toml: 4 seeds x 7 conditions in about an hour on 2 cores);
# the smoke pair is tiny, for tests.
PRESETS: dict[str, dict[str, Any]] = {
    "small": dict(d_model=128, d_head=16, n_layers=3, n_heads=4, d_mlp=512),
    "large": dict(d_model=128, d_head=16, n_layers=6, n_heads=8, d_mlp=768),
    "cpu-small": dict(d_model=32, d_head=8, n_layers=2, n_heads=2, d_mlp=64),
    "cpu-large": dict(d_model=32, d_head=8, n_layers=4, n_heads=4, d_mlp=128),
    "smoke": dict(d_model=32, d_head=8, n_layers=1, n_heads=2, d_mlp=64),
    "smoke-large": dict(d_model=32, d_head=8, n_layers=2, n_heads=4, d_mlp=128),
}


def preset_config(preset: str, rows: int, cols: int, **overrides: Any) -> TransformerConfig:
    """The named preset for a rows x cols board, with fields overridden by keyword."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {sorted(PRESETS)}")
    if {"rows", "cols"} & set(overrides):
        raise ValueError("pass rows and cols as positional arguments, not as overrides")
    fields = {**PRESETS[preset], **overrides}
    known = {f.name for f in dataclasses.fields(TransformerConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown override(s) {unknown} for preset {preset!r}; known fields are {sorted(known)}")
    return TransformerConfig(rows=rows, cols=cols, **fields)
