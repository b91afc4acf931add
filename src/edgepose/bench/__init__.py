"""Benchmarks that print tables: ``runtime`` (every format / backend, ``edgepose benchmark``) and
``decoder`` (the PAF decoder alone)."""
