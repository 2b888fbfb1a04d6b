"""``fastmax plot --csv FILE [FILE ...] --out DIR``: the figures of bench CSVs.

* ``fig3_time``: log-log median time against N, one line per method, the p20-p80 range as error
  bars (the paper's Figure 3);
* ``fig4_memory``: peak memory above the inputs against N (Figure 4);
* ``speedup_vs_sdpa``: each method's speedup over softmax attention (the SDPA flash backend, or
  the SDPA backend that ran most cases where flash did not).

One panel per (pass, dtype, causal); points that ran out of memory are marked with a cross at
the top of the panel. Several CSVs are parts of one sweep (say one dtype per GPU) and are drawn
together. Each figure is written as PNG and PDF with a JSON sidecar holding each CSV's sha256 and
the ``environment.json`` that was written beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from fastmax.bench.methods import METHOD_NAMES
from fastmax.bench.sweep import STATE_NAME
from fastmax.bench.sweep_table import PARTIAL_SUFFIX, read_table
from fastmax.plots import pyplot, save_figure
from fastmax.provenance import file_sha256

CASE_COLUMNS = ("method", "N", "B", "H", "D", "dtype", "causal", "pass")
SDPA_METHODS = ("sdpa_flash", "sdpa_cudnn", "sdpa_efficient", "sdpa_math")
LINEAR_BASELINE = "chunk_linear_attn"  # fla's chunked linear attention: the kernels' yardstick
TARGET_SPEEDUP = 2.0  # the kernels' speed target over LINEAR_BASELINE
PASS_LABELS = {"fwd": "forward", "fwd_bwd": "forward + backward"}
MARKERS = "osD^v<>phX*P"
# Variants of a method: drawn in its colour and marker with their own line style.
VARIANTS = {
    "fastmax_cuda_tf32": ("fastmax_cuda", "--"),
    "fastmax_cuda_unsplit": ("fastmax_cuda", ":"),
}
OOM_Y = 0.95  # axes fraction where out-of-memory crosses sit
OOM_BAND = 0.1  # top fraction of a panel kept free of data for them
OOM_LABEL = "out of memory (x at top)"


def add_sweep_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--csv`` (the bench CSVs ``read_sweeps`` reads) and ``--out`` (a folder, ``out_help``)."""
    parser.add_argument(
        "--csv",
        required=True,
        nargs="+",
        help="bench.csv files written by fastmax bench (several: parts of one sweep, e.g. "
        "one dtype per GPU or one head_dim each), each with its environment.json beside it",
    )
    parser.add_argument("--out", required=True, help=out_help)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``fastmax plot``."""
    add_sweep_arguments(parser, "folder for the figures")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax plot``."""
    paths = plot_all([Path(path) for path in args.csv], Path(args.out))
    for path in paths:
        print(path)
    return 0


def read_sweeps(csv_paths: list[Path]) -> tuple[Any, list[dict[str, Any]]]:
    """The rows of every CSV as one table, and each CSV's provenance (sha256, environment).

    A ``bench.csv`` takes its environment from the ``environment.json`` beside it. A
    ``bench.csv.partial`` (a sweep stopped before its end) takes the invocations recorded in the
    sweep state file beside it, and its panels are titled as a partial run. Parts of one sweep
    must not measure the same case twice: a repeated (method, N, B, H, D, dtype, causal, pass)
    raises ``ValueError`` naming the CSVs.
    """
    import pandas as pd

    if not csv_paths:
        raise ValueError("--csv needs at least one bench CSV")
    tables, sources = [], []
    for csv_path in csv_paths:
        partial = csv_path.name.endswith(PARTIAL_SUFFIX)
        table = read_table(csv_path).assign(_source=str(csv_path), partial=partial)
        source: dict[str, Any] = {"csv": str(csv_path), "csv_sha256": file_sha256(csv_path)}
        if partial:
            state = csv_path.with_name(STATE_NAME)
            if not state.is_file():
                raise FileNotFoundError(f"sweep state file {state} does not exist")
            source["partial"] = True
            source["invocations"] = json.loads(state.read_text())["invocations"]
        else:
            env_path = csv_path.with_name("environment.json")
            if not env_path.is_file():
                raise FileNotFoundError(f"environment file {env_path} does not exist")
            source["environment"] = json.loads(env_path.read_text())
        tables.append(table)
        sources.append(source)
    table = pd.concat(tables, ignore_index=True)
    repeated = table[table.duplicated(CASE_COLUMNS, keep=False)]
    if not repeated.empty:
        raise ValueError(
            f"the CSVs {sorted(set(repeated['_source']))} measure the same cases "
            f"(e.g. {repeated.iloc[0][list(CASE_COLUMNS)].to_dict()}); give parts of one sweep"
        )
    return table.drop(columns="_source"), sources


