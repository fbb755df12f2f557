"""Reliability, security and privacy tests (the corpus through every public surface)."""
