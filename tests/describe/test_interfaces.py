"""What an interface carries: the best decoded concept beside random readers of the same width, nothing claimed where
nothing is decoded, and what flows once game phase is regressed out (`describe.evidence.interfaces`)."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.describe.evidence.interfaces import (MIN_FLOW_R2, FlowReading, InterfaceFlow, interface_signal,
                                                    random_readers, read_flow, signal_ranks, thin_read)
from modinterp.describe.predicates import ConceptTable

N, D = 600, 8


def _split(seed: int):
    """Upstream writes (N, D) at one position: dims 0-2 carry phase, a and b (b mixed with phase), dims 3+ other
    features of unit variance no concept names. The table's concepts: phase, a, b and one nothing carries."""
    rng = np.random.default_rng(seed)
    phase, a, b, absent = rng.uniform(size=N), rng.standard_normal(N), rng.standard_normal(N), rng.standard_normal(N)
    writes = rng.standard_normal((N, D))
    writes[:, :3] *= 0.05
    writes[:, 0] += 4 * phase
    writes[:, 1] += a
    writes[:, 2] += b + 3 * phase
    table = ConceptTable(["fill_fraction", "a", "b", "absent"], ["phase", "a", "b", "nothing"], np.c_[phase, a, b, absent])
    return {1: writes}, table, phase


SPLITS = (_split(0), _split(1))


def _flow(read: np.ndarray, n_random: int = 20, seed: int = 0) -> FlowReading:
    readers = [(3, read)]
    signal = tuple(interface_signal(writes, readers) for writes, _, _ in SPLITS)
    rng = np.random.default_rng(seed)
    ranks = signal_ranks(SPLITS[0][0], readers)
    randoms = []
    for _ in range(n_random):
        fake = random_readers(ranks, D, rng)
        randoms.append(tuple(interface_signal(writes, fake) for writes, _, _ in SPLITS))
    return read_flow(signal, randoms, (SPLITS[0][1], SPLITS[1][1]), (SPLITS[0][2], SPLITS[1][2]))


def _reader(*dims: int) -> np.ndarray:
    read = np.zeros((D, 1))
    read[list(dims), 0] = 1.0
    return read


def test_a_reader_of_one_direction_carries_its_concept_and_beats_random_readers():
    reading = _flow(_reader(1))
    assert reading.concept == "a" and reading.r2 > 0.95 and reading.carries
    assert reading.beats_random_readers  # a random direction mixes a with everything else written
    assert reading.random_reader_r2 < 0.5


def test_what_flows_beyond_game_phase_is_read_with_phase_taken_out_of_signal_and_concepts():
    reading = _flow(_reader(2))  # one number: b + 3 phase
    assert reading.carries
    assert reading.concept_beyond_phase == "b" and reading.r2_beyond_phase > 0.95
    assert reading.random_reader_r2_beyond_phase_p95 < reading.r2_beyond_phase


def test_a_reader_that_reads_nothing_carries_nothing():
    reading = _flow(np.zeros((D, 1)))
    assert not reading.carries and reading.r2 < MIN_FLOW_R2
    assert reading.beats_random_readers is False  # reading no direction, random readers read nothing either
    flow = InterfaceFlow("M0", "M1", 2.0, [], reading)
    assert flow.concept is None
    sentence = flow.sentence(SPLITS[0][1])
    assert "carries no concept" in sentence and "passes" not in sentence
    record = flow.to_json()
    assert record["concept"] is None and record["carries"] is False and record["best_concept"] == reading.concept


def test_a_wide_reader_is_matched_by_random_readers_of_its_width():
    """Reading every dimension, the interface chooses nothing: random readers of D directions read the same."""
    reading = _flow(np.eye(D))
    assert reading.carries
    assert reading.random_reader_r2 == pytest.approx(reading.r2, abs=0.05)  # within the ridge's shrinkage
    assert reading.random_reader_r2 > _flow(_reader(1)).random_reader_r2 + 0.4  # far above one random direction


def test_the_sentence_names_the_concept_its_controls_and_what_flows_beyond_phase():
    reading = _flow(_reader(2))
    flow = InterfaceFlow("M1", "M0", 5.0, ["x - y (1)"], reading)
    sentence = flow.sentence(SPLITS[0][1])
    assert sentence.startswith("M1 -> M0 (min cut 5)") and f"[{reading.concept}]" in sentence
    assert "random readers of as many directions" in sentence and "beyond game phase" in sentence and "[b]" in sentence
    assert InterfaceFlow("M1", "M0", 5.0, [], None).sentence(SPLITS[0][1]).endswith("no upstream signal reaches it.")


def test_random_readers_read_as_many_directions_as_the_interface_and_follow_the_seed():
    x = np.random.default_rng(0).standard_normal((50, D))
    x[:, 5:] *= 1e-15  # the upstream module writes 5 of the D dimensions (the rest: rounding noise)
    bus = np.zeros((D, 30))
    bus[4] = 1.0  # a wide reader that reads the upstream writes through one dimension
    masked_off = np.zeros((D, 30))
    masked_off[6:] = 1.0  # a reader of dimensions the upstream module does not write
    readers = [(3, bus), (5, np.eye(D)), (1, np.eye(D)), (4, masked_off)]
    ranks = signal_ranks({2: x}, readers)
    assert ranks == [(3, 1), (5, 5), (4, 0)]  # nothing upstream of position 1
    a, b = random_readers(ranks, D, np.random.default_rng(4)), random_readers(ranks, D, np.random.default_rng(4))
    assert [(p, r.shape) for p, r in a] == [(3, (D, 1)), (5, (D, 5)), (4, (D, 0))]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))


def test_a_thin_read_keeps_the_signal_up_to_an_isometry_in_at_most_d_model_columns():
    rng = np.random.default_rng(0)
    read = rng.standard_normal((D, 3)) @ rng.standard_normal((3, 50))  # 50 readers, rank 3
    thin = thin_read(read)
    assert thin.shape == (D, 3)
    x = rng.standard_normal((40, D))
    np.testing.assert_allclose((x @ thin) @ (x @ thin).T, (x @ read) @ (x @ read).T, rtol=1e-9, atol=1e-9)
    assert thin_read(np.zeros((D, 5))).shape == (D, 0)
    signal = interface_signal({1: x, 2: x}, [(3, read), (2, np.eye(D))])
    assert signal.shape == (40, 3 + D)  # position 3 reads both writes (rank 3), position 2 only the first


def test_a_flow_without_random_readers_still_reads_as_a_sentence():
    reading = _flow(_reader(2), n_random=0)
    assert reading.random_reader_r2 is None and reading.beats_random_readers is None
    assert "no random readers" in InterfaceFlow("M1", "M0", 5.0, [], reading).sentence(SPLITS[0][1])
