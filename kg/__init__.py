"""Corpus loading and the concept knowledge graph built from it (train split only)."""
