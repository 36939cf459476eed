"""What a BoardTransformer module's scalar activation is: the number a description must predicate on each board.

- `pc1`: the first principal component of the module's write into the residual stream at CLS (fitted on the
  evidence split). It follows whatever varies most in the write, which in these models is board-wide mobility
  in every module (docs/modularity.md 8.4), so a description of it says little about the module's job.
- `value`: the module's contribution to the value output, value(intact) - value(module mean-ablated): what the
  module adds to the predicted outcome on that board.
- `move`: the module's contribution to how the policy ranks a given legal move m among the legal moves, on
  (board, move) pairs (`subjects.board_moves`): the change of m's logit relative to the mean logit of the legal
  moves of m's player, intact minus mean-ablated. Relative to the mean, so a shift shared by every move of a
  board (which a log-probability's normaliser would add to every pair) is not counted.

The contributions need no fit and are total effects (through every later layer), not direct attributions: the
policy head is nonlinear (`PolicyHead`), and a module's effect on a head can run through other modules. The value
output is the logit that vertical wins (whoever is to move).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from modinterp.describe.evidence.activation import ModuleActivation
from modinterp.describe.evidence.transformer import ModuleUnits, ablated, module_writes, total_write
from modinterp.describe.subjects.board import BoardSubject
from modinterp.describe.subjects.board_moves import BoardMoveSubject
from modinterp.models import BoardTransformer

READOUTS = ("pc1", "value", "move")  # the activation a module is described by (DescribeConfig.activation)
READOUT_MEANING = {
    "pc1": "first principal component (evidence split) of the module's write into the residual stream at CLS",
    "value": "the module's contribution to the value output: value(intact) - value(module mean-ablated)",
    "move": "the module's contribution to a given legal move's rank: its logit minus the legal moves' mean logit, "
            "intact - mean-ablated, on (board, move) pairs",
}


def check_readout(kind: str) -> str:
    """`kind` if it names a readout, else a ValueError naming the option and the choices."""
    if kind not in READOUTS:
        raise ValueError(f"activation (--activation) {kind!r}: expected one of {', '.join(READOUTS)}")
    return kind


@dataclass
class WritePC1:
    """PC1 of the module's total write at CLS; `fit` on the evidence boards first."""

    model: BoardTransformer
    module: ModuleUnits
    subject: BoardSubject
    pc1: ModuleActivation

    def _write(self, boards: np.ndarray) -> np.ndarray:
        tokens = self.subject.tokens(self.model, boards)
        return total_write(module_writes(self.model, tokens, [self.module])[self.module.name])

    def fit(self, boards: np.ndarray) -> "WritePC1":
        """Learn the centring and direction from the evidence boards."""
        self.pc1.fit(self._write(boards))
        return self

    def __call__(self, boards: np.ndarray) -> np.ndarray:
        return self.pc1.transform(self._write(boards))

    def info(self) -> dict:
        """What descriptions.json records about the fit."""
        return {"pc1_explained_variance": round(self.pc1.explained_variance_ratio_, 4)}


