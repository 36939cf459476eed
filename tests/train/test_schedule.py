import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modinterp.train.schedule import lr_factor


def test_warmup_rises_linearly_to_one():
    assert [lr_factor(s, 100, "cosine", warmup_steps=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_starts_at_one_and_ends_at_min_ratio():
    assert lr_factor(0, 11, "cosine") == 1.0
    assert lr_factor(10, 11, "cosine", min_lr_ratio=0.1) == pytest.approx(0.1)


def test_cosine_is_half_way_at_the_middle_step():
    # 11 steps, no warmup: step 5 is progress 0.5 -> 0.5 * (1 + cos(pi/2)) = 0.5
    assert lr_factor(5, 11, "cosine") == pytest.approx(0.5)
    # with min ratio 0.2: 0.2 + 0.8 * 0.5
    assert lr_factor(5, 11, "cosine", min_lr_ratio=0.2) == pytest.approx(0.6)


def test_cosine_after_warmup_follows_the_remaining_span():
    # warmup 10 of 110: step 10 starts the cosine (1.0), step 60 is progress 50/99
    assert lr_factor(10, 110, "cosine", warmup_steps=10) == 1.0
    assert lr_factor(60, 110, "cosine", warmup_steps=10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 99)))


def test_wsd_is_constant_then_decays_linearly_to_min_ratio():
    factors = [lr_factor(s, 10, "wsd", warmup_steps=2, decay_steps=4, min_lr_ratio=0.0) for s in range(10)]
    assert factors == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_wsd_without_decay_steps_stays_constant():
    assert {lr_factor(s, 7, "wsd", warmup_steps=0, decay_steps=0) for s in range(7)} == {1.0}


def test_constant_schedule_is_one_after_warmup():
    assert [lr_factor(s, 5, "constant", warmup_steps=2) for s in range(5)] == [0.5, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("step", [-1, 10])
def test_step_outside_the_run_is_rejected(step):
    with pytest.raises(ValueError, match=r"outside the run's steps"):
        lr_factor(step, 10)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        lr_factor(0, 10, "linear")  # type: ignore[arg-type]


@given(total=st.integers(2, 500), warmup_frac=st.floats(0, 1), decay_frac=st.floats(0, 1), floor=st.floats(0, 1),
       schedule=st.sampled_from(["cosine", "wsd", "constant"]))
def test_after_warmup_the_factor_never_rises_and_stays_between_floor_and_one(total, warmup_frac, decay_frac, floor, schedule):
    warmup = int(warmup_frac * total)
    decay = int(decay_frac * (total - warmup)) if schedule == "wsd" else 0
    factors = [lr_factor(s, total, schedule, warmup, floor, decay) for s in range(warmup, total)]
    assert all(floor - 1e-12 <= f <= 1.0 + 1e-12 for f in factors)
    assert all(b <= a + 1e-12 for a, b in zip(factors, factors[1:]))
