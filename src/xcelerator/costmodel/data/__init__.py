"""Public latency data shipped with xcelerator (see each folder\x27s README and LICENSE)."""