def plot_all(csv_paths: list[Path], out: Path) -> list[Path]:
    """Write the figures of the CSVs' rows into ``out``; return the files written.

    Always time, memory and speedup over SDPA; the Fastmax speedup over ``LINEAR_BASELINE``
    too when that method ran.
    """
    table, sources = read_sweeps(csv_paths)
    sidecar = {"sources": sources}
    paths = []
    figures = [
        ("fig3_time", _draw_time),
        ("fig4_memory", _draw_memory),
        ("speedup_vs_sdpa", _draw_speedup),
    ]
    if not baseline_times(table, LINEAR_BASELINE).empty:
        figures.append(("speedup_vs_linear", _draw_speedup_linear))
    for stem, draw in figures:
        fig = _figure(table, draw)
        paths += save_figure(fig, out / stem, {**sidecar, "figure": stem})
        pyplot().close(fig)
    return paths


def _style(method: str) -> dict[str, Any]:
    """The same colour and marker for a method in every figure, each method its own colour.

    A variant (``VARIANTS``) takes its base method's colour and marker with its own line style.
    """
    if method in VARIANTS:
        base, linestyle = VARIANTS[method]
        return {**_style(base), "linestyle": linestyle}
    bases = [name for name in METHOD_NAMES if name not in VARIANTS]
    index = bases.index(method) if method in bases else len(bases)
    colors = [*pyplot().get_cmap("tab10").colors, "black", "darkgoldenrod", "lightgray"]
    return {"color": colors[index % len(colors)], "marker": MARKERS[index % len(MARKERS)]}


def _panels(table) -> list[tuple[str, int, str, bool]]:
    """(pass, D, dtype, causal) of every panel: forward first, head dims ascending, dtypes in the
    CSV's order."""
    keys = list(dict.fromkeys(table[["pass", "D", "dtype", "causal"]].itertuples(index=False)))
    dtypes = list(dict.fromkeys(table["dtype"]))
    order = {"fwd": 0, "fwd_bwd": 1}
    return sorted(
        (tuple(key) for key in keys),
        key=lambda key: (order.get(key[0], 2), key[1], dtypes.index(key[2]), not key[3]),
    )


