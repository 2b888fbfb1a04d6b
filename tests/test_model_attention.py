"""The attention swap: the Fastmax model computes Fastmax, in training and with a KV cache."""

from __future__ import annotations

import pytest
import torch
from litgpt.model import CausalSelfAttention

import fastmax.model.attention as attention_module
from fastmax import reference_attention
from fastmax.model import GPT, FastmaxSelfAttention, NoAttention, masked_fastmax, model_config

VOCAB = 512


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    assert not torch.isnan(out).any()
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


def tiny(attention: str, **overrides) -> GPT:
    name = "fastmax-tiny-linear" if attention == "fastmax" else "fastmax-tiny"
    extra = {} if attention == "fastmax" else {"attention": attention}
    torch.manual_seed(0)
    return GPT(model_config(name, vocab_size=VOCAB, **extra, **overrides)).eval()


def test_each_block_gets_the_attention_of_its_config():
    assert all(type(b.attn) is CausalSelfAttention for b in tiny("softmax").transformer.h)
    assert all(type(b.attn) is FastmaxSelfAttention for b in tiny("fastmax").transformer.h)
    assert all(type(b.attn) is NoAttention for b in tiny("none").transformer.h)


def test_gpt_needs_a_config_that_records_the_attention():
    from litgpt import Config

    with pytest.raises(TypeError, match="ModelConfig"):
        GPT(Config.from_name("pythia-14m"))


