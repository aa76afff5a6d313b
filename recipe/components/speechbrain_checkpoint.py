"""Read SpeechBrain wav2vec2 checkpoints (e.g. `speechbrain/emotion-recognition-wav2vec2-IEMOCAP`) for `from_encoder`.

A SpeechBrain model repo (Hub id or local folder) holds:

- `hyperparams.yaml` (HyperPyYAML): an encoder object such as
  `wav2vec2: !new:speechbrain.lobes.models.huggingface_wav2vec.HuggingFaceWav2Vec2` with `source: !ref <wav2vec2_hub>`
  (a transformers Hub id or folder whose config.json gives the architecture) and `output_norm: True`;
- `wav2vec2.ckpt`: the wrapper's torch state dict, i.e. the transformers `Wav2Vec2Model` keys prefixed `model.`
  (`model.wav2vec2.` in SpeechBrain's self-supervised checkpoints), the positional convolution's weight norm under
  the legacy names `weight_g` / `weight_v`;
- `model.ckpt` (the task head, here a bias-free 4-class linear) and `label_encoder.txt` (`'neu' => 0` lines).

Nothing is executed: the YAML is parsed with a safe loader that keeps SpeechBrain's tags (`!new:`, `!name:`,
`!apply:`, `!ref`, ...) as inert data, only `!ref <key>` placeholders are substituted, speechbrain is never imported,
and checkpoints are read with `torch.load(weights_only=True)`. Hand-written because no maintained library reads
these repos without running SpeechBrain itself. Importing this module registers the reader with
`SERForAudioClassification.from_encoder` (`import recipe` does it); it lives outside `recipe/modeling` because it
needs PyYAML and huggingface_hub, which the remote-code files must not import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from transformers import AutoConfig

from ..modeling.configuration_ser import build_encoder_config
from ..modeling.modeling_ser import ENCODER_CLASSES, EncoderWeights, register_encoder_reader

HYPERPARAMS_FILE = "hyperparams.yaml"
# Class names (last dotted part of a `!new:` tag, lower case) of SpeechBrain's Hugging Face encoder wrappers.
ENCODER_WRAPPERS = ("huggingfacewav2vec2", "wav2vec2", "hubert", "wavlm")
# The 0.5-era `HuggingFaceWav2Vec2` normalised its output unless told otherwise; the 1.x `Wav2Vec2` does not.
_OUTPUT_NORM_DEFAULT = {"huggingfacewav2vec2": True}
# torch's current weight-norm parametrisation names (what transformers' modules have) for the legacy ones.
_LEGACY_WEIGHT_NORM = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}
_REF = re.compile(r"<([^<>]+)>")


class SpeechBrainFormatError(ValueError):
    """A SpeechBrain repo that cannot be read; the message names the file and the problem."""


@dataclass
class Tagged:
    """A YAML node carrying a HyperPyYAML tag, kept as data:
    `!new:torch.nn.Linear {...}` -> Tagged('!new:...', {...})."""

    tag: str
    value: Any


class _TagKeepingLoader(yaml.SafeLoader):
    """SafeLoader that turns every unknown `!tag` into a `Tagged` instead of failing (and never constructs it)."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged("!" + suffix, value)


_TagKeepingLoader.add_multi_constructor("!", _construct_tagged)


# Bounds on an untrusted hyperparams.yaml: SpeechBrain's own files are a few kB with a few hundred nodes. YAML aliases
# share a node, so a 429-byte file of 7 alias levels (x8 each) stands for 2 million strings, about 11 MB once
# anything walks or prints it; the expanded node count (each alias counted as often as it is used) is bounded.
MAX_HYPERPARAMS_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000


