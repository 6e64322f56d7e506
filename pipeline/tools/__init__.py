"""What runs beside the worker: the traffic generator, the demo, the embedded broker and the benchmarks.

Tools, not runtime: nothing the worker runs imports this package.
"""
