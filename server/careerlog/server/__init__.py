"""Careerlog server: Litestar app, event stores, fan-out, projector and admin CLI."""
