"""Planning from a toshi-hazard-store parquet dataset: the same levels and keys as from hazflow's own curves."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.plan.disagg import DisaggRequest, plan_disagg
from hazflow.plan.ths import ThsHazardCurves, nloc_0
from hazflow.store import HazardAggregate
from hazflow.store.local import LocalStore

SITES = {"-41.300~174.780": 0.05, "-43.530~172.630": 0.03}  # WLG, CHC


def curve(levels, scale, k):
    return scale * np.exp(-k * np.asarray(levels))


def write_dataset(folder, levels, n_values=None, model="DEMO"):
    """A THS 2.x aggregate dataset: hive partitions vs30 and nloc_0, its columns, float32 values."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    rows = []
    for site, scale in SITES.items():
        for imt, k in (("PGA", 6.0), ("SA(0.5)", 4.0)):
            for aggr, factor in (("mean", 1.0), ("0.9", 3.0)):
                values = curve(levels, scale * factor, k).astype(np.float32)[: n_values or len(levels)]
                rows.append({"compatible_calc_id": "NZSHM22", "hazard_model_id": model, "nloc_001": site, "nloc_0": nloc_0(site),
                             "imt": imt, "vs30": 400, "aggr": aggr, "values": values.tolist()})  # fmt: skip
    schema = pa.schema([("compatible_calc_id", pa.string()), ("hazard_model_id", pa.string()), ("nloc_001", pa.string()),
                        ("nloc_0", pa.string()), ("imt", pa.string()), ("vs30", pa.int32()), ("aggr", pa.string()),
                        ("values", pa.list_(pa.float32()))])  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=schema)
    partitioning = ds.partitioning(pa.schema([("vs30", pa.int32()), ("nloc_0", pa.string())]), flavor="hive")
    ds.write_dataset(table, str(folder), format="parquet", partitioning=partitioning)
    return folder


def request():
    return DisaggRequest.parse(
        {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02]}
    )


def test_nloc_0_is_the_one_degree_cell():
    assert (nloc_0("-41.300~174.780"), nloc_0("-43.530~172.630")) == ("-41.0~175.0", "-44.0~173.0")


def test_the_plan_from_the_dataset_equals_the_plan_from_the_store(tmp_path, config, demo):
    levels = demo.settings.levels
    ths = ThsHazardCurves(str(write_dataset(tmp_path / "ths", levels)), levels)
    store = config.open_store()
    mine = [HazardAggregate("DEMO", s, 400.0, imt, "mean", np.asarray(levels), curve(levels, scale, k).astype(np.float32).astype(float))
            for s, scale in SITES.items() for imt, k in (("PGA", 6.0), ("SA(0.5)", 4.0))]  # fmt: skip
    store.put_hazard_aggregates(mine)
    from_ths = plan_disagg(request(), store, "3.26.2", curves=ths)
    from_store = plan_disagg(request(), store, "3.26.2")
    assert from_ths.keys == from_store.keys and [g.imls for g in from_ths.groups] == [g.imls for g in from_store.groups]
    (pga,) = ths.get_hazard_aggregates("DEMO", "-41.300~174.780", 400, "PGA", "mean")
    assert '"source": "toshi-hazard-store"' in pga.provenance and len(pga.values) == 44


def test_the_dataset_is_read_from_s3(tmp_path, demo, moto_endpoint, fake_credentials):
    import boto3

    folder = write_dataset(tmp_path / "ths", demo.settings.levels)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="nshm-hazard", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    for path in folder.rglob("*.parquet"):
        s3.upload_file(str(path), "nshm-hazard", f"AGGR/{path.relative_to(folder).as_posix()}")
    ths = ThsHazardCurves("s3://nshm-hazard/AGGR", demo.settings.levels, endpoint_url=moto_endpoint)
    assert [(a.imt, a.agg) for a in ths.get_hazard_aggregates("DEMO", "-43.530~172.630", 400)] == [
        ("PGA", "0.9"), ("PGA", "mean"), ("SA(0.5)", "0.9"), ("SA(0.5)", "mean")
    ]  # fmt: skip
    assert len(plan_disagg(request(), LocalStore(tmp_path / "s"), "3.26.2", curves=ths).keys) == 24


@pytest.mark.parametrize(
    "sites, vs30s, message",
    [(["AKL"], [400], "no aggregated mean hazard curve of DEMO for AKL vs30=400 PGA"), (["WLG"], [750], "for WLG vs30=750 PGA")],
)
def test_a_curve_missing_from_the_dataset_is_a_bad_request(tmp_path, config, demo, sites, vs30s, message):
    ths = ThsHazardCurves(str(write_dataset(tmp_path / "ths", demo.settings.levels)), demo.settings.levels)
    with pytest.raises(BadRequest, match=message):
        plan_disagg(
            DisaggRequest.parse({"model": "DEMO", "sites": sites, "vs30s": vs30s, "imts": ["PGA"], "poes": [0.1]}),
            config.open_store(),
            "3.26.2",
            curves=ths,
        )


def test_curves_of_another_level_grid_are_refused(tmp_path, demo):
    ths = ThsHazardCurves(str(write_dataset(tmp_path / "ths", demo.settings.levels, n_values=40)), demo.settings.levels)
    with pytest.raises(DataIntegrityError, match="has 40 values, expected 44 levels"):
        ths.get_hazard_aggregates("DEMO", "-41.300~174.780", 400)


def test_an_nshm_request_runnable_from_its_archives_is_planned_from_the_dataset(tmp_path, nshm_env):
    """NSHM_v1.0.4 leaves from their archives, their levels read off a toshi-hazard-store dataset of
    NSHM_v1.0.4's aggregated curves: every job keyed on its archives' content."""
    from hazflow.model.logic_tree import load_model
    from hazflow.openquake.inputs import source_digests

    nshm = load_model("NSHM_v1.0.4")
    levels = nshm.settings.levels
    ths = ThsHazardCurves(str(write_dataset(tmp_path / "ths", levels, model="NSHM_v1.0.4")), levels)
    params = {"model": "NSHM_v1.0.4", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"],
              "poes": [0.1, 0.02], "leaves": ["HIK-1", "SLAB-1"]}  # fmt: skip
    plan = plan_disagg(DisaggRequest.parse(params), nshm_env.open_store(), "3.26.2", curves=ths)
    assert (plan.jobs, len(plan.keys), len(plan.groups)) == (16, 8, 4)  # leaf x site x PoE (x IMT); site x PoE
    assert all(g.imls and all(x > 0 for x in g.imls) for g in plan.groups)
    digests = source_digests(nshm, nshm.leaf("HIK-1"))
    assert all(d.startswith("sha256:") for d in digests)
