"""What every describer returns, and the `Describer` protocol they implement.

A describer turns each module's `ModuleEvidence` (and the concept table of the evidence split) into a
`Description`: a sentence for people and an executable `Predicate` for the scorer. It sees nothing else: no
model, no boards, no text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from modinterp.describe.evidence.records import ModuleEvidence
from modinterp.describe.predicates import ConceptTable, Predicate
@dataclass
class Description:
    """A module described: `text` for people, `predicate` for the scorer, `concept` the feature it names."""

    module: str
    describer: str
    text: str
    concept: str
    predicate: Predicate
    confidence: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The description as written to descriptions.json."""
        return {"module": self.module, "describer": self.describer, "text": self.text, "concept": self.concept,
                "predicate": self.predicate.to_json(), "confidence": self.confidence, "details": self.details}


@dataclass
class DescribeReport:
    """What happened while describing: failures by module with their reason, and client statistics."""

    describer: str
    n_modules: int
    n_described: int
    parse_failures: dict[str, str] = field(default_factory=dict)
    request_failures: dict[str, str] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as written to descriptions.json."""
        return dict(self.__dict__)


@runtime_checkable
class Describer(Protocol):
    """Describes modules from their evidence: `describe(evidences, table)` gives one Description per module it
    could describe and a report of the others; `table` is the concept table of the evidence split."""

    name: str

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        """Descriptions of the modules it could describe, and a report of the others."""
