"""The seams: the board subject (splits, tokens, occlusions), the Describer protocol and the one list of describers."""

import numpy as np
import pytest

from modinterp.describe.describers import (
    DESCRIBERS, ConceptDescriber, Describer, LLMDescriber, RandomConceptDescriber, make_describers,
)
from modinterp.describe.evidence import ModuleActivation, ModuleEvidence, ModuleRunner, concept_correlations
from modinterp.describe.evidence.transformer import ModuleUnits, TransformerModuleRunner
from modinterp.describe.llm import LLMSettings
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects import Subject
from modinterp.describe.subjects.board import BOARD_WORDS, BoardSubject
from modinterp.games.domineering import BoardSpec, render
from modinterp.models import build_model
from modinterp.models import MLP
from modinterp.studies.carve.planted import BlockMLPModuleRunner

SPEC = BoardSpec(3, 4)


def test_the_board_subject_is_a_subject_and_the_runners_are_module_runners():
    subject = BoardSubject(BoardSpec(4, 4))
    transformer = TransformerModuleRunner(build_model("smoke", 4, 4, seed=0), ModuleUnits("M0"), ModuleActivation(), {}, subject)
    planted = BlockMLPModuleRunner(MLP([16, 8, 8, 2], seed=0), 0, 2, 4, ModuleActivation(), "N0.M0", "toy")
    assert isinstance(subject, Subject) and isinstance(transformer, ModuleRunner) and isinstance(planted, ModuleRunner)
    assert transformer.name == "M0" and planted.name == "N0.M0"


def test_offline_and_llm_describers_implement_the_describer_protocol():
    llm = LLMDescriber(LLMSettings(base_url="http://127.0.0.1:9/v1", model="m"), BOARD_WORDS)
    assert all(isinstance(d, Describer) for d in (ConceptDescriber(), RandomConceptDescriber(), llm))


def test_make_describers_keeps_the_order_of_the_names_and_adds_the_llm_last():
    llm = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m")
    names = [d.name for d in make_describers(["random-concept", "concept"], BOARD_WORDS, llm, seed=3)]
    assert names == ["random-concept", "concept", "llm:m"]
    assert [d.name for d in make_describers(list(DESCRIBERS), BOARD_WORDS)] == list(DESCRIBERS)


def test_make_describers_names_the_known_ones_for_an_unknown_name():
    with pytest.raises(ValueError, match=r"unknown describers \['gpt'\]; known: \['concept', 'random-concept'\]"):
        make_describers(["gpt"], BOARD_WORDS)


def test_the_random_baseline_is_seeded_and_ignores_the_evidence():
    table = ConceptTable(["a", "b", "c"], ["the a", "the b", "the c"], np.random.default_rng(0).normal(size=(50, 3)))
    evidences = [ModuleEvidence(f"M{i}", "toy", table.values[:, 0], concept_correlations(table.values[:, 0], table)) for i in range(6)]
    first, _ = RandomConceptDescriber(seed=5).describe(evidences, table)
    again, report = RandomConceptDescriber(seed=5).describe(evidences, table)
    assert [d.concept for d in first] == [d.concept for d in again] and report.n_described == 6
    expected = np.random.default_rng(5).integers(0, 3, size=6)
    assert [d.concept for d in first] == [table.names[i] for i in expected]


def test_occlusions_flip_one_cell_each_in_cell_order():
    boards = np.random.default_rng(1).integers(0, 2, size=(5, SPEC.n_cells)).astype(np.uint8)
    occluded = list(BoardSubject(SPEC).occlusions(boards))
    assert [name for name, _ in occluded][:5] == ["r0c0", "r0c1", "r0c2", "r0c3", "r1c0"] and len(occluded) == SPEC.n_cells
    for cell, (_, flipped) in enumerate(occluded):
        changed = np.flatnonzero((flipped != boards).any(0))
        assert changed.tolist() == [cell] and (flipped[:, cell] == 1 - boards[:, cell]).all()


def test_splits_come_from_disjoint_games_and_are_reproducible():
    subject = BoardSubject(BoardSpec(4, 4))
    ev, ho = subject.splits(12, 3, seed=7)
    assert len(ev.inputs) == len(ho.inputs) == 36 and not set(ev.groups) & set(ho.groups)
    again, _ = subject.splits(12, 3, seed=7)
    assert np.array_equal(ev.inputs, again.inputs)


def test_board_subject_tokens_end_with_cls_and_render_draws_the_board():
    model = build_model("smoke", 4, 4, seed=0)
    subject = BoardSubject(BoardSpec(4, 4))
    boards = np.zeros((2, 16), dtype=np.uint8)
    boards[1, [0, 4]] = 1
    tokens = subject.tokens(model, boards)
    assert tokens[:, :16].tolist() == boards.tolist() and (tokens[:, -1] == 2).all()
    assert subject.render(boards, 1) == render(BoardSpec(4, 4), boards[1])
