"""Runnable examples: ``python -m fdr_monitor.examples.mnist_mlp``, ``python -m fdr_monitor.examples.quadratic``."""
