"""Model against reality: a calibrated model's sweep beside the same sweep measured on a store.

`python -m occmodel.reality DIR` reads two results directories of one experiment, DIR/model
(`occmodel run CONFIG`) and DIR/measured (`occmodel run CONFIG --store URL`), and writes beside
them what docs/validation.md shows: `comparison.csv` (per point and metric: both means with
their 95 % half-widths, the ratio model / measured and whether the two intervals overlap),
`comparison.md` (the same as a table, with the measured diagnostics that explain a
disagreement: cores busy, client and server CPU, the client loop's lag) and `reality.png`.
The pairing is by the swept values, so the two sides must be the same grid of the same config.
"""
from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .errors import ConfigError  # noqa: E402
from .plots import DPI, NAMES  # noqa: E402
from .results import Row, read_csv, read_json, write_bytes_atomic, write_atomic, write_csv  # noqa: E402

COMPARED = ("throughput", "conflict_rate", "attempts_per_op", "p50_ms", "p99_ms", "success_rate")
LOG = ("throughput", "p50_ms", "p99_ms", "attempts_per_op")
DIAGNOSED = ("machine_busy", "client_cpu", "server_cpu", "loop_lag_p99_ms")
SHORT = {"throughput": "ops/s", "conflict_rate": "conflicts/attempt", "attempts_per_op": "attempts/op",
         "p50_ms": "p50 ms", "p99_ms": "p99 ms", "success_rate": "success"}
FORMAT = {"throughput": "{:.0f}", "conflict_rate": "{:.3f}", "attempts_per_op": "{:.2f}", "p50_ms": "{:.3g}",
          "p99_ms": "{:.3g}", "success_rate": "{:.3f}"}


def load_side(d: Path, want_backend: str | None) -> tuple[dict[str, Any], list[Row]]:
    manifest = d / "manifest.json"
    if not manifest.exists():
        raise ConfigError("DIR", str(d), "expected a results directory written by 'occmodel run' (no manifest.json)")
    m = read_json(manifest)
    backend = m.get("backend", "model")
    if (want_backend == "model") != (backend == "model"):
        side = "model" if want_backend == "model" else "measured"
        raise ConfigError("DIR", str(d), f"is the {side} side but holds results of {backend!r}")
    return m, read_csv(d / "summary.csv")


def key(row: Row, swept: Sequence[str]) -> tuple:
    return tuple(row[c] for c in swept)


def pair(model_dir: Path, measured_dir: Path) -> tuple[list[str], str, list[tuple[Row, Row, Row | None]]]:
    """(swept columns, store kind, [(model row, measured row, measured diagnostics)]) in grid order."""
    mm, model = load_side(model_dir, "model")
    rm, measured = load_side(measured_dir, None)
    if mm["name"] != rm["name"] or mm["swept"] != rm["swept"]:
        raise ConfigError("DIR", str(measured_dir), f"holds {rm['name']!r} swept over {rm['swept']}, not the model "
                                                    f"side's {mm['name']!r} over {mm['swept']}")
    swept = mm["swept"]
    by_key = {key(r, swept): r for r in measured}
    if set(by_key) != {key(r, swept) for r in model}:
        raise ConfigError("DIR", str(measured_dir), "its sweep points differ from the model side's: run the same config")
    diagnostics: dict[tuple, list[Row]] = {}
    if (measured_dir / "diagnostics.csv").exists():
        for d in read_csv(measured_dir / "diagnostics.csv"):
            diagnostics.setdefault(key(d, swept), []).append(d)
    pairs = []
    for r in model:
        k = key(r, swept)
        runs = diagnostics.get(k)
        mean = None if not runs else {c: sum(x[c] for x in runs if x[c] is not None) / len(runs) for c in DIAGNOSED}
        pairs.append((r, by_key[k], mean))
    return swept, rm["backend"], pairs


def value(row: Row, metric: str) -> tuple[float, float]:
    v, ci = row.get(metric), row.get(f"{metric}_ci95")
    return (math.nan if v is None else float(v)), (0.0 if ci is None or ci != ci else float(ci))


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) <= a[1] + b[1]


def comparison_rows(swept: Sequence[str], pairs: list[tuple[Row, Row, Row | None]]) -> list[Row]:
    rows = []
    for model, measured, _ in pairs:
        for metric in COMPARED:
            a, b = value(model, metric), value(measured, metric)
            ratio = a[0] / b[0] if b[0] else math.nan
            rows.append({**{c: model[c] for c in swept}, "metric": metric, "model": a[0], "model_ci95": a[1],
                         "measured": b[0], "measured_ci95": b[1], "ratio": ratio, "overlap": int(overlap(a, b))})
    return rows


