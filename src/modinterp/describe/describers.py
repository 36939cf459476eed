"""Describers turn a module's evidence into a sentence plus an executable predicate.

- `ConceptDescriber` (default; offline, deterministic): the concept feature best correlated with the
  module's activation, extended greedily to a sparse linear mix when extra features add enough R^2.
- `LLMDescriber`: any OpenAI-compatible chat endpoint, given the evidence as text; its JSON answer names a
  candidate concept or a predicate over concept features. Failed answers are counted, not described.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modinterp.describe.answers import AnswerError, answer_schema, parse_answer
from modinterp.describe.llm import JSONChatClient, LLMSettings
from modinterp.describe.module_evidence import ModuleEvidence, to_prompt_text
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
        return dict(self.__dict__)


# ---- offline concept describer --------------------------------------------------------------------------


def _standardise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = values.mean(0)
    std = values.std(0)
    keep = std > 1e-12
    z = np.zeros_like(values)
    z[:, keep] = (values[:, keep] - mean[keep]) / std[keep]
    return z, std, keep


def _r2(z: np.ndarray, y: np.ndarray, cols: list[int]) -> tuple[float, np.ndarray]:
    """R^2 and coefficients of the least-squares fit of centred y on standardised columns `cols`."""
    coef, *_ = np.linalg.lstsq(z[:, cols], y, rcond=None)
    resid = y - z[:, cols] @ coef
    return 1.0 - float(resid @ resid) / float(y @ y), coef


class ConceptDescriber:
    """Best concept, or a sparse mix: greedy forward selection (at most `max_terms`) on standardised
    features, adding a term only if it raises the evidence R^2 by at least `min_gain`."""

    name = "concept"

    def __init__(self, max_terms: int = 3, min_gain: float = 0.05) -> None:
        self.max_terms = max_terms
        self.min_gain = min_gain

    def describe_one(self, evidence: ModuleEvidence, table: ConceptTable) -> Description:
        a = np.asarray(evidence.activation, dtype=np.float64)
        if a.shape != (table.n_positions,):
            raise ValueError(f"module {evidence.module}: activation has {a.shape} values; the concept table has {table.n_positions} positions")
        y = a - a.mean()
        z, std, keep = _standardise(table.values)
        if not keep.any() or float(y @ y) <= 1e-12:
            raise ValueError(f"module {evidence.module}: the activation or every concept is constant on the evidence split; nothing to describe")
        scores = np.where(keep, np.abs(z.T @ y), -1.0)
        chosen = [int(np.argmax(scores))]
        r2, coef = _r2(z, y, chosen)
        while len(chosen) < self.max_terms:
            trial = [(c, *_r2(z, y, chosen + [c])) for c in np.flatnonzero(keep) if c not in chosen]
            if not trial:
                break
            c, r2_c, coef_c = max(trial, key=lambda t: (t[1], -t[0]))
            if r2_c - r2 < self.min_gain:
                break
            chosen, r2, coef = chosen + [int(c)], r2_c, coef_c
        names = [table.names[c] for c in chosen]
        weights = {n: float(w / std[c]) for n, w, c in zip(names, coef, chosen)}  # raw-unit weights
        std_weights = {n: float(w) for n, w in zip(names, coef)}
        r_best = float(np.corrcoef(table.values[:, chosen[0]], a)[0, 1])
        text = self._sentence(names, std_weights, table, r_best, r2)
        details = {"r_evidence": round(r_best, 4), "r2_evidence": round(r2, 4), "standardised_weights": {k: round(v, 4) for k, v in std_weights.items()},
                   "runner_up": [[n, round(r, 4)] for n, r in evidence.correlations[1:4]]}
        return Description(evidence.module, self.name, text, names[0], Predicate(weights=weights), confidence=round(abs(r_best), 4), details=details)

    @staticmethod
    def _sentence(names: list[str], std_weights: dict[str, float], table: ConceptTable, r_best: float, r2: float) -> str:
        head = names[0]
        direction = "rises" if std_weights[head] > 0 else "falls"
        text = f"Tracks {table.meaning(head)} [{head}]: its activation {direction} with it (r = {r_best:+.2f})"
        if len(names) > 1:
            parts = [f"{'+' if std_weights[n] > 0 else '-'} {table.meaning(n)} [{n}]" for n in names[1:]]
            text += "; also " + ", ".join(parts) + f" (mix R2 = {r2:.2f})"
        return text + "."

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        descriptions = [self.describe_one(ev, table) for ev in evidences]
        return descriptions, DescribeReport(self.name, len(evidences), len(descriptions))


# ---- LLM describer --------------------------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You are an interpretability researcher. A neural network plays Domineering, a board game in which the "
    "vertical player places 2x1 dominoes and the horizontal player 1x2 dominoes; whoever cannot move loses. "
    "You are shown evidence about one module (a group of neurons) of the network. Say in one sentence what the "
    "module computes, and name the board concept that explains its activation best. Answer with JSON only."
)


def _instructions(candidates: list[str]) -> str:
    return (
        "\n\nAnswer with a JSON object with keys: \"description\" (one sentence, 20-200 characters), \"concept\" (one of: "
        + ", ".join(candidates)
        + ", or \"predicate\"), \"predicate\" (an arithmetic/boolean expression over those concept names, such as "
        "\"mobility_vertical - mobility_horizontal > 2\", when concept is \"predicate\"; otherwise \"\"), and "
        "\"confidence\" (one of 0, 0.25, 0.5, 0.75, 1)."
    )


class LLMDescriber:
    """Describe modules with a chat model at `settings.base_url`; `n_candidates` concept names are offered."""

    def __init__(self, settings: LLMSettings, n_candidates: int = 8, n_examples: int | None = None, transport: Any | None = None) -> None:
        self.settings = settings
        self.n_candidates = n_candidates
        self.n_examples = settings.prompt_examples if n_examples is None else n_examples
        self.client = JSONChatClient(settings, transport=transport)
        self.name = f"llm:{settings.model}"

    def messages(self, evidence: ModuleEvidence, table: ConceptTable) -> tuple[list[dict[str, str]], list[str]]:
        candidates = evidence.candidates(self.n_candidates)
        user = to_prompt_text(evidence, table, self.n_candidates, self.n_examples) + _instructions(candidates)
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}], candidates

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        prepared = [self.messages(ev, table) for ev in evidences]
        results = self.client.complete_many([(msgs, answer_schema(cands)) for msgs, cands in prepared])
        report = DescribeReport(self.name, len(evidences), 0)
        descriptions = []
        for ev, (_, cands), result in zip(evidences, prepared, results):
            if result.content is None:
                report.request_failures[ev.module] = result.error or "no answer"
                continue
            try:
                answer = parse_answer(result.content, cands, table.names)
            except AnswerError as err:
                report.parse_failures[ev.module] = str(err)
                continue
            details = {"from_cache": result.from_cache, "response_format": result.mode, "candidates": cands}
            descriptions.append(Description(ev.module, self.name, answer.description, answer.concept, answer.predicate, answer.confidence, details))
        report.n_described = len(descriptions)
        report.client = self.client.stats.to_json()
        return descriptions, report
