"""Pure code shared by the Careerlog client and server.

Nothing in this portion performs I/O, reads a clock or draws randomness:
callers pass ``now`` and fresh ids in, so every function here is a
deterministic function of its arguments and can be replayed.
"""
