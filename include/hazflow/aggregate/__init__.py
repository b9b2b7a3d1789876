"""Aggregation over the logic tree: composite branches, exact mean, distribution statistics."""
