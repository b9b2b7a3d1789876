"""Request arguments shared by the commands, and the Params-shaped mapping they make: the command
line asks the domain exactly what a DAG's trigger form asks it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from hazflow.aggregate.methods import QUANTILE_METHODS
from hazflow.choices import DISAGG_ENGINES
from hazflow.exceptions import BadRequest
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.plan.batches import DEFAULT_BATCH_CAP, MAX_MAP_LENGTH
from hazflow.plan.disagg import PLAN_OPTIONS
from hazflow.plan.fields import normalise_imt
from hazflow.plan.request import CROSS_FIELDS, PARSERS


def add_request(parser: argparse.ArgumentParser, names: Sequence[str], sites: Sequence[str] = ("WLG",)) -> None:
    """Add the request fields `names` (a request's `field_names()`, and for a disaggregation plan its
    `PLAN_OPTIONS`) to a command, with the defaults of the demo; names with no option are skipped."""
    if "model" in names:
        parser.add_argument("--model", default="DEMO", help="DEMO or an nzshm-model version such as NSHM_v1.0.4")
    if "sites" in names:
        parser.add_argument("--sites", nargs="+", default=list(sites), help="ids (WLG), lat~lon codes or list names (NZ)")
        parser.add_argument(
            "--leave-out", nargs="+", metavar="SITE", help="sites to leave out (NSHM: --sites NZ --leave-out WRE)"
        )
    if "vs30s" in names:
        parser.add_argument("--vs30s", nargs="+", type=float, default=[400.0], help="m/s")
    if "imts" in names:
        parser.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
    if "poes" in names:
        parser.add_argument(
            "--poes",
            nargs="+",
            type=float,
            default=None,
            help="in 50 years (default 0.1); NSHM: 0.02 0.05 0.1 0.18 0.39 0.63 0.86",
        )
        parser.add_argument(
            "--imls",
            nargs="+",
            type=_imls,
            default=None,
            metavar="IMT=LEVEL[,LEVEL]",
            help="IML mode: levels (g) per IMT instead of PoEs, e.g. PGA=0.2,0.5 'SA(0.5)=0.8' (give --imts to match)",
        )
    if "leaves" in names:
        parser.add_argument("--leaves", nargs="+", default=None, help="leaf ids such as CRU-2 (default: all)")
    if "gmms" in names:
        parser.add_argument("--gmms", nargs="+", default=None, help="GMM branch ids (default: all)")
    if "quantiles" in names:
        parser.add_argument("--quantiles", nargs="*", type=float, default=list(DEFAULT_QUANTILES), help="besides mean, std, cov")
    if "quantiles" in names:
        parser.add_argument(
            "--quantile-method",
            choices=QUANTILE_METHODS,
            default=None,
            help="how quantiles are computed (default auto: meet-in-the-middle where the tree splits, else enumeration, else sampling)",
        )
    if "samples" in names:
        parser.add_argument(
            "--samples", type=int, default=10_000, help="composites sampled when the tree is too large to enumerate"
        )
    if "closure_tolerance" in names:
        parser.add_argument(
            "--closure-tolerance", type=float, default=None, help="flag a closure further than this from 1 (default 0.05)"
        )
        parser.add_argument(
            "--fail-on-closure", action="store_true", default=None, help="exit 1 naming the targets whose closure is outside it"
        )
    if "target_stat" in names:
        parser.add_argument(
            "--target-stat",
            default=None,
            help="the aggregated hazard curve statistic each level is read from: mean (default) or a stored quantile such as 0.5",
        )
    if "epsilon_star" in names:
        parser.add_argument(
            "--epsilon-star",
            action="store_true",
            default=None,
            help="disaggregate by epsilon* (OpenQuake's epsilon_star), a calculation setting in every job key",
        )
    if "contributors" in names:
        parser.add_argument(
            "--contributors",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="record the rates by source and fault (default: on for the hazardlib engine, off for oq, which cannot)",
        )
    if "batch_cap" in names:
        parser.add_argument(
            "--batch-cap",
            type=int,
            default=DEFAULT_BATCH_CAP,
            help=f"at most this many batches (Airflow maps at most {MAX_MAP_LENGTH:,})",
        )
    if "disagg_engine" in names:
        parser.add_argument(
            "--engine",
            dest="disagg_engine",
            choices=DISAGG_ENGINES,
            default=None,
            help="hazardlib: one OpenQuake pass per leaf x VS30 x site group for every PoE and IMT; oq: `oq engine --run` "
            "per leaf x site x VS30 x PoE (the reference). Default: HAZFLOW_DISAGG_ENGINE, else hazardlib",
        )
    if "force" in names:
        parser.add_argument("--force", action="store_true", help="plan (and run) even what the ledger has as finished")


def _imls(text: str) -> tuple[str, list[float]]:
    """`PGA=0.2,0.5` as ("PGA", [0.2, 0.5])."""
    imt, sep, levels = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return imt, [float(x) for x in levels.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected IMT=LEVEL[,LEVEL...] such as PGA=0.2,0.5, got {text!r}") from None


def imls_of(pairs: Sequence[tuple[str, list[float]]]) -> dict[str, list[float]]:
    """`--imls` pairs as {IMT: levels}; an IMT given twice (`PGA=0.2 pga=0.5`) is refused, not dropped."""
    out: dict[str, list[float]] = {}
    for imt, levels in pairs:
        name = normalise_imt(imt, "imls")
        if name in out:
            raise BadRequest("imls", f"{name} given twice: give its levels once, {name}=LEVEL,LEVEL")
        out[name] = levels
    return out


def params_of(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields of parsed arguments, as a DAG's Params would hold them."""
    names = ("model", *PARSERS, *CROSS_FIELDS, *PLAN_OPTIONS)  # every request field, and the planning options
    params = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None or name == "leaves"}
    if "sites" in params:
        params["sites"] = list(args.sites) + [f"-{s}" for s in args.leave_out or ()]
    if getattr(args, "imls", None):
        params["imls"] = imls_of(args.imls)
    elif hasattr(args, "poes") and args.poes is None:
        params["poes"] = [0.1]
    return params