@pytest.mark.parametrize("groups", [4, 2, 1])
def test_attention_layer_equals_the_float64_formula(groups):
    layer = tiny("fastmax", n_query_groups=groups).transformer.h[0].attn
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(2, 4, 37, 32, generator=gen)
    k = torch.randn(2, groups, 37, 32, generator=gen)
    v = torch.randn(2, groups, 37, 32, generator=gen)
    ref = reference_attention(q, k, v, causal=True, normalize="token").transpose(1, 2)
    # LitGPT hands over k and v repeated to every query head; the layer must undo that.
    repeated = (k.repeat_interleave(4 // groups, 1), v.repeat_interleave(4 // groups, 1))
    for keys, values in ((k, v), repeated):
        out = layer.scaled_dot_product_attention(q, keys, values)
        assert out.shape == (2, 37, 4, 32)
        assert rel_err(out, ref) < 1e-5


@pytest.mark.parametrize("groups", [4, 2])
def test_full_sequence_forward_equals_litgpt_forward(groups, monkeypatch):
    """The Fastmax layer's own forward (RoPE by apply_rope, key/value heads never repeated)
    computes what LitGPT's forward computes with the same weights: outputs and gradients."""
    model = tiny("fastmax", n_query_groups=groups).double()
    layer = model.transformer.h[0].attn
    ropes = []
    real = attention_module.apply_rope
    monkeypatch.setattr(
        attention_module, "apply_rope", lambda *args: ropes.append(1) or real(*args)
    )
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 37, model.config.n_embd, generator=gen, dtype=torch.float64)
    cos, sin = model.cos[:37].unsqueeze(0), model.sin[:37].unsqueeze(0)
    outputs, grads = [], []
    for forward in (layer.forward, lambda *a: CausalSelfAttention.forward(layer, *a)):
        leaf = x.clone().requires_grad_()
        out = forward(leaf, cos, sin)
        out.square().sum().backward()
        outputs.append(out)
        grads.append([leaf.grad, *(p.grad.clone() for p in layer.parameters())])
        layer.zero_grad()
    assert len(ropes) == 2, "the layer's own forward rotates q and k"
    assert rel_err(outputs[0], outputs[1]) < 1e-12
    for fast, litgpt in zip(*grads, strict=True):
        assert rel_err(fast, litgpt) < 1e-12


def test_fastmax_model_calls_the_op_with_grouped_heads(monkeypatch):
    calls = []
    real = attention_module.fastmax_attention

    def spy(q, k, v, **kwargs):
        calls.append((q.shape[1], k.shape[1], kwargs))
        return real(q, k, v, **kwargs)

    monkeypatch.setattr(attention_module, "fastmax_attention", spy)
    model = tiny("fastmax", n_query_groups=2)
    model(torch.randint(0, VOCAB, (1, 20)))
    assert len(calls) == model.config.n_layer
    for heads, kv_heads, kwargs in calls:
        assert (heads, kv_heads) == (4, 2)
        assert kwargs == {"causal": True, **model.config.fastmax_options}


def test_fastmax_and_softmax_differ_with_equal_weights():
    softmax, fastmax = tiny("softmax"), tiny("fastmax")
    fastmax.load_state_dict(softmax.state_dict())
    x = torch.randint(0, VOCAB, (2, 48))
    with torch.no_grad():
        a, b = softmax(x), fastmax(x)
    assert torch.isfinite(b).all()
    assert rel_err(b, a) > 1e-3
    # The first token attends to itself only: every attention gives v there, so logits agree.
    assert torch.allclose(a[:, 0], b[:, 0], atol=1e-5)


@pytest.mark.parametrize("groups", [4, 2])
def test_kv_cache_generation_equals_the_full_forward(groups):
    model = tiny("fastmax", n_query_groups=groups)
    x = torch.randint(0, VOCAB, (2, 21))
    with torch.no_grad():
        full = model(x)
        model.set_kv_cache(batch_size=2, max_seq_length=32)
        prefill = model(x[:, :9], input_pos=torch.arange(9))
        steps = [model(x[:, t : t + 1], input_pos=torch.tensor([t])) for t in range(9, 21)]
    assert rel_err(prefill, full[:, :9]) < 1e-5
    assert rel_err(torch.cat(steps, dim=1), full[:, 9:]) < 1e-5


def test_masked_fastmax_equals_the_formula_with_a_causal_mask():
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(1, 4, 13, 16, generator=gen, dtype=torch.float64)
    k = torch.randn(1, 2, 13, 16, generator=gen, dtype=torch.float64)
    v = torch.randn(1, 2, 13, 16, generator=gen, dtype=torch.float64)
    mask = torch.ones(13, 13, dtype=torch.bool).tril()[None, None]
    for p in (1, 2):
        out = masked_fastmax(q, k, v, mask, normalize="token", p=p, a0=1.0, a1=1.0, a2=1.0)
        ref = reference_attention(q, k, v, causal=True, normalize="token", p=p)
        assert rel_err(out, ref) < 1e-12


def test_masked_fastmax_refuses_what_it_cannot_compute_exactly():
    q = torch.randn(1, 2, 3, 8)
    mask = torch.ones(1, 1, 3, 3, dtype=torch.bool)
    options = dict(p=1, a0=1.0, a1=1.0, a2=1.0)
    with pytest.raises(ValueError, match="seq_max"):
        masked_fastmax(q, q, q, mask, normalize="seq_max", **options)
    with pytest.raises(TypeError, match="bool"):
        masked_fastmax(q, q, q, mask.float(), normalize="token", **options)


def test_no_attention_passes_values_through_and_has_no_cache_path():
    model = tiny("none")
    layer = model.transformer.h[0].attn
    v = torch.randn(2, 4, 10, 32)
    out = layer.scaled_dot_product_attention(torch.randn_like(v), v, v)
    assert torch.equal(out, v.transpose(1, 2))
    model(torch.randint(0, VOCAB, (1, 10))).sum().backward()
    model.set_kv_cache(batch_size=1, max_seq_length=16)
    with pytest.raises(ValueError, match="KV-cache"):
        model(torch.randint(0, VOCAB, (1, 4)), input_pos=torch.arange(4))


def test_fastmax_model_compiles_without_graph_breaks():
    model = tiny("fastmax", n_query_groups=2).train()
    x = torch.randint(0, VOCAB, (2, 70))
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    out.sum().backward()
    assert rel_err(out, eager) < 1e-5
    for grad, p in zip(grads, model.parameters(), strict=True):
        assert rel_err(p.grad, grad) < 1e-4
