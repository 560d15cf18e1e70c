"""What one round is, below both ``measure`` and ``targets``: its plan, its inputs, its request
and result records, and the runner that times it (standard library + numpy, copied to boards)."""
