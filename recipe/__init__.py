"""Model, training, evaluation and inference (second stage; reads what data_prep wrote).

Importing this package registers the SER classes with the transformers Auto classes, so
`pipeline("audio-classification", model=DIR)` and `AutoModelForAudioClassification.from_pretrained(DIR)` work
in-process, and marks them for `auto_map` so `save_pretrained` also writes the modelling code (remote code).
"""
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

from .feature_extraction_ser import SERFeatureExtractor
from .modeling_ser import SERConfig, SERForAudioClassification

__all__ = ["SERConfig", "SERFeatureExtractor", "SERForAudioClassification"]


def _register() -> None:
    """Register with the Auto classes (in-process) and for remote code (`auto_map` on save)."""
    AutoConfig.register(SERConfig.model_type, SERConfig, exist_ok=True)
    AutoModelForAudioClassification.register(SERConfig, SERForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(SERConfig, SERFeatureExtractor, exist_ok=True)
    SERConfig.register_for_auto_class()
    SERForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
    SERFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")


_register()
