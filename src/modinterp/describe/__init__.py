"""modinterp.describe: describe each module of a network and its interfaces in words, and score each description.

Public API (see docs/describe.md):
- `describe_run(run_dir, out_dir, DescribeConfig(k=...), llm=None)` (modinterp.describe.pipeline): the whole
  pipeline on a trained BoardTransformer run; writes descriptions.json and descriptions.html.
- `ConceptDescriber`, `LLMDescriber`, `LLMSettings`: describers (offline default; any OpenAI-compatible endpoint).
- `score_description(...)`: simulation and detection scores with their controls, on plain arrays.
- `concept_table(spec, boards)` (modinterp.describe.board_concepts): the concept library as a ConceptTable.
- `run_planted_check(PlantedConfig())` (modinterp.describe.planted_check): the planted check.
"""

from modinterp.describe.describers import ConceptDescriber, Description, LLMDescriber
from modinterp.describe.llm import LLMEndpointError, LLMSettings
from modinterp.describe.predicates import ConceptTable, Predicate
from modinterp.describe.scoring import DescriptionScores, score_description

__all__ = ["ConceptDescriber", "ConceptTable", "Description", "DescriptionScores", "LLMDescriber", "LLMEndpointError",
           "LLMSettings", "Predicate", "score_description"]