def cell(metric: str, v: tuple[float, float]) -> str:
    if v[0] != v[0]:
        return "—"
    fmt = FORMAT[metric]
    return fmt.format(v[0]) + (f" ± {fmt.format(v[1])}" if v[1] else "")


def markdown(swept: Sequence[str], kind: str, pairs: list[tuple[Row, Row, Row | None]]) -> str:
    """One line per point: each metric as model / measured (mean ± 95 % half-width), then the
    measured diagnostics."""
    head = [*(c.split(".")[-1] for c in swept), *(SHORT[m] + " model / measured" for m in COMPARED),
            "busy cores", "client CPU", f"{kind} CPU", "loop lag p99 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, measured, diag in pairs:
        cells = [str(model[c]) for c in swept]
        for m in COMPARED:
            cells.append(f"{cell(m, value(model, m))} / {cell(m, value(measured, m))}")
        if diag is None:
            cells += ["—"] * len(DIAGNOSED)
        else:
            cells += [f"{diag[c]:.2f}" if diag[c] == diag[c] else "—" for c in DIAGNOSED]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(swept: Sequence[str], kind: str, pairs: list[tuple[Row, Row, Row | None]], title: str) -> plt.Figure:
    """One panel per metric against the clients (log scale), a colour per policy; the model
    dashed with open markers, the measured solid; bands are 95 % intervals (clipped at a tenth
    of the mean on log axes, which cannot show 0)."""
    x = next(c for c in swept if c.endswith("clients"))
    series = [c for c in swept if c != x]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), dpi=DPI, layout="constrained")
    labels = sorted({tuple(m[c] for c in series) for m, _, _ in pairs}, key=str)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, COMPARED):
        for i, lab in enumerate(labels):
            pts = sorted((p for p in pairs if tuple(p[0][c] for c in series) == lab), key=lambda p: p[0][x])
            xs = [p[0][x] for p in pts]
            name = ", ".join(str(v) for v in lab) or "all"
            for side, style, marker, fill in ((0, "--", "o", "none"), (1, "-", "s", colours[i % len(colours)])):
                vs = [value(p[side], metric) for p in pts]
                ys = [v[0] for v in vs]
                hi = [v[0] + v[1] for v in vs]
                # a log axis cannot show an interval reaching 0 or below: clip it at a tenth of the mean
                lo = [max(v[0] - v[1], v[0] / 10) if metric in LOG else v[0] - v[1] for v in vs]
                ax.plot(xs, ys, style, marker=marker, mfc=fill, color=colours[i % len(colours)], lw=1.2, ms=5,
                        label=f"{name} — {'model' if side == 0 else 'measured'}")
                ax.fill_between(xs, lo, hi, color=colours[i % len(colours)], alpha=0.15, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("clients (closed loop, log scale)")
        label = NAMES.get(metric, (None, None))[1] or f"{metric[:-3]} latency of successful operations (ms)"
        ax.set_ylabel(label)
        if metric in LOG:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{title}: calibrated model (dashed, open) vs measured on {kind} (solid); bands: 95 % CI")
    return fig


def compare(directory: Path) -> list[Row]:
    """Write comparison.csv, comparison.md and reality.png into `directory`; returns the CSV's rows."""
    swept, kind, pairs = pair(directory / "model", directory / "measured")
    rows = comparison_rows(swept, pairs)
    write_csv(directory / "comparison.csv", [*swept, "metric", "model", "model_ci95", "measured", "measured_ci95",
                                             "ratio", "overlap"], rows)
    write_atomic(directory / "comparison.md", markdown(swept, kind, pairs))
    name = read_json(directory / "model" / "manifest.json")["name"]
    fig = figure(swept, kind, pairs, name)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(directory / "reality.png", buf.getvalue())
    return rows


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m occmodel.reality DIR   (DIR/model and DIR/measured: results of one config)",
              file=sys.stderr)
        return 2
    try:
        compare(Path(argv[0]))
    except ConfigError as exc:
        print(f"occmodel.reality: error: {exc}", file=sys.stderr)
        return 2
    print(f"{argv[0]}/comparison.csv, comparison.md, reality.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
