"""`make bench`: speed and memory of the recipe's own code paths on the machine it runs on (docs/performance.md).

    python -m bench [--quick] [--only prepare,train,infer,recipe] [--device cpu|cuda] [--dtype fp32,auto]

Each measurement runs in its own subprocess (clean peak-memory figures, no state shared between modes); the
results are printed as a table and written to bench/results.json. Nothing here is imported by the recipe or
by `make test`.
"""