class IntactOutputs:
    """The intact model's head outputs on board sets, computed once per set and shared by every module's (and
    every random module's) contribution: half the forward passes of a describe run."""

    def __init__(self, model: BoardTransformer, subject: BoardSubject) -> None:
        self.model, self.subject = model, subject
        self._cache: dict[bytes, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def __call__(self, boards: np.ndarray) -> dict[str, torch.Tensor]:
        """{"value": (B,), "policy": (B, n_moves)} of the intact model on `boards` (one uint8 array)."""
        boards = np.ascontiguousarray(boards)
        key = hashlib.blake2b(boards.tobytes(), digest_size=16).digest() + str(boards.shape).encode()
        if key not in self._cache:
            out = self.model(self.subject.tokens(self.model, boards))
            self._cache[key] = {"value": out.value, "policy": out.policy}
        return self._cache[key]


@dataclass
class HeadContribution:
    """The module's contribution of kind "value" or "move" on each input (module docstring); the module's units are
    replaced by `means` (per-position means over reference boards) when ablated; `intact` supplies the intact
    model's outputs (shared between modules). "move" needs (board, move) inputs (`BoardMoveSubject`)."""

    model: BoardTransformer
    module: ModuleUnits
    subject: BoardSubject | BoardMoveSubject
    kind: str
    means: dict[str, torch.Tensor]
    intact: IntactOutputs

    def __post_init__(self) -> None:
        if self.kind not in ("value", "move"):
            raise ValueError(f"HeadContribution kind {self.kind!r}: expected 'value' or 'move'")

    def fit(self, inputs: np.ndarray) -> "HeadContribution":
        """Nothing to learn: a contribution is defined on each input alone."""
        return self

    @torch.no_grad()
    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs)
        head = "value" if self.kind == "value" else "policy"
        intact = self.intact(inputs)[head]
        tokens = self.subject.tokens(self.model, inputs)
        with ablated(self.model, self.module, self.means):
            cut = getattr(self.model(tokens), head)
        if self.kind == "value":
            return (intact - cut).double().cpu().numpy()
        legal = torch.as_tensor(self.subject.legal(inputs), device=tokens.device)
        move = torch.as_tensor(self.subject.move_part(inputs), device=tokens.device)
        return move_contribution(intact, cut, legal, move)

    def info(self) -> dict:
        """What descriptions.json records about the fit (nothing is fitted)."""
        return {}


def relative_logit(logits: torch.Tensor, legal: torch.Tensor, move: torch.Tensor) -> torch.Tensor:
    """(N,) the logit of `move` minus the mean logit of the `legal` moves of its row (float64, on the device)."""
    logits, legal = logits.double(), legal.to(torch.float64)
    mean = (logits * legal).sum(-1) / legal.sum(-1).clamp(min=1.0)
    return logits.gather(-1, move.long()[:, None]).squeeze(-1) - mean


def move_contribution(intact: torch.Tensor, cut: torch.Tensor, legal: torch.Tensor, move: torch.Tensor) -> np.ndarray:
    """Per row, how much the module raises `move` above the mean legal move: relative logit intact - cut."""
    return (relative_logit(intact, legal, move) - relative_logit(cut, legal, move)).cpu().numpy()


class Readouts:
    """The readout `kind` (one of READOUTS) of any module of `model`; contributions share one `IntactOutputs`.
    `means`: the per-position means that mean ablation substitutes (`transformer.mean_activations`)."""

    def __init__(self, kind: str, model: BoardTransformer, subject: BoardSubject | BoardMoveSubject,
                 means: dict[str, torch.Tensor]):
        if (check_readout(kind) == "move") != isinstance(subject, BoardMoveSubject):
            wanted = "(board, move) pairs: a BoardMoveSubject" if kind == "move" else "boards: a BoardSubject"
            raise ValueError(f"activation {kind!r} reads {wanted}; got a {type(subject).__name__}")
        self.kind, self.model, self.subject, self.means = kind, model, subject, means
        self.intact = IntactOutputs(model, subject)

    def of(self, module: ModuleUnits) -> WritePC1 | HeadContribution:
        """The module's readout, not yet fitted."""
        if self.kind == "pc1":
            return WritePC1(self.model, module, self.subject, ModuleActivation())
        return HeadContribution(self.model, module, self.subject, self.kind, self.means, self.intact)

    def activations(self, modules: list[ModuleUnits], evidence: np.ndarray,
                    heldout: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{module name: (activation on `evidence`, on `heldout`)}, each readout fitted on `evidence`: what
        `of(module).fit(evidence)` gives, with every module's write computed in one pass for "pc1"."""
        if self.kind != "pc1":
            return {m.name: _both(self.of(m).fit(evidence), evidence, heldout) for m in modules}
        writes = [module_writes(self.model, self.subject.tokens(self.model, x), modules) for x in (evidence, heldout)]
        out = {}
        for m in modules:
            pc1 = ModuleActivation().fit(total_write(writes[0][m.name]))
            out[m.name] = (pc1.transform(total_write(writes[0][m.name])), pc1.transform(total_write(writes[1][m.name])))
        return out


def _both(readout, evidence: np.ndarray, heldout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return readout(evidence), readout(heldout)
