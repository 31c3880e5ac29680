"""Early warnings: expected counts, temporal and spatial detectors, rules, levels and the lifecycle.

Everything here is pure (numpy, pandas, dataclasses) except ``engine.py``, which the lead wires to the
store. The method is documented in ``docs/warnings-method.md``; the figures that justify it come from
``benchmarks/warnings.py``.

Modules: ``nbmodel`` (NB2 expected counts, tail p-values, scores, shrinkage), ``temporal`` (CUSUM,
EWMA, EARS), ``spatial`` (Gi*, BH, Mann–Kendall, emerging hot spots), ``levels`` (alert budget,
calibration, hysteresis), ``detect`` (one detection cycle → candidates), ``rules``, ``lifecycle``,
``config`` (``default.toml``).
"""
