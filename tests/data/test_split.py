import numpy as np
import pandas as pd
import pytest

from pose2gloss.data import split_by_participant


def make_index(n_participants=9, n_signs=6, per_sign=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_participants):
        for s in range(n_signs):
            for _ in range(int(rng.integers(1, per_sign + 1))):
                rows.append({"participant_id": 1000 + p, "label": s})
    return pd.DataFrame(rows)


def test_no_participant_in_two_splits_and_every_row_assigned():
    result = split_by_participant(make_index(), seed=3)
    assert result["split"].notna().all()
    assert (result.groupby("participant_id")["split"].nunique() == 1).all()
    assert set(result["split"]) == {"train", "val", "test"}


def test_split_is_seeded():
    index = make_index(n_participants=12)
    a = split_by_participant(index, seed=1)["split"]
    assert a.equals(split_by_participant(index, seed=1)["split"])
    assert any(not split_by_participant(index, seed=s)["split"].equals(a) for s in range(2, 8))


def test_seed_changes_the_split_of_participants_of_different_sizes():
    """Real participants recorded different numbers of sequences; the seed must still matter."""
    rows = [
        {"participant_id": 1000 + p, "label": s}
        for p in range(10)
        for s in range(5)
        for _ in range(2 + p)  # participant p has 2 + p sequences of every sign
    ]
    index = pd.DataFrame(rows)
    assignments = {
        tuple(split_by_participant(index, seed=s).groupby("participant_id")["split"].first()) for s in range(6)
    }
    assert len(assignments) >= 3


def test_split_sizes_follow_fractions_and_cover_signs():
    result = split_by_participant(make_index(n_participants=20), val_fraction=0.2, test_fraction=0.2, seed=0)
    shares = result["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.1)
    assert shares["val"] == pytest.approx(0.2, abs=0.08)
    for split in ("train", "val", "test"):
        assert set(result.loc[result.split == split, "label"]) == set(range(6))


def test_three_participants_fill_three_splits():
    result = split_by_participant(make_index(n_participants=3), seed=0)
    assert sorted(result.groupby("split")["participant_id"].nunique()) == [1, 1, 1]


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_invalid_fractions(val, test):
    with pytest.raises(ValueError, match="fractions"):
        split_by_participant(make_index(), val_fraction=val, test_fraction=test)
