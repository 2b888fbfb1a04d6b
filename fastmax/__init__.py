"""Fastmax: linear-time attention by the first-order Taylor form of softmax."""

from fastmax.ops import FastmaxAttention, cuda_available, fastmax_attention, reference_attention

__version__ = "0.1.0"
__all__ = [
    "FastmaxAttention",
    "__version__",
    "cuda_available",
    "fastmax_attention",
    "reference_attention",
]
