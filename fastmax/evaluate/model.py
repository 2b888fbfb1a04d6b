"""The lm-eval model ``fastmax-litgpt``: a checkpoint of ``fastmax train``, with its own attention.

    lm_eval.simple_evaluate(model="fastmax-litgpt", model_args={"checkpoint_dir": DIR}, ...)

The model is rebuilt by :func:`fastmax.model.load_model`, which takes the attention kind from the
checkpoint's ``model_config.yaml``: a Fastmax checkpoint is evaluated with
``fastmax.fastmax_attention`` (never converted to a softmax Hugging Face model). The tokenizer
is LitGPT's, read from the tokenizer files that training copies into the checkpoint (or from
``tokenizer_dir``).

* ``loglikelihood``: requests sorted by length (lm-eval's ``Collator``), right-padded into
  batches; inputs longer than the context lose tokens on the left, as lm-eval's ``hf`` model does.
* ``loglikelihood_rolling``: each document cut into lm-eval's disjoint rolling windows of the
  model's context, every token scored once; all windows are batched together.
* ``generate_until``: greedy decoding with the KV cache (:mod:`fastmax.evaluate.generate`),
  stopping at the end-of-text token, at any ``until`` string (cut from the answer) or after
  ``max_gen_toks`` tokens; sampling is refused.

Defaults: the GPU when one is visible, in bfloat16 there and float32 on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval import utils
from lm_eval.api.instance import Instance
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import Collator
from tqdm import tqdm

from fastmax.evaluate import MODEL_NAME
from fastmax.evaluate.generate import greedy_generate
from fastmax.model import load_model

DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}
CHECKPOINT_FILES = ("model_config.yaml", "lit_model.pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
DEFAULT_MAX_GEN_TOKS = 256
GREEDY_KWARGS = ("until", "max_gen_toks", "do_sample", "temperature")


def _positive_int(name: str, value: Any) -> int:
    """``value`` (an int or a decimal string, as lm-eval passes them) as a positive int."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def check_checkpoint(checkpoint_dir: str | Path) -> Path:
    """``checkpoint_dir`` as a Path, after checking that it holds a model written by training."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise FileNotFoundError(f"checkpoint folder {str(checkpoint_dir)!r} does not exist")
    for name in CHECKPOINT_FILES:
        if not (checkpoint_dir / name).is_file():
            raise FileNotFoundError(
                f"checkpoint folder {str(checkpoint_dir)!r} has no {name}; expected a checkpoint "
                "written by `fastmax train` (model_config.yaml and lit_model.pth)"
            )
    return checkpoint_dir


def resolve_device(device: str | None) -> torch.device:
    """``device``, or the GPU when one is visible and the CPU otherwise."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device {device!r} is not a torch device ({error})") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but PyTorch sees no CUDA GPU")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The weights' dtype: a name from ``DTYPES``, or "auto" (bfloat16 on a GPU, else float32)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def _stop_strings(until: Any) -> list[str]:
    if until is None:
        return []
    if isinstance(until, str):
        until = [until]
    if not isinstance(until, (list, tuple)) or not all(isinstance(s, str) and s for s in until):
        raise ValueError(f"until must be a string or a list of non-empty strings, got {until!r}")
    return list(until)


