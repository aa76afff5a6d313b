"""An ensemble of audio-classification models as one model folder: every member runs on the same input and the
members' class probabilities are averaged.

SELF-CONTAINED on purpose (copied next to the weights as remote code, `auto_map`): import only torch, transformers
and numpy here. The members are rebuilt from their configs (kept whole in `SEREnsembleConfig.members`) and their
weights are stored under `members.<i>.` in the ensemble's own weights file, so `from_pretrained`, `pipeline` and
remote code load the ensemble exactly as they load one model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForAudioClassification, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_ensemble import SEREnsembleConfig
from .configuration_ser import SERConfig
from .modeling_ser import SERForAudioClassification


def build_member(config_dict: dict[str, Any]) -> PreTrainedModel:
    """A member model with fresh weights from its config dict: our SER model, or any transformers
    audio-classification model (e.g. `Wav2Vec2ForSequenceClassification`)."""
    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type", None)
    if model_type == SERConfig.model_type:
        return SERForAudioClassification(SERConfig(**{k: v for k, v in config_dict.items() if k != "auto_map"}))
    if model_type is None:
        raise ValueError("an ensemble member's config has no model_type")
    config = AutoConfig.for_model(model_type, **{k: v for k, v in config_dict.items() if k != "auto_map"})
    return AutoModelForAudioClassification.from_config(config)


class SEREnsembleForAudioClassification(PreTrainedModel):
    """Members -> softmax each -> mean over members; `logits` = log(mean probabilities)."""

    config_class = SEREnsembleConfig
    config: SEREnsembleConfig
    base_model_prefix = "ensemble"
    main_input_name = "input_values"
    input_modalities = "audio"
    accepts_loss_kwargs = False
    _supports_sdpa = True

    def __init__(self, config: SEREnsembleConfig) -> None:
        super().__init__(config)
        if not config.members:
            raise ValueError("an ensemble needs at least one member config")
        self.members = nn.ModuleList(build_member(member) for member in config.members)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Nothing of its own to initialise: each member initialises its own modules; loading fills them all."""

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput | tuple:
        """input_values (B, samples) as the shared feature extractor gives them -> logits = log of the members'
        mean class probabilities (B, num_labels); loss (negative log-likelihood) with `labels`."""
        probabilities = None
        for member, wants_mask in zip(self.members, self.config.member_wants_attention_mask):
            mask = attention_mask if wants_mask else None
            member_probs = torch.softmax(member(input_values, attention_mask=mask).logits.float(), dim=-1)
            probabilities = member_probs if probabilities is None else probabilities + member_probs
        probabilities = probabilities / len(self.members)
        logits = torch.log(probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny))
        loss = None
        if labels is not None:
            loss = nn.functional.nll_loss(logits, labels.to(logits.device).long().view(-1))
        output = SequenceClassifierOutput(loss=loss, logits=logits)
        if return_dict is False:
            return output.to_tuple()
        return output


SEREnsembleForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
