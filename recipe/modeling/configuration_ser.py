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
    "architectures",
    "id2label",
    "label2id",
    "num_labels",
    "problem_type",
    "finetuning_task",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "_name_or_path",
    "auto_map",
    "_attn_implementation_autoset",
    "_commit_hash",
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
        attention_hidden_size (`int`): width A of the tanh scoring layer of the attentive pooling (see below).
        use_weighted_layer_sum (`bool`): pool a learned softmax-weighted sum of all hidden states (the transformer's
            input and every layer's output) instead of the last one, as transformers' `*ForSequenceClassification`
            models and SUPERB's downstream models do; needs encoder layerdrop 0.
        encoder_output_norm (`bool`): normalise the encoder output of each utterance over its frames and features
            (parameter-free, eps 1e-5), as SpeechBrain's wav2vec2 wrapper does with `output_norm: True`; on for
            encoders fine-tuned that way (speechbrain/emotion-recognition-wav2vec2-IEMOCAP).
        pooling (`str`): "attentive" (learned frame weights) or "mean" (masked average of the frames).
        head_sizes (`list[int]`): widths of the MLP head's hidden layers (each Linear+LayerNorm+ReLU+Dropout).
        head_dropout (`float`): dropout after each hidden layer of the head.
        speaker_norm (`bool`): standardise each pooled embedding by its speaker's statistics (mean and variance
            over the speaker's clips given together; the training set's running statistics for a lone clip).
        temperature (`float`): the model's logits are divided by it (post-hoc temperature scaling: argmax unchanged,
            probabilities calibrated). 1.0 until `python -m recipe.evaluate` fits it on the validation split.
        id2label / label2id: default to the six emotions.

    The default A = 384 is the width that reproduces the parameter counts of the model this recipe rebuilds
    (wav2vec2-base, "95.2M total, 856K trainable" with the encoder frozen). With hidden size H = 768, six classes
    and head sizes 512, 256, 128, the trainable part is
        pooling  H*A + A (tanh layer) + A + 1 (score)          = 770*A + 1
        head     768*512+512 + 2*512  +  512*256+256 + 2*256
                 + 256*128+128 + 2*128  +  128*6+6             = 560,518
    so 770*A + 560,519 = 856K gives A = 383.7, i.e. 384 (= H/2): 856,199 trainable. The wav2vec2-base encoder
    (`Wav2Vec2Model`, masked_spec_embed included) has 94,371,712 parameters: 95,227,911 = 95.2M in total.
    A = 128 would give 659,079 / 95,030,791. Printed by `python -m recipe.modeling`.
    """

    model_type = "ser_attention_pooling"

    encoder_config: dict | None = None
    encoder_name_or_path: str | None = None
    attention_hidden_size: int = 384
    pooling: str = "attentive"
    head_sizes: list[int] | None = None
    head_dropout: float = 0.3
    use_weighted_layer_sum: bool = False
    encoder_output_norm: bool = False
    speaker_norm: bool = False
    temperature: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        if self.encoder_config is None:
            self.encoder_config = Wav2Vec2Config()
        # Through the config class, so a partial dict ({"model_type": "wav2vec2", "layerdrop": 0.0}) is completed
        # with the architecture's defaults and config.json always holds the full encoder architecture.
        self.encoder_config = clean_encoder_config(build_encoder_config(self.encoder_config))
        if self.use_weighted_layer_sum and float(self.encoder_config.get("layerdrop") or 0.0) > 0.0:
            # A dropped layer adds no hidden state, so the stack no longer lines up with the layer weights.
            raise ValueError(
                "use_weighted_layer_sum needs encoder layerdrop 0.0 (got "
                f"{self.encoder_config['layerdrop']}): set encoder_config layerdrop: 0.0"
            )
        self.temperature = float(self.temperature)
        if not 0.0 < self.temperature < float("inf"):
            raise ValueError(f"temperature must be a positive finite number, got {self.temperature}")
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

    @property
    def num_hidden_states(self) -> int:
        """Hidden states the encoder returns: the input of the first transformer layer and each layer's output."""
        return int(self.encoder_config["num_hidden_layers"]) + 1

    def get_encoder_config(self) -> PretrainedConfig:
        """The encoder config as a `Wav2Vec2Config` / `HubertConfig` / `WavLMConfig` / `Data2VecAudioConfig`."""
        return build_encoder_config(self.encoder_config)


SERConfig.register_for_auto_class()
