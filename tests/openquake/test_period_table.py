"""The committed table of the SA periods each model's GMMs support is what the installed OpenQuake's
coefficient tables say (`python -m hazflow.openquake.period_table` rewrites it)."""

from __future__ import annotations

import json

import pytest

from hazflow.config import Config
from hazflow.model.periods import TABLE_PATH
from hazflow.openquake.period_table import build_table, gmm_spans

pytestmark = pytest.mark.openquake


def test_the_committed_table_is_the_installed_openquakes():
    assert build_table(Config().oq_python) == json.loads(TABLE_PATH.read_text())


def test_a_gmm_with_several_tables_supports_only_what_all_of_them_cover():
    """AkkarCagnan2010: its own COEFFS_AC10 span 0.03 to 2 s, its soil response 0.01 to 10 s."""
    spans = gmm_spans(["[AkkarCagnan2010]", "[Bradley2013]\nsigma_mu_epsilon = 0.0"], Config().oq_python)
    akkar = spans["gmms"]["[AkkarCagnan2010]"]
    assert (akkar["min"], akkar["max"], akkar["tables"]) == (0.03, 2.0, ["COEFFS_AC10", "COEFFS_SOIL_RESPONSE"])
    assert spans["openquake"] == "3.26.2"
