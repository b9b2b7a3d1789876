from __future__ import annotations

import pytest

from hazflow.plan.batches import DEFAULT_BATCH_CAP, MAX_MAP_LENGTH, batch_bounds, batch_label, split


@pytest.mark.parametrize("n", [0, 1, 7, 512, 513, 1225, 3852])
def test_batches_keep_order_and_stay_under_the_map_limit(n):
    items = list(range(n))
    out = split(items)
    assert [i for b in out for i in b] == items
    assert len(out) == min(n, DEFAULT_BATCH_CAP) and all(out)
    assert max(map(len, out), default=0) - min(map(len, out), default=0) <= 1
    if n <= DEFAULT_BATCH_CAP:
        assert all(len(b) == 1 for b in out)  # small requests: one target per mapped instance


@pytest.mark.parametrize("n, cap", [(10, 3), (1, 1), (1024, 1024), (3000, 7)])
def test_bounds_are_the_split(n, cap):
    assert [list(range(a, b)) for a, b in batch_bounds(n, cap)] == split(list(range(n)), cap)
    assert cap <= MAX_MAP_LENGTH


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="cap"):
        batch_bounds(3, 0)


def test_labels():
    assert batch_label("WLG vs30=400", 1) == "WLG vs30=400"
    assert batch_label("WLG vs30=400", 3) == "WLG vs30=400 (+2 more)"
