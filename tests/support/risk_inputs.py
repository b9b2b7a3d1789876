"""A tiny risk model made in the tests, for OpenQuake's classical_risk and classical_damage run on an
extract bundle: assets (structural value 1e6 NZD, taxonomy `W`) at given points, as NRML XML or in
OpenQuake's CSV form, a lognormal vulnerability function and a discrete fragility function, both on PGA."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

NRML = 'xmlns="http://openquake.org/xmlns/nrml/0.5"'


def exposure_xml(points: Sequence[tuple[float, float]], ids: Sequence[str] | None = None) -> str:
    """One asset at each (lon, lat), named `ids` (default a0, a1, ...)."""
    names = list(ids) if ids is not None else [f"a{i}" for i in range(len(points))]
    assets = "\n".join(
        f'<asset id="{name}" number="1" taxonomy="W"><location lon="{lon}" lat="{lat}"/>'
        f'<costs><cost type="structural" value="1000000"/></costs></asset>'
        for name, (lon, lat) in zip(names, points, strict=True)
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


CSV_HEADER_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<nrml {NRML}>
<exposureModel id="ex" category="buildings" taxonomySource="test">
<description>the CSV form</description>
<conversions><costTypes><costType name="structural" type="aggregated" unit="NZD"/></costTypes></conversions>
<exposureFields>
<field oq="id" input="ASSET_ID"/><field oq="lon" input="LONGITUDE"/><field oq="lat" input="LATITUDE"/>
<field oq="taxonomy" input="TAXONOMY"/><field oq="number" input="BUILDINGS"/><field oq="structural" input="COST"/>
</exposureFields>
<tagNames></tagNames>
<assets>{{csv}}</assets>
</exposureModel>
</nrml>
"""


def exposure_csv_form(xml: Path, csv: Path, points: Sequence[tuple[float, float]], ids: Sequence[str]) -> Path:
    """OpenQuake's CSV form: `xml` naming `csv` (relative to it), one asset at each (lon, lat)."""
    rows = ["ASSET_ID,LONGITUDE,LATITUDE,TAXONOMY,BUILDINGS,COST"]
    rows += [f"{name},{lon},{lat},W,1,1000000" for name, (lon, lat) in zip(ids, points, strict=True)]
    csv.parent.mkdir(parents=True, exist_ok=True)
    xml.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("\n".join(rows) + "\n")
    xml.write_text(CSV_HEADER_XML.replace("{csv}", os.path.relpath(csv, xml.parent)))
    return xml


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


def write_risk_model(folder: Path, points: Sequence[tuple[float, float]] | None) -> None:
    """exposure.xml (unless `points` is None: a bundle made for an exposure has its own),
    vulnerability.xml and fragility.xml in `folder`: the names the bundle's ini files use."""
    if points is not None:
        (folder / "exposure.xml").write_text(exposure_xml(points))
    (folder / "vulnerability.xml").write_text(VULNERABILITY_XML)
    (folder / "fragility.xml").write_text(FRAGILITY_XML)
