"""The model card's calibration section: temperature, ECE/NLL before and after per split, the reliability diagram,
all read from eval_results.json (hand-built run folder; no training)."""

from __future__ import annotations

import json

from model_card.__main__ import main as card_main
from recipe.components.plots import plot_reliability_diagram
from tests.support.card_checks import check_card, parse_tables


def _add_calibration(out, temperature: float = 2.345678) -> dict:
    ev = json.loads((out / "eval_results.json").read_text())
    numbers = {"validation": (0.181234, 0.031234, 1.91, 1.42), "test": (0.172345, 0.045678, 1.88, 1.47)}
    for name, (ece_b, ece_a, nll_b, nll_a) in numbers.items():
        n = ev["splits"][name]["n"]
        ev["splits"][name]["calibration"] = {
            "n": n,
            "ece_before": ece_b,
            "ece_after": ece_a,
            "nll_before": nll_b,
            "nll_after": nll_a,
        }
    ev["calibration"] = {
        "temperature": temperature,
        "fitted_on": "validation",
        "n_fit": ev["splits"]["validation"]["n"],
        "method": "temperature scaling",
        "bins": 15,
        "stored_in_config": True,
        "figure": "reliability_diagram.png",
    }
    ev["figures"]["reliability_diagram"] = "reliability_diagram.png"
    rows = [{"lower": 0.6, "upper": 2 / 3, "count": 5, "confidence": 0.63, "accuracy": 0.6}]
    plot_reliability_diagram(rows, rows, out / "reliability_diagram.png")
    (out / "eval_results.json").write_text(json.dumps(ev))
    return ev


def test_card_shows_ece_before_and_after(fake_run) -> None:
    out, data = fake_run
    ev = _add_calibration(out)
    assert card_main(["--model", str(out), "--data", str(data)]) == 0
    check_card(out, data)  # the rest of the card still traces to the run's files
    text = (out / "README.md").read_text()
    assert "**T = 2.3457**" in text and "fitted on the validation split" in text
    assert "![Reliability diagram (test)" in text and "(reliability_diagram.png)" in text
    (table,) = parse_tables(text)["Calibration"]
    assert [row["split"] for row in table] == [
        f"{s}" + (" (fitted here)" if s == "validation" else "") for s in ev["splits"]
    ]
    by_split = {row["split"].split()[0]: row for row in table}
    assert by_split["test"] == {
        "split": "test",
        "clips": str(ev["splits"]["test"]["n"]),
        "ECE before": "17.23 %",
        "ECE after": "4.57 %",
        "NLL before": "1.8800",
        "NLL after": "1.4700",
    }
    assert by_split["validation"]["ECE before"] == "18.12 %" and by_split["validation"]["ECE after"] == "3.12 %"


def test_card_without_calibration_has_no_section(fake_run) -> None:
    out, data = fake_run
    assert card_main(["--model", str(out), "--data", str(data)]) == 0
    assert "### Calibration" not in (out / "README.md").read_text()
