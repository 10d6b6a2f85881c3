"""Graph passes, one per file; pipeline.py says which run and in what order."""