def _tick_label(value: float, _position: int) -> str:
    """Plain numbers on log axes: 0.5, 2, 10k rather than powers of ten."""
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _format_log_axis(axis, low: float, high: float) -> None:
    """Ticks at 1, 2, 5 per decade on short ranges, at powers of ten on long ones."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    short = 0 < low < high and high / low <= 1e3
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if short else (1.0,)))
    axis.set_major_formatter(FuncFormatter(_tick_label))
    axis.set_minor_formatter(NullFormatter())


def _figure(table, draw):
    """A grid of panels, rows by pass, columns by (dtype, causal), with one shared legend."""
    plt = pyplot()
    panels = _panels(table)
    passes = list(dict.fromkeys(p for p, _, _, _ in panels))
    columns = list(dict.fromkeys(panel[1:] for panel in panels))
    head_dims = sorted(set(table["D"]))
    fig, axes = plt.subplots(
        len(passes),
        len(columns),
        figsize=(4.6 * len(columns), 3.6 * len(passes)),
        squeeze=False,
        sharex=True,
    )
    handles: dict[str, Any] = {}
    for pass_, d, dtype, causal in panels:
        ax = axes[passes.index(pass_)][columns.index((d, dtype, causal))]
        rows = table[
            (table["pass"] == pass_)
            & (table["D"] == d)
            & (table["dtype"] == dtype)
            & (table["causal"] == causal)
        ]
        head_dim = f"D={d}, " if len(head_dims) > 1 else ""
        title = f"{PASS_LABELS.get(pass_, pass_)}, {head_dim}{dtype}"
        title += "" if causal else ", non-causal"
        if "partial" in rows and rows["partial"].any():
            title += f"\n(partial run, N <= {rows['N'].max()})"
        ax.set_title(title)
        handles.update(draw(ax, rows))
        if (rows["status"] == "oom").any():
            _leave_room_for_oom(ax)
        ax.set_xscale("log")
        ax.set_xlabel("sequence length N")
        _format_log_axis(ax.xaxis, *ax.get_xlim())
        if ax.get_yscale() == "log":
            _format_log_axis(ax.yaxis, *ax.get_ylim())
    used = {(passes.index(panel[0]), columns.index(panel[1:])) for panel in panels}
    for (row, column), ax in np.ndenumerate(axes):
        if (row, column) not in used:
            ax.set_visible(False)
        elif not ax.has_data() and not ax.texts:
            ax.text(0.5, 0.5, "no method ran", ha="center", va="center", transform=ax.transAxes)
    unsupported = _unsupported_note(table)
    first = table.iloc[0]
    device = str(first["device"])
    suptitle = f"{device}: B={first['B']}, H={first['H']}, D={', '.join(map(str, head_dims))}"
    if device == "cpu":
        suptitle += " (CPU smoke run, not a GPU measurement)"
    fig.suptitle(suptitle)
    fig.tight_layout()
    labels = sorted(handles, key=lambda label: label == OOM_LABEL)
    fig.legend(
        [handles[label] for label in labels],
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, max(1, len(labels))),
        frameon=False,
        handlelength=4.0,  # long enough to tell dashed from dotted and solid beside a marker
    )
    if unsupported:
        fig.text(
            0.5,
            -0.02 - 0.035 * (len(labels) // 4 + 1),
            "unsupported here (reasons in the CSV): " + unsupported,
            ha="center",
            va="top",
            fontsize=8,
        )
    return fig


def _unsupported_note(table) -> str:
    """Methods with unsupported cases: the name alone when none ran, else with the dtypes."""
    notes = []
    for method in sorted(set(table["method"]), key=_order):
        rows = table[table["method"] == method]
        refused = rows[rows["status"] == "unsupported"]
        if refused.empty:
            continue
        if len(refused) == len(rows):
            notes.append(method)
        else:
            notes.append(f"{method} ({', '.join(dict.fromkeys(refused['dtype']))})")
    return ", ".join(notes)


def _oom_marks(ax, rows, method: str, style: dict[str, Any]) -> Any:
    oom = rows[(rows["method"] == method) & (rows["status"] == "oom")]
    if oom.empty:
        return None
    return ax.plot(
        oom["N"],
        [OOM_Y] * len(oom),
        linestyle="none",
        marker="x",
        markersize=8,
        color=style["color"],
        transform=ax.get_xaxis_transform(),
        clip_on=False,
    )[0]


def _lines(ax, rows, value, error=None) -> dict[str, Any]:
    """One line per method of ``value(rows of a method, ok only)``; OOM crosses on top."""
    handles: dict[str, Any] = {}
    any_oom = False
    for method in sorted(set(rows["method"]), key=_order):
        style = _style(method)
        ok = rows[(rows["method"] == method) & (rows["status"] == "ok")].sort_values("N")
        y = value(ok)
        if y is not None and y.notna().any():
            kept = y.notna()
            yerr = np.asarray(error(ok[kept])) if error else None
            line = ax.errorbar(
                ok.loc[kept, "N"], y[kept], yerr=yerr, capsize=2, label=method, **style
            )
            handles[method] = line
        cross = _oom_marks(ax, rows, method, style)
        if cross is not None:
            handles.setdefault(method, cross)
            any_oom = True
    if any_oom:
        handles[OOM_LABEL] = ax.plot([], [], linestyle="none", marker="x", color="black")[0]
    return handles


def _leave_room_for_oom(ax) -> None:
    """Raise the top of a log y axis so OOM crosses sit above the data."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log" and 0 < low < high:
        ax.set_ylim(low, high * (high / low) ** (OOM_BAND / (1 - OOM_BAND)))


