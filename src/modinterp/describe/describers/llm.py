"""The LLM describer: any OpenAI-compatible chat endpoint, given a module's evidence as text; its JSON answer
names a candidate concept or a predicate over concept features. Failed answers are counted, not described.
How the prompt speaks of the subject (a board game, text) comes from the subject's `PromptWords`."""

from __future__ import annotations

from typing import Any

import numpy as np

from modinterp.describe.describers.answers import AnswerError, answer_schema, parse_answer
from modinterp.describe.describers.base import Description, DescribeReport
from modinterp.describe.evidence.records import ModuleEvidence
from modinterp.describe.llm.client import JSONChatClient, LLMSettings
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects import PromptWords


def normalise_0_10(values: np.ndarray, max_value: float) -> np.ndarray:
    """OpenAI's display scale: floor(10 * relu(a) / max), clipped to 0..10 (max over the shown records)."""
    if max_value <= 0:
        return np.zeros(len(values), dtype=int)
    return np.clip(np.floor(10 * np.maximum(values, 0) / max_value), 0, 10).astype(int)


def to_prompt_text(ev: ModuleEvidence, table: ConceptTable, words: PromptWords, n_candidates: int = 8, n_examples: int = 6) -> str:
    """The evidence as the user message of an explain request (compact: small local models have short contexts)."""
    lines = [f"Module {ev.module}: {ev.units}.", "", f"Correlation of the module's activation with {words.concept}s:"]
    for name, r in ev.correlations[:n_candidates]:
        lines.append(f"  {name}: r={r:+.2f} ({table.meaning(name)})")
    shown = ev.examples[:n_examples]
    if shown:
        acts = np.array([e.activation for e in shown])
        base = acts - min(0.0, float(acts.min()))  # shift so the lowest shown board is >= 0
        levels = normalise_0_10(base, float(base.max()))
        lines += ["", f"Example {words.examples} with the activation on a 0-10 scale:"]
        for e, level in zip(shown, levels):
            lines += [f"<start> activation {level}/10 ({e.kind})", e.board_text.rstrip(), "<end>"]
    if ev.reads:
        lines += ["", "Input cells it reads most: " + ", ".join(f"{c} ({v:.2f})" for c, v in ev.reads[:6])]
    if ev.writes:
        lines += ["Outputs that change most when it is ablated: " + ", ".join(f"{o} ({v:.3f})" for o, v in ev.writes[:4])]
    for itf in ev.interfaces[:4]:
        flow = f"; carries {itf.flow_concept} (probe R2={itf.flow_r2:.2f})" if itf.flow_concept else ""
        lines.append(f"Interface {itf.direction} {itf.other}: cut weight {itf.cut_weight:.3f}{flow}")
    return "\n".join(lines)


def system_prompt(words: PromptWords) -> str:
    """The system message: the researcher's task, with the subject's domain sentence."""
    return (
        f"You are an interpretability researcher. {words.domain} You are shown evidence about one module (a group "
        "of neurons) of the network. Say in one sentence what the module computes, and name the "
        f"{words.concept} that explains its activation best. Answer with JSON only."
    )


def _instructions(candidates: list[str], words: PromptWords) -> str:
    """The answer format, closing the user message; `candidates` are the concept names the model may pick."""
    return (
        "\n\nAnswer with a JSON object with keys: \"description\" (one sentence, 20-200 characters), \"concept\" (one of: "
        + ", ".join(candidates)
        + ", or \"predicate\"), \"predicate\" (an arithmetic/boolean expression over those concept names, such as "
        f"\"{words.example_predicate}\", when concept is \"predicate\"; otherwise \"\"), and "
        "\"confidence\" (one of 0, 0.25, 0.5, 0.75, 1)."
    )


class LLMDescriber:
    """Describe modules with a chat model at `settings.base_url`; `n_candidates` concept names are offered, and
    the prompt speaks of the subject in its `words`."""

    def __init__(self, settings: LLMSettings, words: PromptWords, n_candidates: int = 8, n_examples: int | None = None,
                 transport: Any | None = None) -> None:
        self.settings = settings
        self.words = words
        self.n_candidates = n_candidates
        self.n_examples = settings.prompt_examples if n_examples is None else n_examples
        self.client = JSONChatClient(settings, transport=transport)
        self.name = f"llm:{settings.model}"

    def messages(self, evidence: ModuleEvidence, table: ConceptTable) -> tuple[list[dict[str, str]], list[str]]:
        """The chat messages about one module and the candidate concept names they offer."""
        candidates = evidence.candidates(self.n_candidates)
        user = to_prompt_text(evidence, table, self.words, self.n_candidates, self.n_examples) + _instructions(candidates, self.words)
        return [{"role": "system", "content": system_prompt(self.words)}, {"role": "user", "content": user}], candidates

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        """Ask the endpoint about every module (concurrently); invalid answers become parse failures."""
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
