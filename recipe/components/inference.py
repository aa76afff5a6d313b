"""The one inference path shared by `recipe.evaluate` (dataset splits), `recipe.predict` (audio files), `recipe.app`
(the web demo), `recipe.export` (int8 agreement) and `bench.infer_bench`: which clips share a batch
(`plan_batches`), and one batch turned into class probabilities by PyTorch or by onnxruntime (`OnnxModel`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, PretrainedConfig

from common.cli import UserError


class ModelFolderError(UserError, FileNotFoundError):
    """A model folder that is missing or cannot be loaded (one line, exit 2 in the CLIs)."""


def check_model_folder(model_dir: str | Path) -> Path:
    """`model_dir` as a Path if it holds a loadable model config.json, else ModelFolderError naming the folder."""
    path = Path(model_dir)
    if not path.exists():
        raise ModelFolderError(f"{path}: model folder not found")
    if not path.is_dir():
        raise ModelFolderError(f"{path}: not a folder (expected a model folder written by recipe.train)")
    if not (path / "config.json").is_file():
        raise ModelFolderError(f"{path}: not a model folder (no config.json; expected recipe.train's --output_dir)")
    with model_load_errors(path):  # config.json alone: cheap, and catches a folder of another kind before any work
        AutoConfig.from_pretrained(str(path), trust_remote_code=False)
    return path


@contextlib.contextmanager
def model_load_errors(model_dir: str | Path) -> Iterator[None]:
    """Turn the errors transformers raises for a folder that is not a loadable model (unknown model_type, missing
    or damaged weights) into ModelFolderError naming the folder."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFolderError(f"{model_dir}: cannot load the model ({first})") from err


AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def default_device(device: str | torch.device | None = None) -> torch.device:
    """`device` as given, else cuda when available, else cpu."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def length_batches(lengths: Sequence[int], batch_size: int, same_length_only: bool) -> list[np.ndarray]:
    """Row indices grouped into batches in order of length; with ``same_length_only`` a batch never mixes
    lengths, so nothing gets padded."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    batches: list[np.ndarray] = []
    current: list[int] = []
    for i in np.argsort(lengths, kind="stable").tolist():
        if current and (len(current) == batch_size or (same_length_only and lengths[i] != lengths[current[0]])):
            batches.append(np.asarray(current))
            current = []
        current.append(i)
    if current:
        batches.append(np.asarray(current))
    return batches


def padding_is_masked(extractor: Any) -> bool:
    """Whether the extractor gives the model an attention mask, i.e. zero padding cannot change the outputs.

    Group-norm encoders (wav2vec2-base, HuBERT/WavLM base) get no mask: the group norm of their first conv layer
    normalises over the whole padded length, so padding changes every frame of the clip.
    """
    return bool(getattr(extractor, "return_attention_mask", False))


def plan_batches(lengths: Sequence[int], batch_size: int, extractor: Any) -> list[np.ndarray]:
    """The batching rule of every consumer: row indices in batches of at most `batch_size`, in order of length.

    With an attention mask (layer-norm encoders) clips of different lengths share a batch and the padding is
    masked. Without one (group-norm encoders) only clips of identical length after the extractor's centre crop
    share a batch, so nothing is padded and every clip gets the answer it gets alone, whatever the batch size.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    max_samples = getattr(extractor, "max_samples", None)
    if max_samples:
        lengths = np.minimum(lengths, max_samples)  # clips longer than max_duration all end up max_samples long
    return length_batches(lengths, batch_size, same_length_only=not padding_is_masked(extractor))


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """torch autocast for "bf16"/"fp16" on `device`; a no-op for "fp32"."""
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(AUTOCAST_DTYPES)}, got {dtype!r}")
    if AUTOCAST_DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[dtype])


class OnnxModel:
    """A model exported by `recipe.export`, run by onnxruntime: CUDA when its provider is present, else CPU.

    `config` is the model folder's config (labels); the extractor's crop and normalisation stay in Python.
    """

    def __init__(self, onnx_path: str | Path, config: PretrainedConfig, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
        providers = [p for p in wanted if p in ort.get_available_providers()]
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.config = config

    @property
    def provider(self) -> str:
        """The execution provider that runs the graph."""
        return self.session.get_providers()[0]

    def logits(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits (batch, num_labels) for the extractor's numpy output."""
        feed = {name: np.asarray(inputs[name]) for name in self.input_names}
        if "attention_mask" in feed:
            feed["attention_mask"] = feed["attention_mask"].astype(np.int64)
        return self.session.run(["logits"], feed)[0]


