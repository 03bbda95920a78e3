"""Server-side read models: the projections of every user's log, persisted as tables.

``base`` is the interface the HTTP API reads; the projector writes them.
"""
