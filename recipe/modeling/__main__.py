"""Print the parameter counts of the default model: `python -m recipe.modeling`.

The default `SERConfig` is wav2vec2-base with the attentive-pooling head; the counts come from the modules'
shapes on the meta device (no weights are downloaded or allocated). Not shipped as remote code.
"""

import torch

from .configuration_ser import SERConfig
from .modeling_ser import SERForAudioClassification

with torch.device("meta"):
    model = SERForAudioClassification(SERConfig())
model.freeze_encoder()
counts = model.parameter_summary()
print(
    f"wav2vec2-base + default head: {counts['total']:,} parameters in total, "
    f"{counts['trainable_encoder_frozen']:,} trainable while the encoder is frozen"
)
