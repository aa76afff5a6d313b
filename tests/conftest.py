"""Fixtures shared by several test packages: tiny checkpoints, a small prepared dataset and a hand-built run folder.

Session-scoped fixtures are built once per test process and must only be read by the tests that use them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.run_fixtures import make_fake_run
from tests.support.tiny_models import save_tiny_encoder, save_tiny_ser_model
from tests.support.train_helpers import make_dataset


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random wav2vec2 checkpoint saved as ``Wav2Vec2ForSequenceClassification`` with a 4-class head,
    shaped like superb/wav2vec2-base-superb-er (the recipe's default encoder): the head must be discarded."""
    return save_tiny_encoder(tmp_path_factory.mktemp("encoder") / "enc", as_sequence_classifier=True)


@pytest.fixture(scope="session")
def tiny_ser_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A saved tiny SER model folder (group-norm wav2vec2 encoder, random head) as `recipe.train` writes it."""
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A prepared DatasetDict with one clip per class in each of train, validation and test (6 clips each)."""
    return make_dataset(tmp_path_factory.mktemp("prepared") / "data", n_train=1, n_eval=1)


@pytest.fixture
def fake_run(tmp_path: Path) -> tuple[Path, Path]:
    """A hand-built run folder and its dataset folder (``make_fake_run``): every file a training run and
    `recipe.evaluate` write, with internally consistent numbers, for model-card tests that must not train."""
    return make_fake_run(tmp_path)
