"""The files shipped as remote code next to the weights (`auto_map`).

`save_pretrained` copies these modules into the model folder so a Hub user can load it with
`trust_remote_code=True` without this project installed: they import only torch, transformers and numpy, and
each other by relative import.
"""

from .configuration_ensemble import SEREnsembleConfig
from .configuration_ser import SERConfig
from .feature_extraction_ser import SERFeatureExtractor
from .modeling_ensemble import SEREnsembleForAudioClassification
from .modeling_ser import SERForAudioClassification

__all__ = [
    "SERConfig",
    "SEREnsembleConfig",
    "SEREnsembleForAudioClassification",
    "SERFeatureExtractor",
    "SERForAudioClassification",
]
