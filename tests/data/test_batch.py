import pytest
import torch

from modinterp.data.batch import PositionBatch


def _batch(n=4):
    return PositionBatch(tokens=torch.arange(n * 3).reshape(n, 3), value=torch.ones(n), policy=torch.arange(n),
                         legal=torch.ones(n, 5, dtype=torch.bool), concepts=torch.zeros(n, 2),
                         game_ids=torch.arange(n), plies=torch.arange(n) + 10)


def test_select_takes_the_same_rows_of_every_field():
    part = _batch().select(slice(1, 3))
    assert part.tokens.tolist() == [[3, 4, 5], [6, 7, 8]] and part.plies.tolist() == [11, 12] and len(part) == 2


def test_concat_inverts_select():
    batch = _batch()
    joined = PositionBatch.concat([batch.select(slice(0, 1)), batch.select(slice(1, 4))])
    assert all(torch.equal(getattr(joined, f), getattr(batch, f)) for f in ("tokens", "legal", "concepts", "plies"))


def test_to_moves_every_field():
    moved = _batch().to("meta")
    assert {t.device.type for t in vars(moved).values()} == {"meta"}


def test_fields_of_different_batch_sizes_are_rejected():
    with pytest.raises(ValueError, match="PositionBatch.value has batch size 3, expected 4"):
        PositionBatch(tokens=torch.zeros(4, 3, dtype=torch.long), value=torch.ones(3), policy=torch.zeros(4, dtype=torch.long),
                      legal=torch.ones(4, 5, dtype=torch.bool), concepts=torch.zeros(4, 2),
                      game_ids=torch.arange(4), plies=torch.arange(4))
