"""Print the parameter counts of the model: `python -m recipe.modeling ['{"hidden_size": 1024, ...}']`.

Without an argument: the default `SERConfig` (wav2vec2-base encoder + the attentive-pooling head). The optional
JSON object gives encoder config entries (e.g. the wav2vec2-large shapes). Counts come from the modules' shapes
on the meta device: no weights are downloaded or allocated. Not shipped as remote code.
"""

import json
import sys

import torch

from .configuration_ser import SERConfig
from .modeling_ser import SERForAudioClassification

encoder_config = {"model_type": "wav2vec2", **(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})}
with torch.device("meta"):
    model = SERForAudioClassification(SERConfig(encoder_config=encoder_config))
model.freeze_encoder()
counts = model.parameter_summary()
print(
    f"{counts['total']:,} parameters in total, "
    f"{counts['trainable_encoder_frozen']:,} trainable while the encoder is frozen"
)
