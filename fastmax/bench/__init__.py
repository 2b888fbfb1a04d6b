"""Benchmarks of Fastmax against its peers: sweeps, figures and data-movement profiles."""
