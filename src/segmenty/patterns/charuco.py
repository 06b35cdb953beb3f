"""ChArUco boards (TODO: patterns helper)."""
