"""Measuring detection: backtests, NAB scoring, scenario families, SKAB, ablations, plots, benchmarks.

Tools, not runtime: nothing the worker runs imports this package.
"""
