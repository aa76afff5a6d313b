"""Speech emotion recognition model: a Wav2Vec2-family encoder, attentive pooling over frames and an MLP head.

SELF-CONTAINED on purpose: `save_pretrained` copies this file next to the weights as remote code (`auto_map`), so a
Hub user can load the folder with `trust_remote_code=True` without this project installed. Import only torch,
transformers and numpy here.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    Data2VecAudioModel,
    HubertModel,
    PretrainedConfig,
    PreTrainedModel,
    Wav2Vec2Model,
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

# Keyword arguments of `from_encoder` that are download options rather than encoder config overrides.
_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only", "force_download", "subfolder")


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
    """Encoder -> attentive pooling (masked) -> [Linear+LayerNorm+ReLU+Dropout] x len(head_sizes) -> Linear."""

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
        if isinstance(module, nn.Linear):
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
        pooling: str | None = None,
        **encoder_overrides: Any,
    ) -> "SERForAudioClassification":
        """Build a model whose encoder weights come from a pretrained checkpoint and whose head is new.

        `name_or_path` is a Hub id or folder of a bare encoder (`facebook/wav2vec2-base`) or of a
        `*ForSequenceClassification` / `*ForCTC` model (`superb/wav2vec2-base-superb-er`): transformers' loader strips
        the `wav2vec2.`/`hubert.`/`wavlm.`/`data2vec_audio.` prefix and reports the old head's tensors as unexpected;
        they are discarded. `encoder_overrides` override encoder config entries (e.g. `mask_time_prob=0.0`,
        `layerdrop=0.0`); `attn_implementation` and download options (`revision`, `cache_dir`, `token`,
        `local_files_only`) are passed to the loader. What was loaded is logged and kept in `model.loading_info`.
        """
        hub_kwargs = {key: encoder_overrides.pop(key) for key in _HUB_KWARGS if key in encoder_overrides}
        attn_implementation = encoder_overrides.pop("attn_implementation", None)
        source_config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs, **encoder_overrides)
        if source_config.model_type not in ENCODER_CLASSES:
            raise ValueError(
                f"{name_or_path}: model_type {source_config.model_type!r} is not a supported encoder "
                f"({', '.join(sorted(ENCODER_CLASSES))})"
            )
        encoder_class = ENCODER_CLASSES[source_config.model_type]
        encoder_config = build_encoder_config(source_config)
        # Hand-written on top of from_pretrained only to keep the report: transformers does the file handling
        # (Hub/cache, safetensors or .bin, shards, legacy weight-norm names, prefix stripping).
        pretrained, info = encoder_class.from_pretrained(
            name_or_path,
            config=encoder_config,
            output_loading_info=True,
            dtype=torch.float32,
            attn_implementation=_encoder_attn_implementation(encoder_class, attn_implementation),
            **hub_kwargs,
        )

        config_kwargs: dict[str, Any] = {"encoder_config": clean_encoder_config(pretrained.config)}
        if id2label is not None:
            config_kwargs["id2label"] = {int(index): label for index, label in id2label.items()}
        if head_sizes is not None:
            config_kwargs["head_sizes"] = list(head_sizes)
        if head_dropout is not None:
            config_kwargs["head_dropout"] = head_dropout
        if pooling is not None:
            config_kwargs["pooling"] = pooling
        config = SERConfig(encoder_name_or_path=str(name_or_path), **config_kwargs)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        model = cls(config)
        model.encoder.load_state_dict(pretrained.state_dict(), strict=True)

        missing = sorted(info.get("missing_keys", []))
        discarded = sorted(info.get("unexpected_keys", []))
        # Only with ignore_mismatched_sizes=True: (key, checkpoint shape, model shape); those tensors are new too.
        mismatched = sorted(
            item[0] if isinstance(item, tuple) else str(item) for item in info.get("mismatched_keys", [])
        )
        encoder_keys = list(model.encoder.state_dict())
        new_params = [f"encoder.{key}" for key in missing + mismatched] + [
            name for name, _ in model.named_parameters() if not name.startswith("encoder.")
        ]
        model.loading_info = {
            "encoder_name_or_path": str(name_or_path),
            "encoder_class": encoder_class.__name__,
            "source_architectures": list(source_config.architectures or []),
            "loaded_encoder_tensors": len(encoder_keys) - len(missing) - len(mismatched),
            "encoder_tensors": len(encoder_keys),
            "discarded_checkpoint_keys": discarded,
            "mismatched_encoder_keys": mismatched,
            "newly_initialized": new_params,
        }
        logger.info(
            "Encoder %s (%s): loaded %d of %d encoder tensors from %s",
            name_or_path, encoder_class.__name__, model.loading_info["loaded_encoder_tensors"], len(encoder_keys),
            ", ".join(source_config.architectures or [encoder_class.__name__]),
        )
        if discarded:
            logger.info("Discarded %d checkpoint tensors (old task head): %s", len(discarded), ", ".join(discarded))
        if missing or mismatched:
            logger.info("Encoder tensors newly initialised (not in checkpoint): %s", ", ".join(missing + mismatched))
        head_params = [name for name in new_params if not name.startswith("encoder.")]
        logger.info("Newly initialised head parameters: %s", ", ".join(head_params))
        return model

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
        """Number of parameters: {"total": all, "trainable": those with requires_grad}."""
        total = sum(param.numel() for param in self.parameters())
        trainable = sum(param.numel() for param in self.parameters() if param.requires_grad)
        return {"total": total, "trainable": trainable}

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
        if output_hidden_states is not None:
            encoder_kwargs["output_hidden_states"] = output_hidden_states
        if output_attentions is not None:
            encoder_kwargs["output_attentions"] = output_attentions
        outputs = self.encoder(input_values, attention_mask=attention_mask, **encoder_kwargs)
        hidden_states = outputs.last_hidden_state
        pooled = self.pooling(hidden_states, self.frame_mask(hidden_states.shape[1], attention_mask))
        logits = self.classifier(self.head(pooled))

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.to(logits.device).long().view(-1))
        output = SequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )
        if return_dict is False:
            return output.to_tuple()
        return output


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


# Mark for remote code: `save_pretrained` copies this file (and configuration_ser.py, feature_extraction_ser.py) and writes `auto_map`.
SERForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
