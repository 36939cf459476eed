"""modinterp.describe: describe each module of a network and its interfaces in words, and score each description.

The library stages, in the order data flows (see docs/describe.md):
- `subjects`: what a model runs on and its concept library (`Subject` protocol; `subjects.board.BoardSubject`
  for Domineering positions, with `subjects/board_concepts.py`);
- `evidence`: per module, its activation, examples, reads, writes and interfaces as `ModuleEvidence`;
- `describers`: the `Describer` protocol, `ConceptDescriber` (offline), `LLMDescriber`, one list by name;
- `llm`: the JSON chat client for any OpenAI-compatible endpoint, its cache, a local llama.cpp server;
- `scoring`: simulation and detection scores of each description beside their controls;
- `cards`: one HTML card per module.
`predicates` holds the shared vocabulary: `ConceptTable` and the executable `Predicate`. The experiments that
wire these stages (describe a run, the planted check) are in `modinterp.studies.carve`.
"""

from modinterp.describe.describers import ConceptDescriber, Describer, Description, LLMDescriber, make_describers
from modinterp.describe.evidence import EvidenceConfig, ModuleEvidence, build_evidence
from modinterp.describe.llm import LLMEndpointError, LLMSettings
from modinterp.describe.predicates import ConceptTable, Predicate
from modinterp.describe.scoring import DescriptionScores, score_description
from modinterp.describe.subjects import Subject

__all__ = ["ConceptDescriber", "ConceptTable", "Describer", "Description", "DescriptionScores",
           "EvidenceConfig", "LLMDescriber", "LLMEndpointError", "LLMSettings", "ModuleEvidence", "Predicate", "Subject",
           "build_evidence", "make_describers", "score_description"]