@register_model(MODEL_NAME)
class FastmaxLitGPT(TemplateLM):
    """lm-eval's view of a LitGPT checkpoint written by ``fastmax train`` (see module doc).

    Args:
        checkpoint_dir: folder with ``model_config.yaml`` and ``lit_model.pth``.
        tokenizer_dir: folder with the tokenizer files; default ``checkpoint_dir``.
        batch_size: requests per forward pass.
        max_batch_size: accepted for lm-eval's interface; only None (no automatic batch size).
        device: torch device; default the GPU when visible, else the CPU.
        dtype: "auto" (bfloat16 on a GPU, float32 on the CPU) or a dtype name.
        max_gen_toks: default token budget of ``generate_until`` (requests may set their own);
            default 256 or half the context, whichever is smaller.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path,
        tokenizer_dir: str | Path | None = None,
        batch_size: int | str = 1,
        max_batch_size: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        max_gen_toks: int | str | None = None,
    ) -> None:
        super().__init__()
        from litgpt.tokenizer import Tokenizer

        if max_batch_size is not None:
            raise ValueError(
                f"max_batch_size={max_batch_size!r}: automatic batch sizes are not supported; "
                "give batch_size"
            )
        self._batch_size = _positive_int("batch_size", batch_size)
        self._device = resolve_device(device)
        model_dtype = resolve_dtype(dtype, self._device)
        self._checkpoint_dir = check_checkpoint(checkpoint_dir)
        tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir is not None else self._checkpoint_dir
        if not any((tokenizer_dir / name).is_file() for name in TOKENIZER_FILES):
            raise FileNotFoundError(
                f"tokenizer_dir {str(tokenizer_dir)!r} has none of {list(TOKENIZER_FILES)}; "
                "train with tokenizer_dir set (the files are copied into each checkpoint) or "
                "pass tokenizer_dir"
            )
        self.tokenizer = Tokenizer(tokenizer_dir)
        if self.tokenizer.eos_id is None:
            raise ValueError(
                f"the tokenizer in {str(tokenizer_dir)!r} defines no end-of-text token"
            )
        self._model = load_model(self._checkpoint_dir, device=self._device, dtype=model_dtype)
        config = self._model.config
        seq_max = config.attention == "fastmax" and config.fastmax_normalize == "seq_max"
        if seq_max and self._batch_size != 1:
            raise ValueError(
                "this checkpoint uses fastmax_normalize='seq_max', which divides by a maximum "
                "over every input token, padding included; evaluate it with batch_size=1"
            )
        half_context = max(self.max_length // 2, 1)
        self._max_gen_toks = (
            min(DEFAULT_MAX_GEN_TOKS, half_context)
            if max_gen_toks is None
            else _positive_int("max_gen_toks", max_gen_toks)
        )

    @property
    def model(self) -> torch.nn.Module:
        """The LitGPT model, its attention as in the checkpoint."""
        return self._model

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_id

    @property
    def prefix_token_id(self) -> int:
        """The token that conditions empty contexts and the first rolling window: BOS, else EOS."""
        return self.tokenizer.bos_id if self.tokenizer.bos_id is not None else self.eot_token_id

    @property
    def max_length(self) -> int:
        """The model's context in tokens."""
        return self._model.config.block_size

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.model_name

    def get_model_info(self) -> dict[str, Any]:
        """What lm-eval records under ``config`` in its results."""
        config = self._model.config
        return {
            "checkpoint_dir": str(self._checkpoint_dir),
            "model_name": config.name,
            "attention": config.attention,
            "fastmax_options": config.fastmax_options if config.attention == "fastmax" else None,
            "model_num_parameters": sum(p.numel() for p in self._model.parameters()),
            "model_dtype": str(self._model.lm_head.weight.dtype),
            "model_device": str(self._device),
        }

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **kwargs: Any
    ) -> list[int]:
        """Token ids of ``string``; BOS as the tokenizer config says unless told otherwise."""
        return self.tokenizer.encode(string, bos=add_special_tokens).tolist()

    def tok_decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(torch.tensor(tokens, dtype=torch.long))

    def _logits(self, rows: list[list[int]]) -> torch.Tensor:
        """Logits (B, T, vocab) of right-padded token rows; causal, so padding changes nothing."""
        width = max(len(row) for row in rows)
        batch = torch.full((len(rows), width), self.eot_token_id, dtype=torch.long)
        for index, row in enumerate(rows):
            batch[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        with torch.inference_mode():
            return self._model(batch.to(self._device))

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str] | None, list[int], list[int]]],
        disable_tqdm: bool = False,
    ) -> list[tuple[float, bool]]:
        """(log-probability, is greedy) of each continuation given its context, token level."""
        for _, context, continuation in requests:
            if not context or not continuation:
                raise ValueError("every request needs at least one context and one target token")
            if len(continuation) > self.max_length:
                raise ValueError(
                    f"a continuation of {len(continuation)} tokens exceeds the model's context "
                    f"of {self.max_length} tokens"
                )

        def longest_first(request: tuple[Any, list[int], list[int]]) -> tuple[int, tuple]:
            tokens = request[1] + request[2]
            return -len(tokens), tuple(tokens)

        ordered = Collator(requests, sort_fn=longest_first)
        answers: list[tuple[float, bool]] = []
        progress = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood")
        for chunk in ordered.get_batched(n=self.batch_size):
            rows = [
                (context + continuation)[-(self.max_length + 1) :][:-1]
                for _, context, continuation in chunk
            ]
            logits = self._logits(rows)
            for (key, _, continuation), row, row_logits in zip(chunk, rows, logits, strict=True):
                target = torch.tensor(continuation, dtype=torch.long, device=row_logits.device)
                picked = row_logits[len(row) - len(continuation) : len(row)]
                compute = torch.float64 if picked.dtype == torch.float64 else torch.float32
                picked = F.log_softmax(picked.to(compute), dim=-1)
                answer = (
                    float(picked.gather(-1, target[:, None]).sum()),
                    bool((picked.argmax(dim=-1) == target).all()),
                )
                answers.append(answer)
                if key is not None:
                    self.cache_hook.add_partial("loglikelihood", key, answer)
                progress.update(1)
        progress.close()
        return ordered.get_original(answers)

    def loglikelihood_rolling(
        self, requests: list[Instance], disable_tqdm: bool = False
    ) -> list[float]:
        """Log-probability of each whole document, scored in disjoint rolling windows."""
        owners: list[int] = []
        windows: list[tuple[None, list[int], list[int]]] = []
        for index, (text,) in enumerate(request.args for request in requests):
            for context, continuation in map(
                utils.make_disjoint_window,
                utils.get_rolling_token_windows(
                    token_list=self.tok_encode(text),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            ):
                owners.append(index)
                windows.append((None, context, continuation))
        totals = [0.0] * len(requests)
        for owner, (logprob, _) in zip(
            owners, self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm), strict=True
        ):
            totals[owner] += logprob
        for request, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    def _generation_settings(self, gen_kwargs: dict[str, Any]) -> tuple[list[str], int]:
        """Stop strings and token budget of one request; anything but greedy decoding refused."""
        if not isinstance(gen_kwargs, dict):
            raise TypeError(f"generation arguments must be a dict, got {gen_kwargs!r}")
        unknown = sorted(set(gen_kwargs) - set(GREEDY_KWARGS))
        if unknown:
            raise ValueError(
                f"generation arguments {unknown} are not supported; greedy decoding takes "
                f"{list(GREEDY_KWARGS)}"
            )
        if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0.0) > 0.0:
            raise ValueError(
                f"only greedy decoding is supported (do_sample false, temperature 0), got "
                f"{gen_kwargs}"
            )
        budget = _positive_int("max_gen_toks", gen_kwargs.get("max_gen_toks", self.max_gen_toks))
        if budget >= self.max_length:
            raise ValueError(
                f"max_gen_toks={budget} leaves no room for a prompt in the model's context of "
                f"{self.max_length} tokens"
            )
        return _stop_strings(gen_kwargs.get("until")), budget

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation of each context, cut at the first stop string."""
        ordered = Collator(
            [request.args for request in requests],
            sort_fn=lambda args: (-len(self.tok_encode(args[0])), args[0]),
            group_by="gen_kwargs",
            group_fn=lambda args: args[1],
        )
        answers: list[str] = []
        progress = tqdm(total=len(requests), disable=disable_tqdm, desc="generate_until")
        for chunk in ordered.get_batched(n=self.batch_size):
            contexts = [context for context, _ in chunk]
            stops, budget = self._generation_settings(chunk[0][1])
            prompts = [
                self.tok_encode(context)[-(self.max_length - budget) :] or [self.prefix_token_id]
                for context in contexts
            ]

            def finished(row: int, tokens: list[int], stops: list[str] = stops) -> bool:
                if tokens[-1] == self.eot_token_id:
                    return True
                text = self.tok_decode(tokens)
                return any(stop in text for stop in stops)

            for context, (_, gen_kwargs), tokens in zip(
                contexts,
                chunk,
                greedy_generate(self._model, prompts, budget, finished),
                strict=True,
            ):
                if tokens and tokens[-1] == self.eot_token_id:
                    tokens = tokens[:-1]
                text = self.tok_decode(tokens)
                for stop in stops:
                    text = text.split(stop)[0]
                answers.append(text)
                self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
                progress.update(1)
        progress.close()
        return ordered.get_original(answers)
