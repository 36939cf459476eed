"""Model-agnostic evidence: example boards, occlusion reads, ablation writes (through the board subject)."""

import numpy as np

from modinterp.describe.evidence.collect import ablation_writes, examples, occlusion_reads
from modinterp.describe.subjects.board import BoardSubject, cell_name
from modinterp.games.domineering import BoardSpec

SPEC = BoardSpec(3, 3)
SUBJECT = BoardSubject(SPEC)


def _boards(n=40, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(n, 9)).astype(np.uint8)


def test_cell_name_is_row_and_column():
    assert cell_name(SPEC, 5) == "r1c2"


def test_example_boards_start_with_the_top_activations_in_order():
    boards = _boards()
    act = np.arange(40.0)
    ex = examples(SUBJECT, boards, act, n_top=3, quantiles=(0.5,))
    assert [e.activation for e in ex[:3]] == [39.0, 38.0, 37.0]
    assert ex[3].kind.startswith("quantile") and ex[3].activation in (19.0, 20.0)
    assert "#" in ex[0].board_text or "." in ex[0].board_text


def test_occlusion_reads_finds_the_only_cell_the_activation_depends_on():
    boards = _boards()
    reads = occlusion_reads(SUBJECT, boards, lambda b: 3.0 * b[:, 4], top=2)
    assert reads[0][0] == "r1c1" and reads[1][1] == 0.0
    # flipping the cell changes the activation by 3 everywhere; divided by the activation's std
    assert reads[0][1] == round(3.0 / (3.0 * boards[:, 4].std()), 4)


def test_ablation_writes_ranks_the_output_that_changes():
    boards = _boards()

    def outputs(b, ablate):
        x = b.sum(1, keepdims=True).astype(float)
        return {"value": x * (0.0 if ablate else 1.0), "other": x}

    writes = dict(ablation_writes(outputs, boards))
    assert writes["other"] == 0.0 and writes["value"] > 1.0
