"""Shared figure conventions: print-readable style, PNG + PDF, and a provenance sidecar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastmax.provenance import write_json

STYLE = {
    "figure.figsize": (6.4, 4.2),
    "figure.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def pyplot():
    """matplotlib.pyplot on the headless Agg backend with the project style applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def save_figure(fig: Any, stem: str | Path, sidecar: dict[str, Any]) -> list[Path]:
    """Write ``stem.png``, ``stem.pdf`` and ``stem.json`` (provenance); return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".pdf"):
        path = stem.with_suffix(suffix)
        tmp = path.with_name(path.stem + ".tmp" + suffix)
        fig.savefig(tmp, bbox_inches="tight")
        tmp.replace(path)
        paths.append(path)
    sidecar_path = stem.with_suffix(".json")
    write_json(sidecar_path, sidecar)
    paths.append(sidecar_path)
    return paths
