"""Speech emotion recognition model: a Wav2Vec2-family encoder, attentive pooling over frames and an MLP head.

SELF-CONTAINED on purpose: `save_pretrained` copies this file next to the weights as remote code (`auto_map`), so a
Hub user can load the folder with `trust_remote_code=True` without this project installed. Import only torch,
transformers and numpy here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    Data2VecAudioForSequenceClassification,
    Data2VecAudioModel,
    HubertForSequenceClassification,
    HubertModel,
    PretrainedConfig,
    PreTrainedModel,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
    WavLMForSequenceClassification,
    WavLMModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_ser import SERConfig, build_encoder_config, clean_encoder_config
from .feature_extraction_ser import SERFeatureExtractor

logger = logging.getLogger(__name__)

# model_type -> bare encoder class. Its `base_model_prefix` is the attribute name the *ForSequenceClassification /
# *ForCTC checkpoints keep the encoder under (`wav2vec2.`, `hubert.`, ...).
ENCODER_CLASSES: dict[str, type[PreTrainedModel]] = {
    "wav2vec2": Wav2Vec2Model,
    "hubert": HubertModel,
    "wavlm": WavLMModel,
    "data2vec-audio": Data2VecAudioModel,
}

# model_type -> the *ForSequenceClassification class whose checkpoints (SUPERB's) carry `layer_weights`.
SEQUENCE_CLASSIFIER_CLASSES: dict[str, type[PreTrainedModel]] = {
    "wav2vec2": Wav2Vec2ForSequenceClassification,
    "hubert": HubertForSequenceClassification,
    "wavlm": WavLMForSequenceClassification,
    "data2vec-audio": Data2VecAudioForSequenceClassification,
}

# Keyword arguments of `from_encoder` that are download options rather than encoder config overrides.
_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only", "force_download", "subfolder")


@dataclass
class EncoderWeights:
    """An encoder checkpoint read into memory: what `from_encoder` puts into a new model.

    `state_dict` has the keys of the bare encoder (`Wav2Vec2Model`, ...). Readers of formats transformers cannot
    load (SpeechBrain's, in `recipe.components.speechbrain_checkpoint`) return one of these; see
    `register_encoder_reader`.
    """

    config: PretrainedConfig
    state_dict: dict[str, torch.Tensor]
    source_format: str
    source_architectures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # encoder keys the checkpoint lacked (freshly initialised)
    mismatched: list[str] = field(default_factory=list)  # encoder keys of another shape (freshly initialised)
    discarded: list[str] = field(default_factory=list)  # checkpoint tensors that belong to no encoder tensor
    layer_weights: torch.Tensor | None = None  # a SUPERB-style weighted layer sum's weights
    output_norm: bool | None = None  # the source's own output normalisation, where its format states one
    extra_info: dict[str, Any] = field(default_factory=dict)  # format-specific facts kept in loading_info


# Readers tried by `from_encoder` before transformers' loader: reader(name_or_path, encoder_overrides, hub_kwargs)
# returns EncoderWeights, or None for a source that is not its format. Remote code has none registered; the
# project registers its SpeechBrain reader on `import recipe` (the reader needs PyYAML and huggingface_hub, which
# the files shipped next to the weights must not import).
EncoderReader = Callable[[str, dict[str, Any], dict[str, Any]], "EncoderWeights | None"]
ENCODER_READERS: list[EncoderReader] = []


def register_encoder_reader(reader: EncoderReader) -> None:
    """Let `from_encoder` load another checkpoint format (once per reader)."""
    if reader not in ENCODER_READERS:
        ENCODER_READERS.append(reader)


class AttentivePooling(nn.Module):
    """Weighted mean over frames with learned weights: softmax(w2 · tanh(W1 h_t)); padded frames get weight 0.

    (Named "Attentive" rather than "Attention": transformers treats modules with `*Attention*(nn.Module)` classes
    as attention layers that must use its attention interface.)
    """

    def __init__(self, hidden_size: int, attention_hidden_size: int) -> None:
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(hidden_size, attention_hidden_size), nn.Tanh(), nn.Linear(attention_hidden_size, 1)
        )

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """hidden_states (B, T, H), frame_mask (B, T) bool with True for real frames -> pooled (B, H)."""
        scores = self.score(hidden_states).squeeze(-1)
        if frame_mask is not None:
            scores = scores.masked_fill(~frame_mask.bool(), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if frame_mask is not None:
            weights = weights * frame_mask.to(weights.dtype)  # exact zeros, even for an all-padding row
        return torch.einsum("bt,bth->bh", weights, hidden_states)


def utterance_norm(hidden_states: torch.Tensor, frame_mask: torch.Tensor | None, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each utterance over its real frames and all features: (h - mean) / sqrt(var + eps).

    hidden_states (B, ..., T, H), frame_mask (B, T) or None. Without a mask this is exactly SpeechBrain's
    `F.layer_norm(out, out.shape[1:])` (`output_norm: True`); with one, padded frames take no part in the
    statistics, so an utterance gets the same values alone as in a padded batch.
    """
    if frame_mask is None:
        return nn.functional.layer_norm(hidden_states, hidden_states.shape[-2:], eps=eps)
    # Statistics in float32 (as autocast runs layer_norm): a 400 x 768 fp16 sum can exceed 65504.
    states = hidden_states.float()
    shape = (frame_mask.shape[0],) + (1,) * (states.dim() - 3) + (frame_mask.shape[1], 1)
    mask = frame_mask.to(states.dtype).view(shape)
    count = mask.sum(dim=(-2, -1), keepdim=True).clamp(min=1.0) * states.shape[-1]
    mean = (states * mask).sum(dim=(-2, -1), keepdim=True) / count
    var = (((states - mean) * mask) ** 2).sum(dim=(-2, -1), keepdim=True) / count
    return ((states - mean) * torch.rsqrt(var + eps)).to(hidden_states.dtype)


class MeanPooling(nn.Module):
    """Plain average over the real frames (padded frames excluded): the ablation of the attentive pooling."""

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """hidden_states (B, T, H), frame_mask (B, T) bool with True for real frames -> pooled (B, H)."""
        if frame_mask is None:
            return hidden_states.mean(dim=1)
        weights = frame_mask.to(hidden_states.dtype)
        return torch.einsum("bt,bth->bh", weights, hidden_states) / weights.sum(dim=1, keepdim=True).clamp(min=1.0)


POOLING_TYPES = ("attentive", "mean")


class SERForAudioClassification(PreTrainedModel):
    """Encoder [-> weighted layer sum] [-> utterance norm] -> attentive pooling (masked)
    -> [Linear+LayerNorm+ReLU+Dropout] x len(head_sizes) -> Linear."""

    config_class = SERConfig
    config: SERConfig
    base_model_prefix = "encoder"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    # The head has no attention; these flags let a requested implementation through to the encoder, which checks
    # it against its own support (WavLM has no SDPA: it falls back to eager, see `_encoder_attn_implementation`).
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    # Trainer: our loss is a plain mean; do not pass `num_items_in_batch`.
    accepts_loss_kwargs = False

    def __init__(self, config: SERConfig) -> None:
        requested_attn = config._attn_implementation
        super().__init__(config)
        encoder_config = config.get_encoder_config()
        encoder_class = ENCODER_CLASSES[encoder_config.model_type]
        encoder_config._attn_implementation = _encoder_attn_implementation(encoder_class, requested_attn)
        self.encoder = encoder_class(encoder_config)
        if config.use_weighted_layer_sum:
            # Same parameter (name, shape, initial value) as transformers' *ForSequenceClassification.
            self.layer_weights = nn.Parameter(torch.ones(config.num_hidden_states) / config.num_hidden_states)
        if config.pooling not in POOLING_TYPES:
            raise ValueError(f"pooling must be one of {POOLING_TYPES}, got {config.pooling!r}")
        if config.pooling == "mean":
            self.pooling: nn.Module = MeanPooling()
        else:
            self.pooling = AttentivePooling(config.hidden_size, config.attention_hidden_size)
        layers: list[nn.Module] = []
        width = config.hidden_size
        for size in config.head_sizes:
            layers += [nn.Linear(width, size), nn.LayerNorm(size), nn.ReLU(), nn.Dropout(config.head_dropout)]
            width = size
        self.head = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, config.num_labels)
        # Filled by `from_encoder`: which tensors came from the checkpoint and which are new.
        self.loading_info: dict[str, Any] = {}
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Initialise the pooling/head (the encoder's own `_init_weights` handles its modules)."""
        std = float(self.config.encoder_config.get("initializer_range", 0.02))
        if module is self and self.config.use_weighted_layer_sum:
            init.constant_(self.layer_weights, 1.0 / self.config.num_hidden_states)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    # ---------------------------------------------------------------- construction from a pretrained encoder
    @classmethod
    def from_encoder(
        cls,
        name_or_path: str,
        *,
        id2label: dict[int, str] | None = None,
        head_sizes: list[int] | None = None,
        head_dropout: float | None = None,
        attention_hidden_size: int | None = None,
        use_weighted_layer_sum: bool | None = None,
        encoder_output_norm: bool | None = None,
        pooling: str | None = None,
        **encoder_overrides: Any,
    ) -> SERForAudioClassification:
        """Build a model whose encoder weights come from a pretrained checkpoint and whose head is new.

        `name_or_path` is a Hub id or folder of a bare encoder (`facebook/wav2vec2-base`), of a
        `*ForSequenceClassification` / `*ForCTC` model (`superb/wav2vec2-base-superb-er`: the old head is discarded,
        except SUPERB's `layer_weights` when `use_weighted_layer_sum`), or of a format a registered reader knows
        (`import recipe` registers SpeechBrain's: `speechbrain/emotion-recognition-wav2vec2-IEMOCAP`).
        `encoder_output_norm=None` follows the source (SpeechBrain's `output_norm`; off otherwise).
        `encoder_overrides` override encoder config entries (e.g. `mask_time_prob=0.0`, `layerdrop=0.0`);
        `attn_implementation` and download options (`revision`, `cache_dir`, `token`, `local_files_only`) are passed
        on. What was loaded, discarded and newly initialised is logged and kept in `model.loading_info`.
        """
        hub_kwargs = {key: encoder_overrides.pop(key) for key in _HUB_KWARGS if key in encoder_overrides}
        attn_implementation = encoder_overrides.pop("attn_implementation", None)
        if use_weighted_layer_sum and "layerdrop" not in encoder_overrides:
            encoder_overrides["layerdrop"] = 0.0  # see SERConfig: dropped layers would misalign the layer weights
            logger.info("use_weighted_layer_sum: encoder layerdrop set to 0.0")
        weights = None
        for reader in ENCODER_READERS:
            weights = reader(str(name_or_path), dict(encoder_overrides), dict(hub_kwargs))
            if weights is not None:
                break
        if weights is None:
            weights = _read_transformers_encoder(
                str(name_or_path), encoder_overrides, hub_kwargs, want_layer_weights=bool(use_weighted_layer_sum)
            )

        config_kwargs: dict[str, Any] = {"encoder_config": clean_encoder_config(weights.config)}
        if id2label is not None:
            config_kwargs["id2label"] = {int(index): label for index, label in id2label.items()}
        options = {
            "head_sizes": None if head_sizes is None else list(head_sizes),
            "head_dropout": head_dropout,
            "attention_hidden_size": attention_hidden_size,
            "pooling": pooling,
            "use_weighted_layer_sum": use_weighted_layer_sum,
            "encoder_output_norm": weights.output_norm if encoder_output_norm is None else encoder_output_norm,
        }
        config_kwargs.update({key: value for key, value in options.items() if value is not None})
        config = SERConfig(encoder_name_or_path=str(name_or_path), **config_kwargs)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        model = cls(config)
        model._load_encoder_weights(weights, str(name_or_path))
        return model

    def _load_encoder_weights(self, weights: EncoderWeights, name_or_path: str) -> None:
        """Copy every encoder tensor of `weights` into the model (and SUPERB's layer weights); fill `loading_info`."""
        result = self.encoder.load_state_dict(weights.state_dict, strict=False)
        missing = sorted(set(weights.missing) | set(weights.mismatched) | set(result.missing_keys))
        discarded = sorted(set(weights.discarded) | set(result.unexpected_keys))
        loaded_layer_weights = False
        if weights.layer_weights is not None:
            if self.config.use_weighted_layer_sum and weights.layer_weights.shape == self.layer_weights.shape:
                with torch.no_grad():
                    self.layer_weights.copy_(weights.layer_weights)
                loaded_layer_weights = True
            else:
                discarded = sorted({*discarded, "layer_weights"})
        encoder_keys = list(self.encoder.state_dict())
        new_params = [f"encoder.{key}" for key in missing] + [
            name
            for name, _ in self.named_parameters()
            if not name.startswith("encoder.") and not (name == "layer_weights" and loaded_layer_weights)
        ]
        self.loading_info = {
            "encoder_name_or_path": name_or_path,
            "encoder_class": type(self.encoder).__name__,
            "source_format": weights.source_format,
            "source_architectures": list(weights.source_architectures),
            "loaded_encoder_tensors": len(encoder_keys) - len(missing),
            "encoder_tensors": len(encoder_keys),
            "missing_encoder_keys": missing,
            "mismatched_encoder_keys": sorted(weights.mismatched),
            "loaded_layer_weights": loaded_layer_weights,
            "encoder_output_norm": self.config.encoder_output_norm,
            "discarded_checkpoint_keys": discarded,
            "newly_initialized": new_params,
            **weights.extra_info,
        }
        logger.info(
            "Encoder %s (%s): loaded %d of %d encoder tensors from %s (%s)",
            name_or_path,
            type(self.encoder).__name__,
            self.loading_info["loaded_encoder_tensors"],
            len(encoder_keys),
            ", ".join(weights.source_architectures) or type(self.encoder).__name__,
            weights.source_format,
        )
        if loaded_layer_weights:
            logger.info("Loaded the checkpoint's layer_weights into the weighted layer sum")
        if discarded:
            logger.info("Discarded %d checkpoint tensors (old task head): %s", len(discarded), ", ".join(discarded))
        if missing:
            logger.warning("Encoder tensors newly initialised (not in checkpoint): %s", ", ".join(missing))
        head_params = [name for name in new_params if not name.startswith("encoder.")]
        logger.info("Newly initialised head parameters: %s", ", ".join(head_params))

    def save_pretrained(self, save_directory: str | os.PathLike, is_main_process: bool = True, **kwargs: Any) -> None:
        """`PreTrainedModel.save_pretrained` (safetensors only in transformers 5, config with `auto_map`, modelling
        code), plus a default `preprocessor_config.json` (`SERFeatureExtractor.for_encoder`) when the folder has
        none, so the folder is always pipeline-ready. Save your own extractor afterwards (as Trainer does with its
        `processing_class`) to replace it."""
        super().save_pretrained(save_directory, is_main_process=is_main_process, **kwargs)
        if is_main_process and not os.path.isfile(os.path.join(save_directory, "preprocessor_config.json")):
            SERFeatureExtractor.for_encoder(self.config.encoder_config).save_pretrained(save_directory)
            logger.info("Wrote a default preprocessor_config.json (max_duration 8 s) to %s", save_directory)

    # ---------------------------------------------------------------- freezing and counting
    def freeze_encoder(self) -> None:
        """Stop gradients for the whole encoder (CNN feature encoder and transformer)."""
        self.encoder.freeze_feature_encoder()
        for param in self.encoder.parameters():
            param.requires_grad = False

    def unfreeze_encoder(self) -> None:
        """Let the whole encoder train again (call `freeze_feature_encoder` afterwards to keep the CNN frozen)."""
        for param in self.encoder.parameters():
            param.requires_grad = True
        self.encoder.feature_extractor._requires_grad = True

    def freeze_feature_encoder(self) -> None:
        """Stop gradients for the CNN feature encoder only (the usual setting when fine-tuning)."""
        self.encoder.freeze_feature_encoder()

    def unfreeze_feature_encoder(self) -> None:
        """Let the CNN feature encoder train again."""
        for param in self.encoder.feature_extractor.parameters():
            param.requires_grad = True
        self.encoder.feature_extractor._requires_grad = True

    def parameter_summary(self) -> dict[str, int]:
        """Number of parameters: {"total": all, "trainable": those with requires_grad now,
        "trainable_encoder_frozen": those outside the encoder, i.e. what trains while the encoder is frozen}."""
        total = sum(param.numel() for param in self.parameters())
        trainable = sum(param.numel() for param in self.parameters() if param.requires_grad)
        outside = sum(param.numel() for name, param in self.named_parameters() if not name.startswith("encoder."))
        return {"total": total, "trainable": trainable, "trainable_encoder_frozen": outside}

    # ---------------------------------------------------------------- forward
    def frame_mask(self, num_frames: int, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """(B, num_frames) bool mask of the encoder frames that cover real samples, or None without a mask."""
        if attention_mask is None:
            return None
        return self.encoder._get_feature_vector_attention_mask(num_frames, attention_mask).bool()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """input_values (B, samples) normalised 16 kHz audio; attention_mask (B, samples) 1 for real samples
        (give it for layer-norm encoders; group-norm ones such as wav2vec2-base were trained without it, so all
        frames, including zero padding, take part); labels (B,) class ids -> loss (cross-entropy) and logits."""
        encoder_kwargs: dict[str, Any] = {}
        if output_hidden_states is not None or self.config.use_weighted_layer_sum:
            encoder_kwargs["output_hidden_states"] = bool(output_hidden_states or self.config.use_weighted_layer_sum)
        if output_attentions is not None:
            encoder_kwargs["output_attentions"] = output_attentions
        outputs = self.encoder(input_values, attention_mask=attention_mask, **encoder_kwargs)
        frame_mask = self.frame_mask(outputs.last_hidden_state.shape[1], attention_mask)
        if self.config.use_weighted_layer_sum:
            hidden_states = torch.stack(outputs.hidden_states, dim=1)  # (B, layers, T, H)
            if self.config.encoder_output_norm:  # SpeechBrain normalises each layer of output_all_hiddens
                hidden_states = utterance_norm(hidden_states, frame_mask)
            norm_weights = nn.functional.softmax(self.layer_weights, dim=-1)
            hidden_states = (hidden_states * norm_weights.view(-1, 1, 1)).sum(dim=1)
        else:
            hidden_states = outputs.last_hidden_state
            if self.config.encoder_output_norm:
                hidden_states = utterance_norm(hidden_states, frame_mask)
        pooled = self.pooling(hidden_states, frame_mask)
        logits = self.classifier(self.head(pooled))

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.to(logits.device).long().view(-1))
        output = SequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=None
            if self.config.use_weighted_layer_sum and not output_hidden_states  # only asked for the layer sum
            else getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )
        if return_dict is False:
            return output.to_tuple()
        return output


