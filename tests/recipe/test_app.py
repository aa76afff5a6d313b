"""recipe.app: the Gradio demo served on localhost, called through gradio_client (`classify` endpoint) and opened in
a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium): its answers are
`recipe.predict`'s for the same file; unreadable audio gives a message in the page."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demo.recording import make_recording
from recipe.app import AudioInputError, classify_file, segment_file, timeline_frame
from recipe.components.model_io import load_model
from recipe.components.onnx_export import synthetic_waves
from recipe.components.timeline import timeline_figure, write_downloads
from recipe.predict import main as predict_main
from tests.support.tiny_models import save_tiny_ser_model

REPO = Path(__file__).resolve().parents[2]
SR = 16000


def _wave(seconds: float, seed: int) -> np.ndarray:
    return synthetic_waves([seconds], SR, seed=seed)[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model", seed=3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    paths = {"short": folder / "speech_3s.wav", "long": folder / "speech_19s.wav", "broken": folder / "broken.wav"}
    sf.write(paths["short"], _wave(3.0, 1), SR)
    sf.write(paths["long"], _wave(19.0, 2), SR)
    paths["call"] = folder / "call_30s.wav"  # pseudo-speech between silences: a recording to segment
    sf.write(paths["call"], make_recording(30, SR, seed=2, speech="demo")[0], SR)
    paths["broken"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m recipe.app` in a subprocess on a free localhost port, until the module's tests are done."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recipe.app", "--model", model_dir, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"recipe.app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"recipe.app did not answer on {url} within 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _predict_cli(model_dir: str, path: Path, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    # fp32: the app runs the model in fp32, the CLI's default precision is auto
    assert predict_main([model_dir, str(path), "--json", "--top_k", "6", "--precision", "fp32", *extra]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)["predictions"]
    return prediction


def test_classify_file_and_timeline(model_dir: str, clips: dict[str, Path]) -> None:
    model, extractor = load_model(model_dir, "cpu")
    short = classify_file(model, extractor, clips["short"])
    assert short.windows == 1 and timeline_frame(short).empty
    long = classify_file(model, extractor, clips["long"])
    frame = timeline_frame(long)
    assert frame[["start_s", "end_s"]].values.tolist() == [[0, 8], [8, 16], [16, 19]]  # 8 s windows, 3 s remainder
    assert list(frame.columns[4:]) == [model.config.id2label[i] for i in range(6)]
    with pytest.raises(AudioInputError, match="^broken.wav: "):
        classify_file(model, extractor, clips["broken"])
    with pytest.raises(AudioInputError, match="no audio"):
        classify_file(model, extractor, None)


def test_segment_file_timeline_chart_and_downloads(model_dir: str, clips: dict[str, Path], tmp_path: Path) -> None:
    model, extractor = load_model(model_dir, "cpu")
    prediction = segment_file(model, extractor, clips["call"])
    record = prediction.to_dict()
    assert len(record["segments"]) >= 5
    frame = timeline_frame(prediction)
    assert frame[["start_s", "end_s"]].round(2).values.tolist() == [[s["start"], s["end"]] for s in record["segments"]]
    figure = timeline_figure(record)
    bars = figure.axes[0].patches
    assert len(bars) == len(record["segments"])
    labels = list(record["scores"])
    for bar, seg in zip(bars, record["segments"]):  # each bar spans its segment, on its label's row
        assert bar.get_x() == pytest.approx(seg["start"]) and bar.get_width() == pytest.approx(
            seg["end"] - seg["start"]
        )
        assert round(bar.get_y() + bar.get_height() / 2) == labels.index(seg["label"])
    files = write_downloads(record, tmp_path, "call")
    assert [f.name for f in files] == ["call.csv", "call.json", "call.vtt"]
    assert json.loads(files[1].read_text())["segments"] == record["segments"]
    assert files[2].read_text().startswith("WEBVTT\n") and files[2].read_text().count(" --> ") == len(bars)
    with pytest.raises(AudioInputError, match="^broken.wav: "):
        segment_file(model, extractor, clips["broken"])


@pytest.mark.slow
def test_gradio_client_classify_endpoint(
    app_url: str, model_dir: str, clips: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    for name, extra in (("short", ()), ("long", ("--chunk",))):
        answer = client.predict(handle_file(str(clips[name])), api_name="/classify")
        expected = _predict_cli(model_dir, clips[name], capsys, *extra)
        assert answer["label"] == expected["label"]
        got = {item["label"]: item["confidence"] for item in answer["confidences"]}
        want = {item["label"]: item["score"] for item in expected["top_k"]}
        assert got.keys() == want.keys() and max(abs(got[k] - want[k]) for k in want) < 1e-6
    with pytest.raises(AppError, match="broken.wav: "):
        client.predict(handle_file(str(clips["broken"])), api_name="/classify")


def main_segments(model_dir: str, path: Path, capsys: pytest.CaptureFixture) -> list[dict]:
    return _predict_cli(model_dir, path, capsys, "--segment", "vad")["segments"]


def _chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver; missing: skip on a developer machine, fail in CI (.ci/run installs them)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = "chromium and chromedriver not found (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must run the browser test, see .ci/run")
    pytest.skip(message)


def _headless_chromium():
    """A selenium driver for headless Chromium (the caller quits it)."""
    browser, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1600",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _upload_and_classify(driver, wait, path: Path) -> None:
    """Upload `path` into the audio input and press Classify."""
    from selenium.webdriver.common.by import By

    upload = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
    upload[0].send_keys(str(path))
    # Uploaded: the audio component swaps its file input for a player.
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
    button = wait.until(lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Classify"])
    button[0].click()


@pytest.mark.slow
def test_browser_upload_shows_predict_s_label(
    app_url: str, model_dir: str, clips: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _headless_chromium()
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(app_url)

        _upload_and_classify(driver, wait, clips["short"])
        shown = wait.until(
            lambda d: [
                e.text
                for e in d.find_elements(By.CSS_SELECTOR, "#emotion [data-testid='label-output-value']")
                if e.text.strip()
            ]
        )
        assert shown[0] == _predict_cli(model_dir, clips["short"], capsys)["label"]

        driver.get(app_url)  # a fresh page: the broken file's reason appears in it, not a stack trace
        _upload_and_classify(driver, wait, clips["broken"])
        wait.until(lambda d: "broken.wav: " in d.find_element(By.TAG_NAME, "body").text)
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()


@pytest.mark.slow
def test_gradio_client_segments_endpoint(
    app_url: str, model_dir: str, clips: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    from gradio_client import Client, handle_file

    answer = Client(app_url, verbose=False).predict(handle_file(str(clips["call"])), api_name="/segments")
    assert main_segments(model_dir, clips["call"], capsys) == answer["segments"]
    assert answer["file"] == clips["call"].name and "path" not in answer  # no server path, no file download


@pytest.mark.slow
def test_browser_long_recording_shows_timeline(
    app_url: str, model_dir: str, clips: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    """A 30 s recording (longer than the model's 8 s max_duration) in the page: the answer, the timeline chart
    drawn, one table row per segment `predict --segment vad` finds, and its CSV / JSON / VTT to download."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = _predict_cli(model_dir, clips["call"], capsys, "--segment", "vad")
    segments = expected["segments"]
    assert len(segments) >= 5
    driver = _headless_chromium()
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(app_url)
        _upload_and_classify(driver, wait, clips["call"])
        answer = wait.until(
            lambda d: [
                v for e in d.find_elements(By.CSS_SELECTOR, "#answer textarea") if (v := e.get_property("value"))
            ]
        )
        assert answer[0].split(" (")[0] == expected["label"]

        # The chart: the matplotlib figure as a loaded image inside the timeline-chart block.
        image = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline-chart img"))[0]
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        assert image.size["width"] > 100 and image.size["height"] > 50

        # The table (Gradio's grid of role=row / role=gridcell): one row per segment with its start, end and label.
        def table_rows(d) -> list[list[str]]:
            rows = d.find_elements(By.CSS_SELECTOR, "#timeline [role=row]")
            cells = [
                [c.get_attribute("textContent").strip() for c in r.find_elements(By.CSS_SELECTOR, "[role=gridcell]")]
                for r in rows
            ]
            return [c for c in cells if c and c[0]]

        rows = wait.until(lambda d: (r := table_rows(d)) and len(r) == len(segments) and r)
        for row, seg in zip(rows, segments):
            assert float(row[0]) == pytest.approx(seg["start"], abs=0.006)
            assert float(row[1]) == pytest.approx(seg["end"], abs=0.006)
            assert row[2] == seg["label"]

        # The downloads: links to the recording's segments as CSV, JSON and VTT, named by the upload's name.
        stem = clips["call"].stem
        links = wait.until(
            lambda d: sorted(
                a.get_attribute("download") for a in d.find_elements(By.CSS_SELECTOR, "#downloads a[download]")
            )
        )
        assert links == [f"{stem}.csv", f"{stem}.json", f"{stem}.vtt"]
    finally:
        driver.quit()