def check_exported_graph(onnx_path: str | Path) -> None:
    """ModelFolderError when the export_info.json beside `onnx_path` does not list it: a graph left over from an
    earlier export (e.g. another model's int8 graph) is never run as if it were this export's."""
    path = Path(onnx_path)
    info_path = path.parent / "export_info.json"
    if not info_path.is_file():
        return
    try:
        listed = json.loads(info_path.read_text(encoding="utf-8")).get("files", [])
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
        raise ModelFolderError(f"{info_path}: unreadable ({type(err).__name__})") from err
    if path.name not in listed:
        raise ModelFolderError(
            f"{path}: not listed in {info_path.name} (left from an earlier export); export again with "
            f"python -m recipe.export{' --quantize int8' if 'int8' in path.name else ''}"
        )


def load_onnx_model(onnx_path: str | Path, threads: int | None = None) -> OnnxModel:
    """`OnnxModel` for `onnx_path`, with the config.json written beside it by `recipe.export` (a graph that the
    folder's export_info.json does not list is refused: `check_exported_graph`)."""
    check_exported_graph(onnx_path)
    config_path = Path(onnx_path).parent / "config.json"
    raw = json.loads(config_path.read_text())
    config = PretrainedConfig(id2label={int(k): v for k, v in raw["id2label"].items()}, label2id=raw["label2id"])
    return OnnxModel(onnx_path, config, threads=threads)


@torch.inference_mode()
def batch_probabilities(
    model: torch.nn.Module | OnnxModel,
    extractor: Any,
    waves: Sequence[np.ndarray],
    device: str | torch.device | None = None,
    dtype: str = "fp32",
) -> np.ndarray:
    """Softmax class probabilities (len(waves), num_labels) of one batch of 16 kHz mono waves: the extractor
    crops, normalises and pads them; the model runs in onnxruntime, or in torch on `device` (default: the model's)
    under autocast for "bf16"/"fp16"."""
    if isinstance(model, OnnxModel):
        if dtype != "fp32":
            raise ValueError(f"the onnx backend runs the exported graph as it is; dtype {dtype!r} is for torch")
        inputs = extractor(list(waves), sampling_rate=extractor.sampling_rate, padding=True, return_tensors="np")
        return torch.softmax(torch.from_numpy(model.logits(inputs)).float(), dim=-1).numpy()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    inputs = extractor(list(waves), sampling_rate=extractor.sampling_rate, padding=True, return_tensors="pt")
    inputs = {key: value.to(device) for key, value in inputs.items()}
    with autocast(device, dtype):
        logits = model(**inputs).logits
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def classify_waves(
    model: torch.nn.Module | OnnxModel,
    extractor: Any,
    waves: Sequence[np.ndarray],
    batch_size: int = 8,
    dtype: str = "fp32",
) -> np.ndarray:
    """Class probabilities (N, num_labels) for 16 kHz mono waves, rows in the order of `waves`, batched by
    `plan_batches`; `dtype` "bf16"/"fp16" runs a torch model under autocast."""
    probs = np.zeros((len(waves), model.config.num_labels), dtype=np.float32)
    for batch_ids in plan_batches([len(wave) for wave in waves], batch_size, extractor):
        probs[batch_ids] = batch_probabilities(model, extractor, [waves[i] for i in batch_ids], dtype=dtype)
    return probs