def _order(method: str) -> int:
    return METHOD_NAMES.index(method) if method in METHOD_NAMES else len(METHOD_NAMES)


def _draw_time(ax, rows) -> dict[str, Any]:
    handles = _lines(
        ax,
        rows,
        lambda ok: ok["median_ms"],
        lambda ok: [ok["median_ms"] - ok["p20_ms"], ok["p80_ms"] - ok["median_ms"]],
    )
    ax.set_yscale("log")
    ax.set_ylabel("median time (ms)")
    return handles


def _draw_memory(ax, rows) -> dict[str, Any]:
    if rows["peak_mem_bytes"].notna().any():
        handles = _lines(ax, rows, lambda ok: ok["peak_mem_bytes"] / 2**30)
        ax.set_yscale("log")
    else:
        handles = _lines(ax, rows, lambda ok: None)
        ax.text(
            0.5,
            0.5,
            "no memory statistics\n(PyTorch keeps none on the CPU)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_ylabel("peak memory above inputs (GiB)")
    return handles


def sdpa_baseline(rows) -> str | None:
    """The SDPA method to compare against in these rows: flash when it ran, else the SDPA
    backend with the most successful cases (ties: the lower total time); None without any."""
    ok = rows[rows["status"] == "ok"]
    ran = [m for m in SDPA_METHODS if (ok["method"] == m).any()]
    if not ran:
        return None
    if "sdpa_flash" in ran:
        return "sdpa_flash"
    return min(
        ran,
        key=lambda m: (-(ok["method"] == m).sum(), ok.loc[ok["method"] == m, "median_ms"].sum()),
    )


def baseline_times(rows, baseline: str):
    """Median ms of ``baseline``'s successful rows by N (empty when it did not run)."""
    return rows[(rows["method"] == baseline) & (rows["status"] == "ok")].set_index("N")["median_ms"]


def speedup_over(ok, base):
    """Baseline time / method time for one method's successful rows (NaN where the baseline
    has no time at that N)."""
    return ok["N"].map(base) / ok["median_ms"].values


def _draw_speedup(ax, rows) -> dict[str, Any]:
    baseline = sdpa_baseline(rows)
    ax.set_ylabel("speedup over SDPA (x)")
    if baseline is None:
        ax.text(0.5, 0.5, "no SDPA backend ran", ha="center", va="center", transform=ax.transAxes)
        return {}
    base = baseline_times(rows, baseline)
    others = rows[rows["method"] != baseline]
    handles = _lines(ax, others, lambda ok: speedup_over(ok, base))
    ax.axhline(1.0, color="black", linewidth=1.0, linestyle="--")
    ax.set_yscale("log")
    ax.set_ylabel(f"speedup over {baseline} (x)")
    return handles


def _draw_speedup_linear(ax, rows) -> dict[str, Any]:
    base = baseline_times(rows, LINEAR_BASELINE)
    ax.set_ylabel(f"speedup over {LINEAR_BASELINE} (x)")
    if base.empty:
        text = f"{LINEAR_BASELINE} did not run"
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        return {}
    fastmax = rows[rows["method"].str.startswith("fastmax_")]
    handles = _lines(ax, fastmax, lambda ok: speedup_over(ok, base))
    ax.axhline(1.0, color="black", linewidth=1.0, linestyle="--")
    target = f"target: {TARGET_SPEEDUP:g}x"
    handles[target] = ax.axhline(TARGET_SPEEDUP, color="tab:red", linewidth=1.0, linestyle=":")
    ax.set_yscale("log")
    return handles
