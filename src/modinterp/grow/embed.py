"""Function-preserving embedding of a small BoardTransformer into a larger one (Net2Net-style, zero output side).

`embed(small, large, at_layer=k, layers=L)` puts the small model's blocks L = [l_0, l_1, ...] (all by default)
into the large model's blocks k, k+1, ...: heads into slots 0..h_small-1, MLP neurons into 0..d_mlp_small-1,
both LayerNorms. The fresh heads of an embedded block get W_O = 0 and its fresh MLP neurons zero output columns
(their input weights stay random, so gradients wake them up); an embedded large block therefore computes exactly
the function of its input that the small block computed.

What "function preserved" means, and what `verify_embedding` checks:
- Each embedded block equals its small block as a function of the residual stream entering it (always true).
- The *reference* is the small model restricted to L: small embeddings -> small blocks l_0, l_1, ... -> final LN
  and heads. With L = all layers this is the small model itself; with a subset (e.g. L = [1]) it is the small
  model with the other layers removed -- the large model then does not compute the small model's function.
- The large stream entering block k equals the small embedding when the embeddings are copied and blocks 0..k-1
  are identities: always for k = 0 (embeddings are copied by default), and for k > 0 only with
  `preserve_outputs=True` (which zeroes the output side of every non-embedded block). Verification then starts
  the reference from the small model's embedding: an end-to-end check. Otherwise (k > 0 with random earlier
  blocks) it starts the reference from the large model's own stream entering block k, and checks that the
  embedded blocks transform that stream exactly as the small blocks would.
- The outputs (value, policy, concepts) are compared when they are meant to be preserved: output heads copied
  and no random block after the embedded ones (`preserve_outputs=True`, or the embedded blocks are the last).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from modinterp.errors import ModinterpError
from modinterp.models.subspace import module_of
from modinterp.models.transformer import Block, BoardTransformer

__all__ = ["EmbeddingPlan", "EmbeddingReport", "EmbeddingMismatchError", "EmbeddingVerificationError", "embed",
           "verify_embedding", "parameter_masks"]


class EmbeddingMismatchError(ModinterpError, ValueError):
    """The small model does not fit into the large one; the message names the mismatch."""


class EmbeddingVerificationError(RuntimeError):
    """The grown model does not reproduce the reference within the tolerance."""


@dataclass(frozen=True)
class EmbeddingPlan:
    """Where the small model went. `layers[j]` of the small model sits in large block `at_layer + j`."""

    at_layer: int
    layers: tuple[int, ...]
    copy_heads: bool
    copy_embeddings: bool
    preserve_outputs: bool
    n_layers_large: int

    @property
    def large_layers(self) -> list[int]:
        return [self.at_layer + j for j in range(len(self.layers))]

    @property
    def starts_from_small_embedding(self) -> bool:
        """Whether the large stream entering block at_layer is the small model's embedding."""
        return self.copy_embeddings and (self.at_layer == 0 or self.preserve_outputs)

    @property
    def outputs_preserved(self) -> bool:
        after_last = self.at_layer + len(self.layers) == self.n_layers_large
        return self.copy_heads and (self.preserve_outputs or after_last)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"layers": list(self.layers)}


# Embedding --------------------------------------------------------------------------------------------------
def embed(small: BoardTransformer, large: BoardTransformer, at_layer: int = 0, layers: list[int] | None = None,
          copy_heads: bool = True, preserve_outputs: bool = False,
          copy_embeddings: bool | None = None) -> BoardTransformer:
    """Copy `small` into `large` in place (see the module docstring) and return `large`.

    at_layer: first large block that receives a small block. layers: small block indices, strictly increasing
    (default all). copy_heads: also copy final LN, value, concept and policy heads. preserve_outputs: zero the
    attention W_O and MLP W_out (weights and bias) of every non-embedded large block, so the large model
    computes the reference function end to end. copy_embeddings: default True when at_layer == 0 or
    preserve_outputs, else False (random earlier blocks would not pass the small embedding through anyway).
    The plan is stored as `large.embedding_plan` for `verify_embedding`.
    """
    layers = list(range(small.config.n_layers)) if layers is None else list(layers)
    if copy_embeddings is None:
        copy_embeddings = at_layer == 0 or preserve_outputs
    check_compatible(small, large, at_layer, layers, copy_heads)
    plan = EmbeddingPlan(at_layer, tuple(layers), copy_heads, copy_embeddings, preserve_outputs,
                         large.config.n_layers)
    with torch.no_grad():
        if copy_embeddings:
            large.state_embed.weight.copy_(small.state_embed.weight)
            large.pos_embed.weight.copy_(small.pos_embed.weight)
        for source, target in zip(layers, plan.large_layers):
            copy_block(small.blocks[source], large.blocks[target])
        if preserve_outputs:
            for i in set(range(large.config.n_layers)) - set(plan.large_layers):
                silence_block(large.blocks[i])
        if copy_heads:
            for name in ("ln_final", "value_head", "concept_head", "policy_head"):
                getattr(large, name).load_state_dict(getattr(small, name).state_dict())
    large.embedding_plan = plan
    return large