def _read_transformers_encoder(
    name_or_path: str, encoder_overrides: dict[str, Any], hub_kwargs: dict[str, Any], want_layer_weights: bool
) -> EncoderWeights:
    """Read a transformers checkpoint's encoder (bare or inside a task model) through `from_pretrained`.

    transformers does the file handling (Hub/cache, safetensors or .bin, shards, legacy weight-norm names, prefix
    stripping). A SUPERB-style `*ForSequenceClassification` with `use_weighted_layer_sum` is loaded whole when the
    caller wants its `layer_weights`; otherwise only the bare encoder is, and the task head shows up as unexpected.
    """
    source_config = AutoConfig.from_pretrained(
        name_or_path, **hub_kwargs, **{**encoder_overrides, "trust_remote_code": False}
    )
    model_type = source_config.model_type
    if model_type not in ENCODER_CLASSES:
        raise ValueError(
            f"{name_or_path}: model_type {model_type!r} is not a supported encoder "
            f"({', '.join(sorted(ENCODER_CLASSES))})"
        )
    architectures = list(source_config.architectures or [])
    whole = (
        want_layer_weights
        and bool(getattr(source_config, "use_weighted_layer_sum", False))
        and any(name.endswith("ForSequenceClassification") for name in architectures)
    )
    load_class = SEQUENCE_CLASSIFIER_CLASSES[model_type] if whole else ENCODER_CLASSES[model_type]
    load_config = source_config if whole else build_encoder_config(source_config)
    loaded, info = load_class.from_pretrained(
        name_or_path, config=load_config, output_loading_info=True, dtype=torch.float32, **hub_kwargs
    )
    missing = set(info.get("missing_keys", []))
    unexpected = set(info.get("unexpected_keys", []))
    # Only with ignore_mismatched_sizes=True: (key, checkpoint shape, model shape); those tensors are new too.
    mismatched = {item[0] if isinstance(item, tuple) else str(item) for item in info.get("mismatched_keys", [])}
    if not whole:
        return EncoderWeights(
            config=loaded.config,
            state_dict=loaded.state_dict(),
            source_format="transformers",
            source_architectures=architectures,
            missing=sorted(missing),
            mismatched=sorted(mismatched),
            discarded=sorted(unexpected),
        )
    prefix = loaded.base_model_prefix + "."
    encoder = getattr(loaded, loaded.base_model_prefix)
    head_keys = {key for key in loaded.state_dict() if not key.startswith(prefix) and key != "layer_weights"}
    return EncoderWeights(
        config=build_encoder_config(encoder.config),
        state_dict=encoder.state_dict(),
        source_format="transformers",
        source_architectures=architectures,
        missing=sorted(key[len(prefix) :] for key in missing if key.startswith(prefix)),
        mismatched=sorted(key[len(prefix) :] for key in mismatched if key.startswith(prefix)),
        discarded=sorted((head_keys - missing - mismatched) | unexpected),
        layer_weights=None if "layer_weights" in missing else loaded.layer_weights.detach().clone(),
    )


def _encoder_attn_implementation(encoder_class: type[PreTrainedModel], requested: str | None) -> str | None:
    """The attention implementation to give the encoder: the requested one if its class supports it, else None
    (the encoder's default: SDPA where supported, eager otherwise)."""
    if requested is None or requested == "eager":
        return requested
    supported = (
        ("sdpa" in requested and encoder_class._supports_sdpa)
        or ("flash" in requested and encoder_class._supports_flash_attn)
        or ("flex" in requested and encoder_class._supports_flex_attn)
    )
    if not supported:
        logger.info("%s does not support attn_implementation=%r; using its default", encoder_class.__name__, requested)
        return None
    return requested


# Mark for remote code: `save_pretrained` copies this file (and configuration_ser.py, feature_extraction_ser.py)
# and writes `auto_map`.
SERForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
