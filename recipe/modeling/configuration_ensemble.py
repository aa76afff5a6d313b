"""Configuration of a model ensemble (`SEREnsembleConfig`): the members' own configs, kept whole.

Shipped as remote code next to the weights (`auto_map`): import only torch, transformers and numpy here.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class SEREnsembleConfig(PretrainedConfig):
    r"""Configuration of [`SEREnsembleForAudioClassification`].

    Args:
        members (`list[dict]`): each member's full config dict (`config.to_dict()`), in member order.
        member_names (`list[str]`): where each member came from (its folder name), for people reading config.json.
        member_wants_attention_mask (`list[bool]`): whether each member's own feature extractor gives it an
            attention mask; members trained without one (group-norm encoders) get none inside the ensemble either.
        id2label / label2id: the members' common labels.

    The ensemble's output is the average of the members' class probabilities; its `logits` are the log of that
    average, so `softmax(logits)` (what `pipeline` and `recipe.predict` apply) gives the average exactly.
    """

    model_type = "ser_ensemble"

    members: list[dict] | None = None
    member_names: list[str] | None = None
    member_wants_attention_mask: list[bool] | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        self.members = [dict(member) for member in (self.members or [])]
        self.member_names = list(self.member_names or [str(i) for i in range(len(self.members))])
        wants = self.member_wants_attention_mask
        wants = [True] * len(self.members) if wants is None else wants
        self.member_wants_attention_mask = [bool(w) for w in wants]
        if self.id2label is None and self.members and kwargs.get("num_labels") is None:
            self.id2label = {int(k): v for k, v in self.members[0].get("id2label", {}).items()} or None
        super().__post_init__(**kwargs)
        if self.id2label is not None:
            self.label2id = {label: index for index, label in self.id2label.items()}


SEREnsembleConfig.register_for_auto_class()