def check_compatible(small: BoardTransformer, large: BoardTransformer, at_layer: int, layers: list[int],
                     copy_heads: bool) -> None:
    """Raise EmbeddingMismatchError naming the first mismatch; nothing is modified before this passes."""
    s, g = small.config, large.config
    for name in ("rows", "cols", "side_to_move", "d_model", "d_head", "ln_eps"):
        if getattr(s, name) != getattr(g, name):
            what = "board size" if name in ("rows", "cols") else name
            raise EmbeddingMismatchError(f"{what} differs: small {name}={getattr(s, name)}, large "
                                         f"{name}={getattr(g, name)}; build both models with the same {name}")
    if s.n_heads > g.n_heads:
        raise EmbeddingMismatchError(f"too many heads: small n_heads={s.n_heads} > large n_heads={g.n_heads}")
    if s.d_mlp > g.d_mlp:
        raise EmbeddingMismatchError(f"too many MLP neurons: small d_mlp={s.d_mlp} > large d_mlp={g.d_mlp}")
    _check_same_subspaces(s, g)
    if copy_heads and s.n_concepts != g.n_concepts:
        raise EmbeddingMismatchError(f"n_concepts differs: small {s.n_concepts}, large {g.n_concepts}; "
                                     "pass copy_heads=False or build both with the same n_concepts")
    if not layers:
        raise EmbeddingMismatchError("layers is empty: name at least one small-model layer to embed")
    if any(not 0 <= i < s.n_layers for i in layers) or any(a >= b for a, b in zip(layers, layers[1:])):
        raise EmbeddingMismatchError(f"layers={layers}: expected strictly increasing indices of the small "
                                     f"model's blocks 0..{s.n_layers - 1}")
    if at_layer < 0 or at_layer + len(layers) > g.n_layers:
        raise EmbeddingMismatchError(f"too many layers: {len(layers)} small layer(s) at at_layer={at_layer} need "
                                     f"large blocks {at_layer}..{at_layer + len(layers) - 1}, but the large "
                                     f"model has blocks 0..{g.n_layers - 1}")


def _check_same_subspaces(s, g) -> None:
    """Modular models (models/subspace.py) embed only into the same residual split, each copied head and neuron
    landing in a slot of the same module (its masks); otherwise the copy would not compute the same function."""
    fields = ("n_modules", "bus_width", "bus_writer", "bus_norm", "module_shares")
    if any(getattr(s, f) != getattr(g, f) for f in fields):
        raise EmbeddingMismatchError("residual subspaces differ: small " + ", ".join(f"{f}={getattr(s, f)}" for f in fields)
                                     + "; large " + ", ".join(f"{f}={getattr(g, f)}" for f in fields))
    if _routes(s) != _routes(g):
        raise EmbeddingMismatchError(f"output heads read different modules: small (value, policy, concept)_module="
                                     f"{_routes(s)}, large {_routes(g)}; build both with the same routing")
    if s.modular:
        for what, n_small, n_large in (("heads", s.n_heads, g.n_heads), ("MLP neurons", s.d_mlp, g.d_mlp)):
            if not torch.equal(module_of(n_small, s.n_modules, s.module_shares),
                               module_of(n_large, g.n_modules, g.module_shares)[:n_small]):
                raise EmbeddingMismatchError(f"modular {what} do not line up: the small model's {n_small} {what} "
                                             f"would land in slots of other modules among the large model's "
                                             f"{n_large}; build both with the same number of {what}")


def _routes(cfg) -> tuple[int, int, int]:
    """The module each output head reads (value, policy, concept); -1 = the whole stream."""
    return cfg.value_module, cfg.policy_module, cfg.concept_module


def copy_block(source: Block, target: Block) -> None:
    """Small block -> large block: heads into slots 0..h-1, neurons into 0..m-1; fresh parts write nothing."""
    heads, neurons = source.attn.n_heads, source.mlp.W_in.out_features
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        getattr(target.attn, name)[:heads].copy_(getattr(source.attn, name))
    target.attn.W_O[heads:].zero_()
    target.mlp.W_in.weight[:neurons].copy_(source.mlp.W_in.weight)
    target.mlp.W_in.bias[:neurons].copy_(source.mlp.W_in.bias)
    target.mlp.W_out.weight[:, :neurons].copy_(source.mlp.W_out.weight)
    target.mlp.W_out.weight[:, neurons:].zero_()
    target.mlp.W_out.bias.copy_(source.mlp.W_out.bias)
    target.ln1.load_state_dict(source.ln1.state_dict())
    target.ln2.load_state_dict(source.ln2.state_dict())


