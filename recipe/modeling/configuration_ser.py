"""Configuration of the SER model (`SERConfig`) and helpers for the encoder config it embeds.

Shipped as remote code next to the weights (`auto_map`): import only torch, transformers and numpy here.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    Data2VecAudioConfig,
    HubertConfig,
    PretrainedConfig,
    Wav2Vec2Config,
    WavLMConfig,
)

# Default label set (same order as data_prep.labels.EMOTIONS; repeated here because this file must stay standalone).
DEFAULT_EMOTIONS: tuple[str, ...] = ("anger", "fear", "happy", "neutral", "sad", "surprise")

# model_type -> config class of the supported encoders.
ENCODER_CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {
    "wav2vec2": Wav2Vec2Config,
    "hubert": HubertConfig,
    "wavlm": WavLMConfig,
    "data2vec-audio": Data2VecAudioConfig,
}

# Entries of an encoder checkpoint's config that describe its old task head or the file, not the encoder itself.
_HEAD_CONFIG_KEYS = (
    "architectures", "id2label", "label2id", "num_labels", "problem_type", "finetuning_task",
    "transformers_version", "dtype", "torch_dtype", "_name_or_path", "auto_map",
    "_attn_implementation_autoset", "_commit_hash",
)



def clean_encoder_config(encoder_config: PretrainedConfig | dict[str, Any]) -> dict[str, Any]:
    """Return the encoder config as a plain dict without the old task head's labels and file metadata."""
    as_dict = encoder_config.to_dict() if isinstance(encoder_config, PretrainedConfig) else dict(encoder_config)
    return {key: value for key, value in as_dict.items() if key not in _HEAD_CONFIG_KEYS}


def build_encoder_config(encoder_config: dict[str, Any] | PretrainedConfig) -> PretrainedConfig:
    """Turn an encoder config dict (as stored in `SERConfig.encoder_config`) into its config object."""
    if isinstance(encoder_config, PretrainedConfig):
        encoder_config = encoder_config.to_dict()
    model_type = encoder_config.get("model_type")
    if model_type not in ENCODER_CONFIG_CLASSES:
        raise ValueError(
            f"Unsupported encoder model_type {model_type!r}; supported: {', '.join(sorted(ENCODER_CONFIG_CLASSES))}"
        )
    config_class = ENCODER_CONFIG_CLASSES[model_type]
    return config_class.from_dict(clean_encoder_config(encoder_config))


class SERConfig(PretrainedConfig):
    r"""Configuration of [`SERForAudioClassification`].

    Args:
        encoder_config (`dict`): config dict of the Wav2Vec2 / HuBERT / WavLM / Data2VecAudio encoder
            (defaults to a wav2vec2-base config).
        encoder_name_or_path (`str`, *optional*): where the encoder weights came from (informational).
        attention_hidden_size (`int`): width of the tanh scoring layer of the attentive pooling.
        pooling (`str`): "attentive" (learned frame weights) or "mean" (masked average of the frames).
        head_sizes (`list[int]`): widths of the MLP head's hidden layers (each Linear+LayerNorm+ReLU+Dropout).
        head_dropout (`float`): dropout after each hidden layer of the head.
        id2label / label2id: default to the six emotions.
    """

    model_type = "ser_attention_pooling"

    encoder_config: dict | None = None
    encoder_name_or_path: str | None = None
    attention_hidden_size: int = 128
    pooling: str = "attentive"
    head_sizes: list[int] | None = None
    head_dropout: float = 0.3

    def __post_init__(self, **kwargs: Any) -> None:
        if self.encoder_config is None:
            self.encoder_config = clean_encoder_config(Wav2Vec2Config())
        elif isinstance(self.encoder_config, PretrainedConfig):
            self.encoder_config = clean_encoder_config(self.encoder_config)
        else:
            self.encoder_config = dict(self.encoder_config)
        if self.encoder_config.get("model_type") not in ENCODER_CONFIG_CLASSES:
            raise ValueError(
                f"Unsupported encoder model_type {self.encoder_config.get('model_type')!r}; "
                f"supported: {', '.join(sorted(ENCODER_CONFIG_CLASSES))}"
            )
        self.head_sizes = [512, 256, 128] if self.head_sizes is None else [int(size) for size in self.head_sizes]
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(DEFAULT_EMOTIONS))
        super().__post_init__(**kwargs)
        if self.id2label is not None:
            self.label2id = {label: index for index, label in self.id2label.items()}

    @property
    def hidden_size(self) -> int:
        """Width of the encoder's frame embeddings (input of the pooling)."""
        return int(self.encoder_config["hidden_size"])

    def get_encoder_config(self) -> PretrainedConfig:
        """The encoder config as a `Wav2Vec2Config` / `HubertConfig` / `WavLMConfig` / `Data2VecAudioConfig`."""
        return build_encoder_config(self.encoder_config)


SERConfig.register_for_auto_class()
