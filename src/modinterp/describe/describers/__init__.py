"""Describers: module evidence in, descriptions out (the `Describer` protocol), and the one list of them by name."""

from __future__ import annotations

from typing import Callable

from modinterp.describe.describers.base import Describer, DescribeReport, Description
from modinterp.describe.describers.concept import ConceptDescriber, RandomConceptDescriber
from modinterp.describe.describers.llm import LLMDescriber
from modinterp.describe.llm.client import LLMSettings
from modinterp.describe.subjects import PromptWords

# The offline describers by name; each factory takes the run's seed. The LLM describer joins when an endpoint is
# given (`make_describers(..., llm=...)`) and is named `llm:<model>`.
DESCRIBERS: dict[str, Callable[[int], Describer]] = {
    ConceptDescriber.name: lambda seed: ConceptDescriber(),
    RandomConceptDescriber.name: lambda seed: RandomConceptDescriber(seed=seed),
}


def make_describers(names: list[str] | tuple[str, ...], words: PromptWords, llm: LLMSettings | None = None,
                    seed: int = 0) -> list[Describer]:
    """The describers named in `names` (keys of DESCRIBERS), in that order, then an LLMDescriber if `llm` is set."""
    unknown = [n for n in names if n not in DESCRIBERS]
    if unknown:
        raise ValueError(f"unknown describers {unknown}; known: {sorted(DESCRIBERS)} (an LLM joins through llm=LLMSettings(...))")
    describers = [DESCRIBERS[n](seed) for n in names]
    return describers + ([LLMDescriber(llm, words)] if llm is not None else [])


__all__ = ["ConceptDescriber", "DESCRIBERS", "DescribeReport", "Describer", "Description", "LLMDescriber",
           "RandomConceptDescriber", "make_describers"]