def expanded_nodes(node: yaml.Node, where: str, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes the composed YAML tree stands for with every alias expanded; SpeechBrainFormatError beyond
    `limit` or for a node that contains itself. Each shared node is sized once (memoised), so this is linear in
    the file however large the expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(current: yaml.Node) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise SpeechBrainFormatError(f"{where}: a YAML alias refers to a node that contains it")
        open_nodes.add(key)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            total += sum(size(child) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in current.value)
        open_nodes.discard(key)
        if total > limit:
            raise SpeechBrainFormatError(
                f"{where}: expands to more than {limit} YAML nodes through its aliases (a SpeechBrain "
                "hyperparams.yaml has a few hundred); refusing to read it"
            )
        sizes[key] = total
        return total

    try:
        return size(node)
    except RecursionError:
        raise SpeechBrainFormatError(f"{where}: nested too deeply to read") from None


def read_hyperparams(path: Path, where: str) -> str:
    """The text of a hyperparams.yaml, refused unread when larger than MAX_HYPERPARAMS_BYTES."""
    size = path.stat().st_size
    if size > MAX_HYPERPARAMS_BYTES:
        raise SpeechBrainFormatError(f"{where}: {size} bytes, more than {MAX_HYPERPARAMS_BYTES}; not hyperparameters")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpeechBrainFormatError(f"{where}: not UTF-8 text ({err})") from None


def parse_hyperparams(text: str, where: str) -> dict[str, Any]:
    """The top-level mapping of a HyperPyYAML file, tags kept as `Tagged` (nothing imported or run); files over
    MAX_HYPERPARAMS_BYTES or expanding past MAX_EXPANDED_NODES are refused before anything is built."""
    if len(text) > MAX_HYPERPARAMS_BYTES:
        raise SpeechBrainFormatError(f"{where}: {len(text)} characters, more than {MAX_HYPERPARAMS_BYTES}")
    loader = _TagKeepingLoader(text)  # a SafeLoader subclass: builds no Python objects
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpeechBrainFormatError(f"{where}: expected a mapping at the top level")
        expanded_nodes(node, where)
        data = loader.construct_document(node)
    except yaml.YAMLError as err:
        raise SpeechBrainFormatError(f"{where}: not valid YAML ({err})") from None
    except RecursionError:
        raise SpeechBrainFormatError(f"{where}: nested too deeply to read") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpeechBrainFormatError(f"{where}: expected a mapping at the top level")
    return data


def resolve(value: Any, hparams: dict[str, Any], where: str, depth: int = 0) -> Any:
    """Substitute a `!ref <key>` (or a template such as `!ref <path>/wav2vec2.ckpt`) with the referenced value."""
    if not (isinstance(value, Tagged) and value.tag == "!ref" and isinstance(value.value, str)):
        return value
    if depth > 20:
        raise SpeechBrainFormatError(f"{where}: !ref chain too deep (a cycle?) at {value.value!r}")

    def lookup(name: str) -> Any:
        node: Any = hparams
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SpeechBrainFormatError(f"{where}: !ref <{name}> names no key")
            node = node[part]
        return resolve(node, hparams, where, depth + 1)

    text = value.value.strip()
    whole = _REF.fullmatch(text)
    if whole:
        return lookup(whole.group(1))
    return _REF.sub(lambda match: str(lookup(match.group(1))), text)


def find_encoder(hparams: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(top-level key, wrapper class name, its arguments) of the Hugging Face encoder object, or None."""
    for key, value in hparams.items():
        if isinstance(value, Tagged) and value.tag.startswith("!new:") and isinstance(value.value, dict):
            class_name = value.tag.rsplit(".", 1)[-1].lower()
            if class_name in ENCODER_WRAPPERS and "source" in value.value:
                return str(key), class_name, value.value
    return None


def checkpoint_files(hparams: dict[str, Any], where: str) -> dict[str, str]:
    """Loadable name -> file name in the repo, from the `pretrainer` block (`paths: {wav2vec2: <path>/x.ckpt}`)."""
    pretrainer = hparams.get("pretrainer")
    args = pretrainer.value if isinstance(pretrainer, Tagged) else pretrainer
    paths = args.get("paths", {}) if isinstance(args, dict) else {}
    files = {}
    for name, path in (paths or {}).items():
        resolved = resolve(path, hparams, where)
        if isinstance(resolved, str):
            files[str(name)] = resolved.rstrip("/").rsplit("/", 1)[-1]
    return files


def read_label_encoder(path: Path) -> dict[int, str]:
    """index -> label from SpeechBrain's CategoricalEncoder file (`repr(label) => index` lines, then `====`)."""
    labels: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("="):  # what follows is the encoder's own state ('starting_index' => 0)
            break
        if not line.strip():
            continue
        label, sep, index = line.partition(" => ")
        try:
            labels[int(ast.literal_eval(index))] = str(ast.literal_eval(label))
        except (ValueError, SyntaxError):
            raise SpeechBrainFormatError(f"{path}:{number}: expected 'label' => index, got {line!r}") from None
        if not sep:
            raise SpeechBrainFormatError(f"{path}:{number}: expected 'label' => index, got {line!r}")
    return labels


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A torch state dict, read with `weights_only=True` (no pickled code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise SpeechBrainFormatError(
            f"{path}: not a torch state dict readable with weights_only=True ({err})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise SpeechBrainFormatError(f"{path}: expected a mapping of tensor names to tensors")
    return dict(state)


def encoder_state_dict(
    checkpoint: dict[str, torch.Tensor], base_model_prefix: str
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """(encoder state dict with transformers' key names, discarded checkpoint keys, renamed legacy keys).

    SpeechBrain's wrapper keeps the transformers model as `self.model`: keys `model.<encoder key>`, or
    `model.wav2vec2.<encoder key>` when it wrapped a `Wav2Vec2ForPreTraining` (whose quantizer/projection tensors,
    `model.quantizer.*` etc., are then no encoder tensors). Legacy weight-norm names are mapped as transformers maps
    them when it loads an old checkpoint.
    """
    nested = f"model.{base_model_prefix}."
    prefix = nested if any(key.startswith(nested) for key in checkpoint) else "model."
    state: dict[str, torch.Tensor] = {}
    discarded, renamed = [], []
    for key, tensor in checkpoint.items():
        if not key.startswith(prefix):
            discarded.append(key)
            continue
        name = key[len(prefix) :]
        for legacy, current in _LEGACY_WEIGHT_NORM.items():
            if name.endswith(legacy):
                name = name[: -len(legacy)] + current
                renamed.append(key)
        state[name] = tensor
    return state, sorted(discarded), sorted(renamed)


def _repo_file(repo: str, filename: str, hub_kwargs: dict[str, Any], required: bool) -> Path | None:
    """Path of `filename` in a local folder or a Hub repo (downloaded to the cache); None if absent and optional."""
    folder = Path(repo)
    if folder.is_dir():
        path = folder / hub_kwargs.get("subfolder", "") / filename
        if path.is_file():
            return path
        if required:
            raise SpeechBrainFormatError(f"{path}: file not found")
        return None
    try:
        return Path(hf_hub_download(repo, filename, **hub_kwargs))
    except EntryNotFoundError:
        if required:
            raise SpeechBrainFormatError(f"{repo}: the repo has no {filename}") from None
        return None


def _architecture(source: str, repo: str, overrides: dict[str, Any], hub_kwargs: dict[str, Any]):
    """The encoder config from `wav2vec2_hub` (a Hub id, or a folder absolute or relative to a local repo)."""
    local = Path(repo) / source
    if Path(repo).is_dir() and local.is_dir():
        source = str(local)
    config_kwargs = {k: v for k, v in hub_kwargs.items() if k in ("cache_dir", "token", "local_files_only")}
    config = AutoConfig.from_pretrained(source, **config_kwargs, **{**overrides, "trust_remote_code": False})
    if config.model_type not in ENCODER_CLASSES:
        raise SpeechBrainFormatError(
            f"{repo}: {HYPERPARAMS_FILE}'s encoder source {source} is a {config.model_type!r} model, "
            f"not a supported encoder ({', '.join(sorted(ENCODER_CLASSES))})"
        )
    return build_encoder_config(config)


def read_speechbrain_encoder(
    name_or_path: str, encoder_overrides: dict[str, Any], hub_kwargs: dict[str, Any]
) -> EncoderWeights | None:
    """EncoderWeights of a SpeechBrain repo, or None when `name_or_path` is not one (then transformers loads it)."""
    try:
        hyperparams_path = _repo_file(name_or_path, HYPERPARAMS_FILE, hub_kwargs, required=False)
    except (RepositoryNotFoundError, RevisionNotFoundError, HFValidationError):
        return None  # not a Hub repo id at all: transformers reports it in its own words
    if hyperparams_path is None:
        return None
    where = f"{name_or_path}/{HYPERPARAMS_FILE}"
    hparams = parse_hyperparams(read_hyperparams(hyperparams_path, where), where)
    found = find_encoder(hparams)
    if found is None:
        return None  # a SpeechBrain repo without a Hugging Face encoder: nothing this reader can load
    key, class_name, args = found
    source = resolve(args["source"], hparams, where)
    if not isinstance(source, str):
        raise SpeechBrainFormatError(f"{where}: {key}.source must be a Hub id or folder, got {source!r}")
    output_norm = bool(resolve(args.get("output_norm", _OUTPUT_NORM_DEFAULT.get(class_name, False)), hparams, where))
    config = _architecture(source, name_or_path, encoder_overrides, hub_kwargs)

    files = checkpoint_files(hparams, where)
    encoder_file = files.pop(key, f"{key}.ckpt")
    checkpoint = load_checkpoint(_repo_file(name_or_path, encoder_file, hub_kwargs, required=True))
    state, discarded, renamed = encoder_state_dict(checkpoint, ENCODER_CLASSES[config.model_type].base_model_prefix)
    if not state:
        raise SpeechBrainFormatError(f"{name_or_path}/{encoder_file}: no `model.` tensors (not an encoder checkpoint)")
    discarded = [f"{encoder_file}:{name}" for name in discarded]
    source_labels: dict[int, str] = {}
    for filename in files.values():  # the other loadables: the task head and the label encoder
        path = _repo_file(name_or_path, filename, hub_kwargs, required=False)
        if path is not None and filename.endswith(".ckpt"):
            discarded += [f"{filename}:{tensor}" for tensor in load_checkpoint(path)]
        elif path is not None and filename.endswith(".txt"):
            source_labels = read_label_encoder(path)
    return EncoderWeights(
        config=config,
        state_dict=state,
        source_format="speechbrain",
        source_architectures=[args_tag(hparams[key])],
        discarded=sorted(discarded),
        output_norm=output_norm,
        extra_info={
            "speechbrain": {
                "encoder_source": source,
                "encoder_checkpoint": encoder_file,
                "output_norm": output_norm,
                "renamed_legacy_keys": renamed,
                "source_labels": source_labels,
            }
        },
    )


def args_tag(node: Any) -> str:
    """`!new:a.b.C` -> 'a.b.C' (the SpeechBrain class the YAML would have built)."""
    return node.tag.split(":", 1)[-1] if isinstance(node, Tagged) else type(node).__name__


register_encoder_reader(read_speechbrain_encoder)
