"""Model, training, evaluation and inference (second stage; reads what data_prep wrote).

Importing this package registers the SER classes with the transformers Auto classes, so
`pipeline("audio-classification", model=DIR)` and `AutoModelForAudioClassification.from_pretrained(DIR)` work
in-process, and marks them for `auto_map` so `save_pretrained` also writes the modelling code (remote code).
It also lets `SERForAudioClassification.from_encoder` read SpeechBrain repos (components.speechbrain_checkpoint).
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

from . import modeling
from .components import speechbrain_checkpoint  # noqa: F401  (registers the SpeechBrain encoder reader)
from .modeling import *  # noqa: F403  (the SER classes, re-exported)
from .modeling import (
    SERConfig,
    SEREnsembleConfig,
    SEREnsembleForAudioClassification,
    SERFeatureExtractor,
    SERForAudioClassification,
)

__all__ = list(modeling.__all__)


def _register() -> None:
    """Register with the Auto classes for in-process loading (the classes mark themselves for `auto_map`)."""
    AutoConfig.register(SERConfig.model_type, SERConfig, exist_ok=True)
    AutoModelForAudioClassification.register(SERConfig, SERForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(SERConfig, SERFeatureExtractor, exist_ok=True)
    AutoConfig.register(SEREnsembleConfig.model_type, SEREnsembleConfig, exist_ok=True)
    AutoModelForAudioClassification.register(SEREnsembleConfig, SEREnsembleForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(SEREnsembleConfig, SERFeatureExtractor, exist_ok=True)


_register()
