from __future__ import annotations

import json

import numpy as np

from hazflow.export.target_json import SCHEMA, target_document, values_of


def test_the_document_holds_the_summary_and_every_statistic_in_c_order(exported_store):
    _, _, aggregates, summary = exported_store
    doc = json.loads(json.dumps(target_document(summary, aggregates)))  # through text, as a reader gets it
    assert doc["schema"] == SCHEMA and doc["target_stat"] == "mean" and doc["poe"] == 0.1
    assert doc["summary"] == summary.mre.to_dict() and doc["contributions"]["method"] == "enumeration"
    assert doc["bins"]["axes"] == ["TRT", "Mag", "Dist", "Eps"] and doc["bins"]["shape"] == [3, 25, 17, 16]
    assert set(doc["values"]) == {a.agg for a in aggregates} == {"mean", "std", "cov", "0.1", "0.5", "0.9"}
    for a in aggregates:
        np.testing.assert_array_equal(values_of(doc, a.agg), a.values)
    mean = next(a for a in aggregates if a.agg == "mean")
    i = int(np.argmax(mean.values))
    assert doc["values"]["mean"][i] == mean.values.max()  # flat index i is the C-order index
    assert doc["provenance"]["settings_digest"] and doc["closure"] == mean.closure
