"""Helpers the tests share: fixture corpora in the real layouts, tiny checkpoints, fake runs, a local Hub."""
