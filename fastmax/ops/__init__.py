"""The Fastmax attention op; depends on torch alone."""

from fastmax.ops.attention import FastmaxAttention, cuda_available, fastmax_attention
from fastmax.ops.naive import reference_attention

__all__ = ["FastmaxAttention", "cuda_available", "fastmax_attention", "reference_attention"]
