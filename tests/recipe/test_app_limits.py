"""Limits of the web demo (recipe.app + recipe.components.app_limits): the Blocks and queue configuration, a real
launch on localhost (share stays off with GRADIO_SHARE set, an upload over max_file_size is refused), over-long
audio refused from its header, messages without server paths, and --min_confidence in the app and in predict."""

from __future__ import annotations

import ast
import json
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep.audio_limits import audio_duration, public_message
from recipe.app import AudioInputError, answer_text, build_demo, classify_file
from recipe.components.app_limits import (
    CONCURRENCY,
    DELETE_CACHE,
    MAX_AUDIO_S,
    MAX_FILE_SIZE,
    QUEUE_SIZE,
    AppLimits,
    launch_kwargs,
)
from recipe.components.model_io import load_model
from recipe.components.onnx_export import synthetic_waves
from recipe.predict import main as predict_main
from tests.support.tiny_models import save_tiny_ser_model

REPO = Path(__file__).resolve().parents[2]
SR = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model", seed=3)


@pytest.fixture(scope="module")
def loaded(model_dir: str):
    return load_model(model_dir, "cpu")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_defaults_and_blocks_configuration(loaded) -> None:
    limits = AppLimits()
    assert (limits.max_file_size, limits.max_audio_s, limits.queue_size, limits.concurrency) == ("50mb", 600.0, 16, 1)
    assert launch_kwargs(limits) == {"max_file_size": "50mb", "share": False, "show_error": False}
    assert launch_kwargs(limits, share=True)["share"] is True
    demo = build_demo(*loaded, limits=AppLimits(queue_size=3, concurrency=2))
    assert demo.analytics_enabled is False
    assert demo.delete_cache == (3600, 3600)
    assert (demo._queue.max_size, demo._queue.default_concurrency_limit) == (3, 2)


def test_space_app_repeats_the_same_defaults() -> None:
    tree = ast.parse((REPO / "recipe" / "space" / "app.py").read_text())
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
        and isinstance(node.value, ast.Constant | ast.Tuple)
    }
    expected = {
        "MAX_FILE_SIZE": MAX_FILE_SIZE,
        "MAX_AUDIO_S": MAX_AUDIO_S,
        "QUEUE_SIZE": QUEUE_SIZE,
        "CONCURRENCY": CONCURRENCY,
        "DELETE_CACHE": DELETE_CACHE,
    }
    assert {key: constants[key] for key in expected} == expected


def test_launch_pins_share_off_and_refuses_big_uploads(loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_SHARE", "True")  # would turn sharing on for a launch that leaves share unset
    limits = AppLimits(max_file_size="100kb")
    demo = build_demo(*loaded, limits=limits)
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(limits)
    )
    try:
        assert demo.share is False and demo.share_url is None
        assert demo.max_file_size == 100 * 1024

        def upload(size: int) -> int:
            boundary = uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.wav"\r\n'
                    "Content-Type: audio/wav\r\n\r\n"
                ).encode()
                + b"\0" * size
                + f"\r\n--{boundary}--\r\n".encode()
            )
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/gradio_api/upload",
                data=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as err:
                return err.code

        assert upload(10 * 1024) == 200
        assert upload(200 * 1024) == 413  # Payload Too Large
    finally:
        demo.close()


def test_over_long_audio_is_refused_from_its_header(loaded, tmp_path: Path) -> None:
    model, extractor = loaded
    long = tmp_path / "uploads" / "ten_minutes_and_one.wav"
    long.parent.mkdir()
    sf.write(long, np.zeros(601 * 8000, dtype=np.int16), 8000, subtype="PCM_16")  # header only is read
    assert audio_duration(long) == pytest.approx(601.0)
    with pytest.raises(AudioInputError, match=r"^ten_minutes_and_one.wav: too long \(601.0 s > the 600 s limit\)$"):
        classify_file(model, extractor, long)
    six = tmp_path / "six.wav"
    sf.write(six, synthetic_waves([6.0], SR, seed=1)[0], SR)
    with pytest.raises(AudioInputError, match="too long"):
        classify_file(model, extractor, six, AppLimits(max_audio_s=5.0))
    assert classify_file(model, extractor, six).windows == 1


def test_messages_name_the_file_never_a_server_path(loaded, tmp_path: Path) -> None:
    model, extractor = loaded
    broken = tmp_path / "gradio" / "3f2a9c" / "broken.wav"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    with pytest.raises(AudioInputError) as caught:
        classify_file(model, extractor, broken)
    message = str(caught.value)
    assert message.startswith("broken.wav: ") and str(tmp_path) not in message and "3f2a9c" not in message
    assert (
        public_message("Error opening '/tmp/gradio/ab/x.wav': bad", "/tmp/gradio/ab/x.wav")
        == "Error opening 'x.wav': bad"
    )


def test_min_confidence_answers_uncertain_in_the_app_and_predict(
    loaded, model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, extractor = loaded
    clip = tmp_path / "clip.wav"
    sf.write(clip, synthetic_waves([2.0], SR, seed=2)[0], SR)
    plain = classify_file(model, extractor, clip)
    assert not plain.uncertain and answer_text(plain) == f"{plain.labels[0]} ({plain.scores[0]:.3f})"
    unsure = classify_file(model, extractor, clip, min_confidence=1.0)  # a random 6-class model is never certain
    assert unsure.uncertain and answer_text(unsure).startswith("uncertain (top: ")
    assert unsure.probabilities == plain.probabilities

    assert predict_main([model_dir, str(clip), "--json", "--top_k", "6", "--min_confidence", "1.0"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)["predictions"]
    assert answer["label"] == "uncertain" and len(answer["top_k"]) == 6
    assert predict_main([model_dir, str(clip), "--min_confidence", str(plain.scores[0] / 2)]) == 0
    assert capsys.readouterr().out.split("\t")[1].startswith(plain.labels[0])
    with pytest.raises(SystemExit) as exited:
        predict_main([model_dir, str(clip), "--min_confidence", "1.5"])
    assert exited.value.code == 2
