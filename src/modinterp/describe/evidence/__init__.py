"""Evidence stage: what each module of a model does on a subject's inputs, as plain `ModuleEvidence`."""

from modinterp.describe.evidence.activation import ModuleActivation
from modinterp.describe.evidence.collect import EvidenceConfig, ModuleRunner, build_evidence
from modinterp.describe.evidence.records import Example, InterfaceSummary, ModuleEvidence, concept_correlations

__all__ = ["EvidenceConfig", "Example", "InterfaceSummary", "ModuleActivation", "ModuleEvidence", "ModuleRunner",
           "build_evidence", "concept_correlations"]
