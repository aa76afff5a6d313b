"""prepare_report.json and the printed summary tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.names import text_safe
from common.tables import text_table
from data_prep.corpora.base import REASON_NAME_COLLISION
from data_prep.labels import EMOTIONS


def format_table(title: str, rows: dict[str, dict[str, int]], columns: Sequence[str] = EMOTIONS) -> str:
    """A plain-text table: one row per key, one column per class, plus a total column and (for several rows) row."""
    body = [
        [name, *(counts.get(c, 0) for c in columns), sum(counts.get(c, 0) for c in columns)]
        for name, counts in rows.items()
    ]
    if len(body) > 1:
        body.append(["total", *(sum(col) for col in list(zip(*body))[1:])])
    return text_table([title, *columns, "total"], body, right=range(1, len(columns) + 2))


def summary(report: dict[str, Any]) -> str:
    """Corpus x class and split x class tables, then the skip reasons of each corpus."""
    corpora = report["corpora"]
    parts = [
        format_table("corpus", {name: c["per_class"] for name, c in corpora.items()}),
        format_table("split", report["splits"]),
    ]
    lines = []
    for name, c in corpora.items():
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(c["skipped"].items())) or "none"
        status = " (MISSING)" if c.get("missing") else ""
        lines.append(f"{name}{status}: found {c['found']}, kept {c['kept']}, skipped: {reasons}")
    collisions = [s for s in report.get("skipped_files", []) if s["reason"] == REASON_NAME_COLLISION]
    if collisions:
        lines.append(
            f"LOOK AT: {len(collisions)} file(s) share a name with another file but not its bytes "
            "(reason 'name collision' in prepare_report.json's skipped_files); the first copy was kept"
        )
    overlap = ", ".join(f"{pair} {n}" for pair, n in report["speaker_overlap"].items())
    lines.append(f"speakers shared between splits: {overlap}")
    return "\n\n".join(parts + ["\n".join(lines)])


def write_report(report: dict[str, Any], output: str | Path) -> Path:
    """Write DIR/prepare_report.json and return its path. Strings go through `common.names.text_safe`, so a file
    name that is not UTF-8 is written with `\\xNN` escapes instead of failing the encoder."""
    path = Path(output) / "prepare_report.json"
    path.write_text(json.dumps(text_safe(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
