"""Executable descriptions: every description names a predicate that can be evaluated on boards.

A `ConceptTable` holds the concept library evaluated on a set of positions, one column per feature
(`mobility_vertical`, `sector_move_difference_s1_2`, ...). A `Predicate` is either one feature, a sparse
linear mix of features, or a small arithmetic/boolean expression over feature names (what an LLM may
write). Expressions are parsed with `ast` against a whitelist, so no model output is ever executed as code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import numpy as np

_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]+")


def feature_identifier(concept: str, output: str | None = None) -> str:
    """A Python-identifier name for one output of a concept, e.g. ('mobility', 'vertical') -> 'mobility_vertical'."""
    raw = concept if output in (None, "") else f"{concept}_{output}"
    name = _IDENTIFIER.sub("_", raw).strip("_")
    if not name or name[0].isdigit():
        name = f"f_{name}"
    return name


@dataclass
class ConceptTable:
    """Concept features on N positions: `values[:, j]` is feature `names[j]` (meaning in `meanings[j]`)."""

    names: list[str]
    meanings: list[str]
    values: np.ndarray

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"ConceptTable.values has shape {self.values.shape}; expected (N, {len(self.names)}) to match names")
        if len(self.meanings) != len(self.names):
            raise ValueError(f"ConceptTable has {len(self.names)} names but {len(self.meanings)} meanings; give one meaning per name")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"ConceptTable feature names must be unique; duplicated: {dup}")

    @property
    def n_positions(self) -> int:
        """Number of positions (rows)."""
        return self.values.shape[0]

    def column(self, name: str) -> np.ndarray:
        """The values of feature `name` on every position."""
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"unknown concept feature {name!r}; known features: {', '.join(self.names[:12])}...") from None

    def meaning(self, name: str) -> str:
        """The short meaning of feature `name`."""
        return self.meanings[self.names.index(name)]

    def subset(self, rows: np.ndarray) -> "ConceptTable":
        """The table restricted to positions `rows`."""
        return ConceptTable(list(self.names), list(self.meanings), self.values[np.asarray(rows)])


# ---- safe expressions over feature names -------------------------------------------------------------

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_CMPOPS = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}
_FUNCS = {"abs": np.abs}


class PredicateError(ValueError):
    """A predicate expression uses something outside the allowed grammar or an unknown feature."""


def _check_node(node: ast.AST, names: set[str]) -> None:
    """Reject anything but numbers, known feature names, + - * /, comparisons, and/or/not and abs()."""
    if isinstance(node, ast.Expression):
        return _check_node(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return None
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise PredicateError(f"unknown feature {node.id!r} in predicate; use one of the concept feature names")
        return None
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check_node(node.left, names)
        return _check_node(node.right, names)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        return _check_node(node.operand, names)
    if isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        for child in [node.left, *node.comparators]:
            _check_node(child, names)
        return None
    if isinstance(node, ast.BoolOp):
        for child in node.values:
            _check_node(child, names)
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and len(node.args) == 1 and not node.keywords:
        return _check_node(node.args[0], names)
    raise PredicateError(f"predicate uses {type(node).__name__}, which is not allowed; use numbers, feature names, + - * /, comparisons, and/or/not, abs()")


def _eval_node(node: ast.AST, table: ConceptTable) -> np.ndarray:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body, table)
    if isinstance(node, ast.Constant):
        return np.full(table.n_positions, float(node.value))
    if isinstance(node, ast.Name):
        return table.column(node.id).astype(np.float64)
    if isinstance(node, ast.BinOp):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _BINOPS[type(node.op)](_eval_node(node.left, table), _eval_node(node.right, table))
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    if isinstance(node, ast.UnaryOp):
        value = _eval_node(node.operand, table)
        if isinstance(node.op, ast.Not):
            return (value == 0).astype(np.float64)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Compare):
        left = _eval_node(node.left, table)
        result = np.ones(table.n_positions, dtype=bool)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval_node(comp, table)
            result &= _CMPOPS[type(op)](left, right)
            left = right
        return result.astype(np.float64)
    if isinstance(node, ast.BoolOp):
        parts = [_eval_node(v, table) != 0 for v in node.values]
        combined = np.logical_and.reduce(parts) if isinstance(node.op, ast.And) else np.logical_or.reduce(parts)
        return combined.astype(np.float64)
    if isinstance(node, ast.Call):
        return _FUNCS[node.func.id](_eval_node(node.args[0], table))
    raise PredicateError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check_node


def parse_expression(text: str, feature_names: list[str] | set[str]) -> ast.Expression:
    """Parse and validate `text` (e.g. 'mobility_vertical - mobility_horizontal > 3') against the feature names."""
    if len(text) > 400:
        raise PredicateError(f"predicate is {len(text)} characters long; at most 400 are allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise PredicateError(f"predicate {text!r} is not a valid expression ({err.msg})") from None
    _check_node(tree, set(feature_names))
    return tree


# ---- predicates ---------------------------------------------------------------------------------------


@dataclass
class Predicate:
    """What a description claims the module computes: `weights` (feature -> weight) or an `expression`."""

    weights: dict[str, float] = field(default_factory=dict)
    expression: str | None = None

    def __post_init__(self) -> None:
        if bool(self.weights) == bool(self.expression):
            raise ValueError("a Predicate needs exactly one of `weights` (a feature mix) or `expression`")

    @classmethod
    def feature(cls, name: str, sign: float = 1.0) -> "Predicate":
        """The predicate that is one feature, with weight 1."""
        return cls(weights={name: float(sign)})

    def validate(self, feature_names: list[str]) -> "Predicate":
        """Raise PredicateError when the predicate refers to features the table lacks; return self."""
        if self.expression is not None:
            parse_expression(self.expression, feature_names)
        else:
            unknown = [n for n in self.weights if n not in feature_names]
            if unknown:
                raise PredicateError(f"unknown concept features {unknown}; use names from the concept table")
        return self

    def evaluate(self, table: ConceptTable) -> np.ndarray:
        """The predicate's value on every position of `table` (N,) float64."""
        if self.expression is not None:
            return _eval_node(parse_expression(self.expression, table.names), table)
        out = np.zeros(table.n_positions)
        for name, weight in self.weights.items():
            out += weight * table.column(name)
        return out

    def main_feature(self) -> str | None:
        """The feature with the largest |weight| (None for expressions)."""
        if not self.weights:
            return None
        return max(self.weights, key=lambda n: (abs(self.weights[n]), n))

    def to_json(self) -> dict:
        """The predicate as JSON (weights or expression)."""
        return {"weights": dict(self.weights)} if self.weights else {"expression": self.expression}

    @classmethod
    def from_json(cls, data: dict) -> "Predicate":
        """Inverse of `to_json`."""
        return cls(weights={k: float(v) for k, v in data.get("weights", {}).items()}, expression=data.get("expression"))
