"""The JSON answer an LLM must give about a module, its schema, and strict validation.

An answer that does not validate is a parse failure: it is counted and reported, never turned into a
description (delphi stores "Explanation could not be parsed." as text; we do not).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from modinterp.describe.predicates import Predicate, PredicateError

PREDICATE_CHOICE = "predicate"
DESCRIPTION_MIN, DESCRIPTION_MAX = 20, 200
# An enum rather than minimum/maximum: llama.cpp's grammar enforces enums but not numeric bounds.
CONFIDENCE_LEVELS = (0, 0.25, 0.5, 0.75, 1)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class AnswerError(ValueError):
    """The model's answer is not valid JSON for the schema; the message says which field failed."""


@dataclass
class Answer:
    """A validated answer: description, named concept, its predicate and confidence."""
    description: str
    concept: str
    predicate: Predicate
    confidence: float


def answer_schema(candidates: list[str]) -> dict[str, Any]:
    """JSON schema: a 20-200 character description, a concept from `candidates` (or 'predicate' with an
    expression over feature names), and a confidence in [0, 1]. Restricting `concept` to an enum is what makes
    small local models answer parseably."""
    return {
        "type": "object",
        "properties": {
            "description": {"type": "string", "minLength": DESCRIPTION_MIN, "maxLength": DESCRIPTION_MAX},
            "concept": {"type": "string", "enum": [*candidates, PREDICATE_CHOICE]},
            "predicate": {"type": "string", "maxLength": 200},
            "confidence": {"type": "number", "enum": list(CONFIDENCE_LEVELS)},
        },
        "required": ["description", "concept", "predicate", "confidence"],
        "additionalProperties": False,
    }


def _load_json_object(content: str) -> dict[str, Any]:
    """The answer's JSON object (a ```json fence is stripped); AnswerError otherwise."""
    fenced = _FENCE.match(content)
    text = fenced.group(1) if fenced else content  # some servers wrap JSON in ```json fences
    try:
        data = json.loads(text, strict=False)  # strict=False: raw newlines/tabs inside strings are accepted
    except json.JSONDecodeError as err:
        raise AnswerError(f"answer is not valid JSON ({err.msg} at character {err.pos}): {content[:80]!r}") from None
    if not isinstance(data, dict):
        raise AnswerError(f"answer is JSON {type(data).__name__}, expected an object with keys description, concept, confidence")
    return data


def parse_answer(content: str, candidates: list[str], feature_names: list[str]) -> Answer:
    """Validate `content` against the schema and turn it into an Answer; raise AnswerError otherwise."""
    data = _load_json_object(content)
    description = data.get("description")
    if not isinstance(description, str) or not DESCRIPTION_MIN <= len(description.strip()) <= DESCRIPTION_MAX:
        raise AnswerError(f"field 'description' must be a string of {DESCRIPTION_MIN}-{DESCRIPTION_MAX} characters; got {description!r:.80}")
    concept = data.get("concept")
    if concept not in candidates and concept != PREDICATE_CHOICE:
        raise AnswerError(f"field 'concept'={concept!r:.60} is not one of the {len(candidates)} candidate names or 'predicate'")
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise AnswerError(f"field 'confidence' must be a number in [0, 1]; got {confidence!r:.40}")
    if concept == PREDICATE_CHOICE:
        expression = data.get("predicate")
        if not isinstance(expression, str) or not expression.strip():
            raise AnswerError("concept is 'predicate' but field 'predicate' holds no expression")
        try:
            predicate = Predicate(expression=expression.strip()).validate(feature_names)
        except PredicateError as err:
            raise AnswerError(f"field 'predicate': {err}") from None
    else:
        predicate = Predicate.feature(concept)
    return Answer(" ".join(description.split()), concept, predicate, float(confidence))
