"""Whole jobs composed from the library: ``pipeline`` (train, export, verify, benchmark) and ``doctor``."""
