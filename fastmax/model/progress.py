"""A Lightning Fabric logger that shows training progress as a tqdm bar."""

from __future__ import annotations

from typing import Any

from lightning.fabric.loggers import Logger
from lightning.fabric.utilities.rank_zero import rank_zero_only
from tqdm import tqdm


class ProgressLogger(Logger):
    """Advances a progress bar to the logged ``iter`` and shows the latest losses (rank 0 only)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self._total = total
        self._bar: tqdm | None = None
        self._shown: dict[str, str] = {}

    @property
    def name(self) -> str:
        return "progress"

    @property
    def version(self) -> int:
        return 0

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._bar is None:
            self._bar = tqdm(total=self._total, desc="train", unit="iter", dynamic_ncols=True)
        for key in ("loss", "val_loss"):
            if key in metrics:
                self._shown[key] = f"{float(metrics[key]):.3f}"
        self._bar.set_postfix(self._shown, refresh=False)
        if "iter" in metrics:
            self._bar.update(int(metrics["iter"]) - self._bar.n)
        else:
            self._bar.refresh()

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyperparameters are not shown."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
