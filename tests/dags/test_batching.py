from __future__ import annotations

import pytest

from hazflow_airflow.batching import MAX_MAPPED, batch_label, batches


@pytest.mark.parametrize("n", [0, 1, 7, 512, 513, 1225, 3852])
def test_batches_keep_order_and_stay_under_the_map_limit(n):
    items = list(range(n))
    out = batches(items)
    assert [i for b in out for i in b] == items
    assert len(out) == min(n, MAX_MAPPED) and all(out)
    assert max(map(len, out), default=0) - min(map(len, out), default=0) <= 1
    if n <= MAX_MAPPED:
        assert all(len(b) == 1 for b in out)  # small requests: one target per mapped instance


def test_labels():
    assert batch_label(["WLG vs30=400"]) == "WLG vs30=400"
    assert batch_label(["WLG vs30=400", "CHC vs30=400", "AKL vs30=400"]) == "WLG vs30=400 (+2 more)"
