"""A tiny risk model made in the tests, for OpenQuake's classical_risk and classical_damage run on an
extract bundle: one asset per site (structural value 1e6 NZD, taxonomy `W`), a lognormal
vulnerability function and a discrete fragility function, both on PGA."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

NRML = 'xmlns="http://openquake.org/xmlns/nrml/0.5"'


def exposure_xml(points: Sequence[tuple[float, float]]) -> str:
    """One asset at each (lon, lat)."""
    assets = "\n".join(
        f'<asset id="a{i}" number="1" taxonomy="W"><location lon="{lon}" lat="{lat}"/>'
        f'<costs><cost type="structural" value="1000000"/></costs></asset>'
        for i, (lon, lat) in enumerate(points)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<nrml {NRML}>
<exposureModel id="ex" category="buildings" taxonomySource="test">
<description>one asset per site</description>
<conversions><costTypes><costType name="structural" type="aggregated" unit="NZD"/></costTypes></conversions>
<assets>
{assets}
</assets>
</exposureModel>
</nrml>
"""


VULNERABILITY_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<nrml {NRML}>
<vulnerabilityModel id="vm" assetCategory="buildings" lossCategory="structural">
<description>test</description>
<vulnerabilityFunction id="W" dist="LN">
<imls imt="PGA">0.01 0.05 0.1 0.2 0.4 0.8 1.5 3.0</imls>
<meanLRs>0.001 0.01 0.04 0.1 0.25 0.5 0.8 0.95</meanLRs>
<covLRs>0.3 0.3 0.3 0.3 0.3 0.3 0.3 0.3</covLRs>
</vulnerabilityFunction>
</vulnerabilityModel>
</nrml>
"""

FRAGILITY_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<nrml {NRML}>
<fragilityModel id="fm" assetCategory="buildings" lossCategory="structural">
<description>test</description>
<limitStates>slight moderate complete</limitStates>
<fragilityFunction id="W" format="discrete">
<imls imt="PGA" noDamageLimit="0.02">0.05 0.1 0.2 0.4 0.8 1.5</imls>
<poes ls="slight">0.05 0.2 0.5 0.8 0.95 0.99</poes>
<poes ls="moderate">0.01 0.05 0.2 0.5 0.8 0.95</poes>
<poes ls="complete">0.0 0.01 0.05 0.2 0.5 0.8</poes>
</fragilityFunction>
</fragilityModel>
</nrml>
"""


def write_risk_model(folder: Path, points: Sequence[tuple[float, float]]) -> None:
    """exposure.xml, vulnerability.xml and fragility.xml in `folder`: the names the bundle's ini files use."""
    (folder / "exposure.xml").write_text(exposure_xml(points))
    (folder / "vulnerability.xml").write_text(VULNERABILITY_XML)
    (folder / "fragility.xml").write_text(FRAGILITY_XML)
