"""Executable predicates: feature mixes and whitelisted expressions."""

import numpy as np
import pytest

from modinterp.describe.predicates import ConceptTable, Predicate, PredicateError, feature_identifier


def _table():
    return ConceptTable(["a", "b"], ["first", "second"], np.array([[1.0, 5.0], [2.0, 1.0], [3.0, 0.0]]))


def test_feature_identifier_makes_python_names():
    assert feature_identifier("sector_move_difference", "s1,2") == "sector_move_difference_s1_2"
    assert feature_identifier("3x", None) == "f_3x"


def test_weighted_predicate_is_the_linear_mix():
    assert Predicate(weights={"a": 2.0, "b": -1.0}).evaluate(_table()).tolist() == [-3.0, 3.0, 6.0]


def test_expression_with_comparison_and_boolean_ops():
    p = Predicate(expression="a > 1 and not b > 0.5")
    assert p.evaluate(_table()).tolist() == [0.0, 0.0, 1.0]


def test_expression_arithmetic_and_abs():
    assert Predicate(expression="abs(a - b) / 2").evaluate(_table()).tolist() == [2.0, 0.5, 1.5]


def test_division_by_zero_gives_zero_not_nan():
    assert Predicate(expression="a / b").evaluate(_table()).tolist() == [0.2, 2.0, 0.0]


@pytest.mark.parametrize("text", ["__import__('os')", "a.real", "[a]", "open('x')", "a if b else 1", "lambda: 1"])
def test_expressions_outside_the_grammar_are_rejected(text):
    with pytest.raises(PredicateError):
        Predicate(expression=text).validate(["a", "b"])


def test_unknown_feature_is_rejected_with_its_name():
    with pytest.raises(PredicateError, match="'c'"):
        Predicate(expression="c > 1").validate(["a", "b"])


def test_predicate_json_round_trip():
    for p in (Predicate(weights={"a": 0.5}), Predicate(expression="a > b")):
        assert Predicate.from_json(p.to_json()) == p


def test_table_rejects_duplicate_names():
    with pytest.raises(ValueError, match="unique"):
        ConceptTable(["a", "a"], ["x", "y"], np.zeros((1, 2)))
