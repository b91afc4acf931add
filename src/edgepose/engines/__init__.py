"""Ways to run the estimator over many inputs, above the estimator and below the CLI.

``local``: one process, one input after another (``edgepose predict``'s default).
``ray``: Ray Data, the estimator in a pool of actors on one machine or a cluster.

Both call :func:`edgepose.engines.work.process` for each input, so they write the same per-input
JSON and renders, and :func:`edgepose.engines.outputs.finish` for the COCO results, the Parquet
table and the summary.
"""

ENGINES = ("local", "ray")
