"""Benchmarks that print tables: ``runtime`` (every format / backend, ``edgepose benchmark``),
``decoder`` (the PAF decoder alone), and the int8 experiments (``quant_harness``: convert, run and
compare int8 models; ``quant_report``: the table of docs/int8.md)."""