def silence_block(block: Block) -> None:
    """Zero the block's output side (W_O, W_out weight and bias): it becomes an identity on the stream."""
    block.attn.W_O.zero_()
    block.mlp.W_out.weight.zero_()
    block.mlp.W_out.bias.zero_()


def parameter_masks(plan: EmbeddingPlan, small: BoardTransformer, large: BoardTransformer
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(copied, zeroed): per large parameter name, bool masks of the elements `embed` copied from `small` and of
    those it set to zero under `plan`. Every other element keeps the large model's initial value (tested).
    Use them for per-element learning rates or to check the paired design."""
    params = dict(large.named_parameters())
    copied = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in params.items()}
    zeroed = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in params.items()}
    heads, neurons = small.config.n_heads, small.config.d_mlp
    if plan.copy_embeddings:
        copied["state_embed.weight"][:] = copied["pos_embed.weight"][:] = True
    for i in plan.large_layers:
        block = f"blocks.{i}."
        for name in ("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "mlp.W_in.weight", "mlp.W_in.bias"):
            copied[block + name][:neurons if name.startswith("mlp") else heads] = True
        zeroed[block + "attn.W_O"][heads:] = True
        copied[block + "mlp.W_out.weight"][:, :neurons] = True
        zeroed[block + "mlp.W_out.weight"][:, neurons:] = True
        for name in ("mlp.W_out.bias", "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"):
            copied[block + name][:] = True
    if plan.preserve_outputs:
        for i in set(range(plan.n_layers_large)) - set(plan.large_layers):
            for name in ("attn.W_O", "mlp.W_out.weight", "mlp.W_out.bias"):
                zeroed[f"blocks.{i}.{name}"][:] = True
    if plan.copy_heads:
        for name in params:
            if name.startswith(("ln_final.", "value_head.", "concept_head.", "policy_head.")):
                copied[name][:] = True
    return copied, zeroed


# Verification -----------------------------------------------------------------------------------------------
@dataclass
class EmbeddingReport:
    """Largest |difference| between the grown model and the reference, per embedded layer and per output."""

    plan: EmbeddingPlan
    n_positions: int
    start: str  # "small embedding" or "large stream entering block k"
    resid_diffs: dict[str, float] = field(default_factory=dict)  # large block index (str) -> max |diff|
    output_diffs: dict[str, float] = field(default_factory=dict)  # value/policy/concepts, if preserved
    tolerance: float = 1e-5

    @property
    def max_abs_diff(self) -> float:
        return max([*self.resid_diffs.values(), *self.output_diffs.values()])

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict:
        return {"max_abs_diff": self.max_abs_diff, "passed": self.passed, "tolerance": self.tolerance,
                "n_positions": self.n_positions, "start": self.start, "resid_diffs": dict(self.resid_diffs),
                "output_diffs": dict(self.output_diffs), "plan": self.plan.to_dict()}

    def describe(self) -> str:
        parts = [f"layer {k}: {v:.2e}" for k, v in self.resid_diffs.items()]
        parts += [f"{k}: {v:.2e}" for k, v in self.output_diffs.items()]
        return f"max |diff| from {self.start} over {self.n_positions} positions: " + ", ".join(parts)


@torch.no_grad()
def verify_embedding(small: BoardTransformer, large: BoardTransformer, tokens: torch.Tensor,
                     plan: EmbeddingPlan | None = None, tolerance: float = 1e-5,
                     raise_on_failure: bool = True) -> EmbeddingReport:
    """Run `tokens` (real positions) through both models and compare the residual stream after every embedded
    block (and the outputs when they are meant to be preserved) with the reference; see the module docstring.
    Raises EmbeddingVerificationError above `tolerance` (1e-5 suits fp32) unless raise_on_failure=False."""
    plan = plan or getattr(large, "embedding_plan", None)
    if plan is None:
        raise ValueError("the large model carries no embedding_plan; pass plan= (as returned by embed) explicitly")
    first, names = plan.at_layer, [f"blocks.{i}.hook_resid_post" for i in plan.large_layers]
    large_out, cache = large.run_with_cache(tokens, names=[f"blocks.{first}.hook_resid_pre", *names])
    if plan.starts_from_small_embedding:
        stream, start = small.embed_tokens(tokens), "small embedding"
    else:
        stream, start = cache[f"blocks.{first}.hook_resid_pre"], f"large stream entering block {first}"
    report = EmbeddingReport(plan, len(tokens), start, tolerance=tolerance)
    for source, target, name in zip(plan.layers, plan.large_layers, names):
        stream = small.blocks[source](stream)
        report.resid_diffs[str(target)] = max_abs_diff(stream, cache[name])
    if plan.outputs_preserved:
        reference = small.unembed(stream)
        for key in ("value", "policy", "concepts"):
            report.output_diffs[key] = max_abs_diff(getattr(reference, key), getattr(large_out, key))
    if raise_on_failure and not report.passed:
        raise EmbeddingVerificationError(f"embedding not preserved (tolerance {tolerance:g}): {report.describe()}")
    return report


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()
