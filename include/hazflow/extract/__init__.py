"""The hazard of an area for risk: the aggregated curves of every grid site in a bounding box or
polygon, written as a bundle OpenQuake's classical_risk and classical_damage import (docs/OUTPUTS.md,
"Area extracts for risk")."""
