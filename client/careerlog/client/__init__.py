"""Careerlog client: local store, command layer, sync engine and the careerlog CLI."""
