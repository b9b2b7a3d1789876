from __future__ import annotations

import math

import pytest

from hazflow.exceptions import BadRequest
from hazflow.model.logic_tree import gmm_identity, load_model, model_names


def test_demo_has_the_fault_systems_of_the_issue(demo):
    assert demo.fault_systems == ("CRU", "HIK", "SLAB")
    assert demo.leaf_ids == ("CRU-1", "CRU-2", "CRU-3", "HIK-1", "HIK-2", "SLAB-1")
    assert {leaf.trt for leaf in demo.leaves if leaf.fault_system == "HIK"} == {"Subduction Interface"}
    for fs in demo.fault_systems:
        assert math.isclose(sum(leaf.weight for leaf in demo.leaves if leaf.fault_system == fs), 1.0)


def test_demo_gmm_tree_uses_nshm_models_with_weights_summing_to_one(demo):
    nshm = load_model("NSHM_v1.0.4")
    nshm_names = {g.gsim_name for g in nshm.gmm_branches}
    for trt in demo.trts:
        gmms = demo.gmms_for(trt)
        assert 2 <= len(gmms) <= 3
        assert math.isclose(sum(g.weight for g in gmms), 1.0)
        assert {g.gsim_name for g in gmms} <= nshm_names


def test_demo_source_files_exist(demo):
    for leaf in demo.leaves:
        assert all(p.is_file() for p in demo.source_paths(leaf))


def test_nshm_v104_loads_through_the_same_code():
    nshm = load_model("NSHM_v1.0.4")
    counts = {fs: sum(leaf.fault_system == fs for leaf in nshm.leaves) for fs in nshm.fault_systems}
    assert counts == {"PUY": 3, "HIK": 9, "CRU": 36, "SLAB": 1}
    assert len(nshm.leaves) == 49
    assert {t: len(nshm.gmms_for(t)) for t in nshm.trts} == {
        "Active Shallow Crust": 21, "Subduction Interface": 12, "Subduction Intraslab": 12,
    }  # fmt: skip
    assert nshm.leaf("CRU-36").fault_system == "CRU"


def test_nshm_leaves_name_their_archives_by_toshi_id_and_kind():
    """What hazflow.model.archives resolves: one inversion and one distributed archive per PUY, HIK and
    CRU leaf, one distributed per SLAB leaf; 70 archives in all, the 36 CRU leaves sharing 9 backgrounds."""
    nshm = load_model("NSHM_v1.0.4")
    assert nshm.archived and not load_model("DEMO").archived
    kinds = {leaf.fault_system: leaf.source_kinds for leaf in nshm.leaves}
    assert kinds == {"PUY": ("inversion", "distributed"), "HIK": ("inversion", "distributed"),
                     "CRU": ("inversion", "distributed"), "SLAB": ("distributed",)}  # fmt: skip
    assert len({s for leaf in nshm.leaves for s in leaf.sources}) == 70
    assert len({leaf.sources[1] for leaf in nshm.leaves if leaf.fault_system == "CRU"}) == 9


@pytest.mark.parametrize("name", ["DEMO", "NSHM_v1.0.4"])
def test_gmm_uncertainty_text_round_trips(name):
    for g in load_model(name).gmm_branches:
        parsed_name, args = gmm_identity(g.uncertainty)
        assert parsed_name == g.gsim_name
        assert dict(args) == {k: float(v) if isinstance(v, (int, float)) else v for k, v in g.gsim_args}


def test_gmm_identity_reads_openquake_text():
    assert gmm_identity('[Stafford2022]\nmu_branch = "Central"') == ("Stafford2022", (("mu_branch", "Central"),))
    assert gmm_identity("[Bradley2013]") == ("Bradley2013", ())
    # argument order and int/float spelling do not matter
    assert gmm_identity("[X]\nb = 1\na = 'q'") == gmm_identity('[X]\na = "q"\nb = 1.0')


def test_unknown_model_and_leaf(demo):
    with pytest.raises(BadRequest, match="unknown model 'NOPE'") as info:
        load_model("NOPE")
    assert info.value.field == "model"
    assert "DEMO" in model_names() and "NSHM_v1.0.4" in model_names()
    with pytest.raises(BadRequest, match="unknown leaf 'CRU-9'"):
        demo.leaf("CRU-9")


def test_nshm_source_groups_reproduce_nzshm_models_composites():
    """Our groups (HIK+PUY correlated, CRU, SLAB) give nzshm-model's own 324 SRM composite weights."""
    import itertools

    import numpy as np
    import nzshm_model

    nshm = load_model("NSHM_v1.0.4")
    assert [g.fault_systems for g in nshm.source_groups] == [("HIK", "PUY"), ("CRU",), ("SLAB",)]
    ours = sorted(np.prod(ws) for ws in itertools.product(*(g.weights for g in nshm.source_groups)))
    theirs = sorted(b.weight for b in nzshm_model.get_model_version("NSHM_v1.0.4").source_logic_tree.composite_branches)
    assert len(ours) == len(theirs) == 324
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_nshm_composite_tree_has_the_published_counts():
    from hazflow.aggregate.tree import build_tree

    tree = build_tree(load_model("NSHM_v1.0.4"))
    assert tree.n_composites == 979_776 and len(tree.components) == 912
    assert tree.composite_weights().sum() == pytest.approx(1.0)
