"""Parse a rendered model card back and check every number against the run's files.

Shared by the hand-built-run tests and the tiny-real-run end-to-end test. Formatting is re-implemented here
on purpose (not imported from model_card.formatting) so a formatting bug cannot hide itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from PIL import Image
from transformers import AutoConfig

from model_card.render import CORPUS_LICENCES

PCT = re.compile(r"(?<![\d.])-?\d+\.\d{2} %")
PP = re.compile(r"[+-]\d+\.\d{2} pp")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?")


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def parse_tables(body: str) -> dict[str, list[list[dict[str, str]]]]:
    """{heading text: [table, ...]}, each table a list of rows {column header: cell text}."""
    tables: dict[str, list[list[dict[str, str]]]] = {}
    heading, block = "", []

    def flush():
        if block:
            header = [c.strip() for c in block[0].strip().strip("|").split(" | ")]
            rows = [[c.strip() for c in re.split(r"(?<!\\) \| ", line.strip()[2:-2])] for line in block[2:]]
            assert all(len(r) == len(header) for r in rows), f"ragged table under {heading!r}: {block}"
            tables.setdefault(heading, []).append([dict(zip(header, r)) for r in rows])
            block.clear()

    for line in body.splitlines():
        if line.startswith("|"):
            block.append(line)
            continue
        flush()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
    flush()
    return tables


def _floats(obj: Any) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        return [f for v in obj.values() for f in _floats(v)]
    if isinstance(obj, list):
        return [f for v in obj for f in _floats(v)]
    return []


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _strings(v)]
    if isinstance(obj, list):
        return [t for v in obj for t in _strings(v)]
    return []


def _flatten(cfg: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _yamlish(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ", ".join(_yamlish(x) for x in v) + "]"
    return str(v)


def check_card(out: Path, data: Path) -> dict[str, Any]:
    """Assert the card in ``out`` agrees with the run's files; returns counts of what was checked."""
    card_path = out / "README.md"
    ev = json.loads((out / "eval_results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    info = json.loads((out / "run_info.json").read_text())
    report = json.loads((data / "prepare_report.json").read_text())
    train_cfg = yaml.safe_load((out / "train_config.yaml").read_text())
    labels, split = ev["labels"], ev["split"]
    primary = ev["splits"][split]
    checked = {"cells": 0}

    def eq(actual: str, expected: Any, what: str) -> None:
        assert actual == str(expected), f"{what}: card says {actual!r}, files say {expected!r}"
        checked["cells"] += 1

    # --- metadata: YAML parses, ModelCardData round trip, model-index well formed and equal to the files
    meta = metadata_load(card_path)
    assert meta["pipeline_tag"] == "audio-classification" and meta["library_name"] == "transformers"
    assert meta["license"] and meta["tags"] and meta["datasets"]
    assert set(meta["language"]) == {c["language"] for c in report["corpora"].values() if c["kept"]}
    card = ModelCard.load(card_path)
    assert card.data.to_dict() == ModelCardData(**meta).to_dict()
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == card.data.model_name
    key_of = {"accuracy": "accuracy", "recall": "uar", "f1": "macro_f1"}
    assert {(r.dataset_split, r.metric_type) for r in results} == {(s, m) for s in ev["splits"] for m in key_of}
    for r in results:
        assert r.task_type == "audio-classification"
        assert r.metric_value == round(ev["splits"][r.dataset_split][key_of[r.metric_type]], 4), r
        checked["cells"] += 1
    if info["demo"]:
        assert "Demo model" in card.text and "demo" in meta["tags"]

    tables = parse_tables(card.text)

    # --- results summary against the baselines
    (summary,) = tables["Results summary"][:1]
    base = primary["baselines"]
    for row, key in zip(summary, ("accuracy", "uar", "macro_f1")):
        eq(row["model"], pct(primary[key]), f"summary {key}")
        eq(row["majority class"], pct(base["majority"][key]), f"majority {key}")
        eq(row["random guess"], pct(base["random"][key]), f"random {key}")
        eq(row["model − majority"], pp(primary[key] - base["majority"][key]), f"vs majority {key}")
        eq(row["model − random"], pp(primary[key] - base["random"][key]), f"vs random {key}")
    splits_table = tables["Results summary"][1]
    assert [r["split"] for r in splits_table] == list(ev["splits"])
    for row in splits_table:
        res = ev["splits"][row["split"]]
        eq(row["clips"], res["n"], "split n")
        eq(row["accuracy"], pct(res["accuracy"]), "split accuracy")
        eq(row["UAR"], pct(res["uar"]), "split uar")
        eq(row["macro-F1"], pct(res["macro_f1"]), "split f1")
    lead = card.text.split("## Results summary")[0]
    for value in (
        pct(primary["accuracy"]),
        pct(primary["uar"]),
        pct(primary["macro_f1"]),
        pct(base["majority"]["accuracy"]),
        pct(base["random"]["accuracy"]),
        f"({primary['n']} clips)",
    ):
        assert value in lead, value

    # --- architecture: parameter counts from run_info
    arch = card.text.split("## Model architecture")[1].split("## Training data")[0]
    total, trainable = re.search(r"\*\*([\d,]+)\*\* in total, \*\*([\d,]+)\*\* trainable", arch).groups()
    eq(total.replace(",", ""), info["parameters"]["total"], "parameters total")
    eq(trainable.replace(",", ""), info["parameters"]["trainable"], "parameters trainable")
    if "trainable_encoder_frozen" in info["parameters"]:
        frozen = re.search(r"\*\*([\d,]+)\*\* trainable while the encoder is frozen", arch).group(1)
        eq(frozen.replace(",", ""), info["parameters"]["trainable_encoder_frozen"], "parameters trainable frozen")

    # --- datasets, splits, class distribution from prepare_report.json
    corpora = tables["Datasets"][0]
    assert [r["corpus"] for r in corpora] == list(report["corpora"])
    for row in corpora:
        c = report["corpora"][row["corpus"]]
        eq(row["found"], c["found"], "found")
        eq(row["kept"], c["kept"], "kept")
        eq(row["skipped"], sum(c["skipped"].values()), "skipped")
        for e in labels:
            eq(row[e], c["per_class"].get(e, 0), f"{row['corpus']} {e}")
    for row in tables["Splits"][0]:
        if row["split"] == "train before balancing":
            assert report["train_before_balancing"] != report["splits"]["train"]
            counts = report["train_before_balancing"]
        else:
            counts = report["splits"][row["split"]]
        for e in labels:
            eq(row[e], counts.get(e, 0), f"split {row['split']} {e}")
        eq(row["total"], sum(counts.values()), "split total")
    totals = {e: sum(s.get(e, 0) for s in report["splits"].values()) for e in labels}
    grand = sum(totals.values())
    shares = {e: totals[e] / grand for e in labels}
    for row in tables["Class distribution"][0]:
        eq(row["clips"], totals[row["class"]], "class clips")
        eq(row["share"], pct(shares[row["class"]]), "class share")
    assert sum(report["splits"][split].values()) == primary["n"], "eval split size differs from prepare_report"

    # --- hyperparameters: every flattened key of train_config.yaml, value as used
    hyper = {r["key"]: r["value"] for r in tables["Hyperparameters"][0]}
    flat = _flatten(train_cfg)
    assert list(hyper) == list(flat)
    for k, v in flat.items():
        eq(hyper[k].replace("\\|", "|"), _yamlish(v), f"config {k}")

    # --- per-epoch progress from trainer_state.json
    per_epoch: dict[float, dict[str, Any]] = {}
    for e in state["log_history"]:
        if "epoch" in e and "train_runtime" not in e and any(k.startswith(("train_", "eval_")) for k in e):
            per_epoch.setdefault(float(e["epoch"]), {}).update(e)
    progress = tables["Training progress"][0]
    assert len(progress) == len(per_epoch) == info["epochs_run"]
    for row, (ep, vals) in zip(progress, sorted(per_epoch.items())):
        eq(row["epoch"], f"{ep:g}", "epoch")
        eq(row["train accuracy"], pct(vals.get("train_accuracy")), f"train acc epoch {ep}")
        eq(row["validation accuracy"], pct(vals.get("eval_accuracy")), f"val acc epoch {ep}")
        eq(row["validation UAR"], pct(vals.get("eval_uar")), f"val uar epoch {ep}")
        eq(row["validation macro-F1"], pct(vals.get("eval_macro_f1")), f"val f1 epoch {ep}")
        eq(row["train loss"], f"{vals['train_loss']:.4f}", f"train loss epoch {ep}")
        eq(row["validation loss"], f"{vals['eval_loss']:.4f}", f"val loss epoch {ep}")

    # --- per-class accuracy (validation and primary split), per corpus/language, confusions vs matrix
    for row in tables["Per-class accuracy"][0]:
        for s in ev["splits"]:
            eq(row[f"{s} accuracy"], pct(ev["splits"][s]["per_class"][row["class"]]["accuracy"]), f"{s} class acc")
        eq(row[f"{split} clips"], primary["per_class"][row["class"]]["support"], "class support")
    corpus_table, language_table = tables[f"Per corpus and per language ({split})"]
    for table, key, col in ((corpus_table, "per_corpus", "corpus"), (language_table, "per_language", "language")):
        assert [r[col] for r in table] == list(primary[key])
        for row in table:
            g = primary[key][row[col]]
            eq(row["accuracy"], pct(g["accuracy"]), f"{key} accuracy")
            eq(row["correct"], g["correct"], f"{key} correct")
            eq(row["clips"], g["n"], f"{key} n")
    counts = primary["confusion_matrix"]["counts"]
    confusions = tables.get("Confusion patterns", [[]])[0]
    assert len(confusions) == len(primary["top_confusions"])
    for row in confusions:
        i, j = labels.index(row["true"]), labels.index(row["predicted"])
        assert i != j
        eq(row["clips"], counts[i][j], "confusion count (matrix)")
        eq(row["share of true class"], pct(counts[i][j] / sum(counts[i])), "confusion share (matrix)")

    # --- files with sizes measured now
    for row in tables["Files"][0]:
        path = out / row["file"].rstrip("/")
        assert path.exists(), row
        if path.is_file() and path.name != "README.md":
            eq(row["bytes"].replace(",", ""), path.stat().st_size, f"size of {path.name}")
    assert {r["file"].rstrip("/") for r in tables["Files"][0]} == {p.name for p in out.iterdir()}

    # --- images referenced from the card exist and are valid PNGs
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card.text)
    assert set(images) == {name_ for name_ in (ev.get("figures") or {}).values() if name_}
    for name_ in images:
        with Image.open(out / name_) as img:
            img.verify()
        with Image.open(out / name_) as img:
            assert img.format == "PNG" and min(img.size) >= 200

    # --- sweep 1: every percentage / percentage-point difference anywhere traces to a value in the run's files
    allowed = {pct(x) for x in _floats(ev) + _floats(state["log_history"]) + _floats(info)}
    allowed |= {pct(x) for x in shares.values()}
    found = PCT.findall(card.text)
    untraced = sorted(set(found) - allowed)
    assert not untraced, f"percentages in the card that no run file holds: {untraced}"
    checked["percentages"] = len(found)
    diffs = {pp(primary[k] - b[k]) for b in base.values() for k in ("accuracy", "uar", "macro_f1")}
    assert set(PP.findall(card.text)) <= diffs

    # --- sweep 2: every other number in the body is a value of the run's files (or a count/sum of them)
    body = card.text.split("## Files")[0] + card.text.split("## Hardware and wall time")[1]  # sizes checked above
    # text values of the files (paths, versions, timestamps, names) may contain digits: they are not numbers
    texts = [t for t in _strings([info, train_cfg, report["settings"], list(report["corpora"])]) if re.search(r"\d", t)]
    for text in sorted(
        {*texts, f"{info['train_runtime_s']:.1f} s", *CORPUS_LICENCES.values(), str(out)}, key=len, reverse=True
    ):
        body = body.replace(text, " ")
    body = re.sub(r"\(\d+:\d\d:\d\d\)", " ", PP.sub(" ", PCT.sub(" ", body)))  # h:mm:ss of the runtime above
    config = json.loads((out / "config.json").read_text())
    encoder = dict(config["encoder_config"])
    resolved_encoder = AutoConfig.for_model(encoder.pop("model_type"), **encoder).to_dict()
    preprocessor = json.loads((out / "preprocessor_config.json").read_text())
    sources = [
        ev,
        state,
        info,
        train_cfg,
        config,
        resolved_encoder,
        preprocessor,
        report,
        len(labels),
        grand,
        list(totals.values()),
        [sum(c["skipped"].values()) for c in report["corpora"].values()],
        [sum(v.values()) for v in report["splits"].values()],
        sum(report.get("train_before_balancing", {}).values()),
    ]
    values = set(_floats(sources))
    values |= {round(v, 4) for v in values}  # losses are written with four decimals
    numbers = NUMBER.findall(body)
    stray = sorted({n for n in numbers if float(n.replace(",", "")) not in values})
    assert not stray, f"numbers in the card that no run file holds: {stray}"
    checked["numbers"] = len(numbers)
    return checked
