"""The offline drift report: a request log (profiles only) against a bundle's reference, as one HTML file.

Plain matplotlib: the drift libraries (Evidently, whylogs, alibi-detect) compare two samples
of rows, while the bundle carries binned histograms; the numbers here are the server's own
(the same PSI code), so the report and ``/drift`` never disagree.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from pose2gloss.monitor.drift import DEFAULT_THRESHOLD, DriftReport, compare_with_reference
from pose2gloss.monitor.profile import FEATURE_NAMES, FEATURES, Feature


def read_request_log(path: str | Path) -> np.ndarray:
    """Rows of profiles from a ``POSE2GLOSS_DRIFT_LOG`` file (JSON lines); a missing feature is NaN."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON line ({err})") from err
        values = [record.get(name) for name in FEATURE_NAMES]
        rows.append([np.nan if value is None else float(value) for value in values])  # null: a part never seen
    if not rows:
        raise ValueError(f"{path}: no requests in the log")
    return np.asarray(rows, np.float64)


def write_report(
    rows: np.ndarray, reference: dict[str, Any], out: str | Path, threshold: float = DEFAULT_THRESHOLD
) -> DriftReport:
    """Compare, plot each feature's reference and logged distributions, write ``out``; returns the comparison."""
    report = compare_with_reference(rows, reference, threshold)
    figures = [
        _figure(feature, rows[:, i], reference["features"].get(feature.name), report)
        for i, feature in enumerate(FEATURES)
    ]
    verdict = {"drift": "DRIFT: the requests look unlike the training data", "ok": "no drift"}.get(
        report.status, report.status
    )
    table = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_fmt(item['psi'])}</td><td>{_fmt(item['window_mean'])}</td>"
        f"<td>{_fmt(item['reference_mean'])}</td></tr>"
        for name, item in sorted(report.features.items(), key=lambda kv: -(kv[1]["psi"] or 0))
    )
    groups = "".join(f"<tr><td>{html.escape(g)}</td><td>{_fmt(v)}</td></tr>" for g, v in report.groups.items())
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report.reasons)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>pose2gloss drift report</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 10px;text-align:right}}
td:first-child{{text-align:left}} img{{width:320px}}</style></head><body>
<h1>pose2gloss drift report</h1>
<p><b>{html.escape(verdict)}</b>: input drift score (largest group PSI) {_fmt(report.score)}, threshold {threshold:g},
{report.requests} logged requests against a reference of {reference.get("sequences")} sequences
({html.escape(json.dumps(reference.get("source", {})))}).</p><ul>{reasons}</ul>
<h2>Groups</h2><table><tr><th>group</th><th>PSI</th></tr>{groups}</table>
<h2>Features</h2><table><tr><th>feature</th><th>PSI</th><th>logged mean</th><th>reference mean</th></tr>{table}</table>
<h2>Distributions</h2>{"".join(figures)}
</body></html>"""
    Path(out).write_text(page)
    return report


def _figure(feature: Feature, values: np.ndarray, stored: dict[str, Any] | None, report: DriftReport) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(4, 2.6))
    if stored and stored["n"]:
        edges = np.asarray(stored["edges"])
        counts = np.asarray(stored["counts"], np.float64)
        lo, hi = _span(edges, counts, values)
        inner = counts[1:-1] / counts.sum()
        ax.stairs(inner, edges, label="reference", fill=True, alpha=0.4)
        if len(values):
            logged = np.histogram(values, bins=edges)[0] / len(values)
            ax.stairs(logged, edges, label="requests")
        ax.set_xlim(lo, hi)
    elif len(values):
        ax.hist(values, bins=30, label="requests")
    psi = report.features.get(feature.name, {}).get("psi")
    ax.set_title(f"{feature.name} (PSI {_fmt(psi)})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f'<img alt="{feature.name}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _span(edges: np.ndarray, counts: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """The x range that holds the reference's and the requests' mass, not every empty fine bin."""
    used = np.flatnonzero(counts[1:-1])
    lo = edges[max(used.min() - 1, 0)] if len(used) else edges[0]
    hi = edges[min(used.max() + 2, len(edges) - 1)] if len(used) else edges[-1]
    if len(values):
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
