"""Circle grids (TODO: patterns helper)."""
