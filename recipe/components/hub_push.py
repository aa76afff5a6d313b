"""Pushing a finished training folder to the Hugging Face Hub (`python -m recipe.hub`, and `recipe.train` with
``push_to_hub``): an allowlist of files, never a card or eval_results.json older than the weights.

Only an allowlist goes up (`upload_plan`): the weights, config.json with auto_map, the modelling code,
preprocessor_config.json, the model card README.md, eval_results.json, the plots, the run's records
(trainer_state.json, run_info.json, train_config.yaml, *_results.json), an ONNX export (its export_info.json and
the files it lists) and, with `with_app`, the Space's app.py, the recipe modules it imports and requirements.txt.
Everything else in the folder (checkpoints, the pickled training_args.bin, the user's own files) stays local and is
named on stdout.

A card, eval_results.json or plot older than the weights describes another model: the push is refused until
`python -m recipe.evaluate` and `python -m model_card` have run again. The push at the end of training comes
before any evaluation: the weights and the run's records only (`reports=False`), and it removes from the repo a
card, eval_results.json and plots of an earlier push.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.cli import UserError

MODEL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "configuration_ser.py",
    "modeling_ser.py",
    "feature_extraction_ser.py",
    "model.safetensors",
    "model.safetensors.index.json",
)
WEIGHT_PATTERN = "model-*-of-*.safetensors"  # sharded weights
RECORD_FILES = (
    "trainer_state.json",
    "run_info.json",
    "train_config.yaml",
    "train_results.json",
    "validation_results.json",
    "all_results.json",
)
REPORT_FILES = ("README.md", "eval_results.json")  # with the top-level *.png plots; must be newer than the weights
EXPORT_INFO = "export_info.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
SPACE_TEMPLATE = Path(__file__).resolve().parents[1] / "space" / "app.py"
# The recipe's modules the Space's app.py imports, shipped beside it under the same names: the Space checks, cuts
# and classifies audio with the very function recipe.predict uses (segment_inference.classify_file_spans). They
# import only numpy, soundfile, soxr, (lazily) librosa, torch, transformers, silero-vad and the standard library;
# the package __init__ files are stubs, so nothing else of the recipe is needed.
ROOT = Path(__file__).resolve().parents[2]
SPACE_MODULES = {
    "data_prep/__init__.py": '"""The recipe\'s audio decoding and checks, shipped with the Space (recipe.hub)."""\n',
    "data_prep/audio.py": ROOT / "data_prep" / "audio.py",
    "data_prep/audio_limits.py": ROOT / "data_prep" / "audio_limits.py",
    "data_prep/audio_stream.py": ROOT / "data_prep" / "audio_stream.py",
    "common/__init__.py": '"""What the shipped data_prep modules import from the recipe (recipe.hub)."""\n',
    "common/cli.py": ROOT / "common" / "cli.py",  # AudioError is a common.cli.UserError; standard library only
    "recipe/__init__.py": '"""The recipe\'s segmentation and inference, shipped with the Space (recipe.hub)."""\n',
    "recipe/components/__init__.py": '"""Segmentation and inference modules of the recipe (recipe.hub)."""\n',
    "recipe/components/inference.py": ROOT / "recipe" / "components" / "inference.py",
    "recipe/components/segmentation.py": ROOT / "recipe" / "components" / "segmentation.py",
    "recipe/components/segment_inference.py": ROOT / "recipe" / "components" / "segment_inference.py",
    "recipe/components/segment_output.py": ROOT / "recipe" / "components" / "segment_output.py",
}
APP_FILES = ("app.py", *SPACE_MODULES, "requirements.txt")  # what `with_app` writes and uploads
# What the Space's app.py imports, pinned as in the recipe's requirements.txt (torch: the installed version).
SPACE_PACKAGES = ("transformers", "numpy", "librosa", "soundfile", "soxr", "gradio", "silero-vad", "onnxruntime")


class HubError(UserError, RuntimeError):
    """Pushing is impossible (no token, incomplete folder); the message says how to fix it."""


def require_token(token: str | None = None) -> str:
    """`token`, else the Hub token from HF_TOKEN or `hf auth login`, or a HubError explaining how to provide one."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError(
            "push_to_hub: no Hugging Face token found. Set the HF_TOKEN environment variable to a token with "
            "write access (https://huggingface.co/settings/tokens) or run `hf auth login`."
        )
    return token


def space_requirements() -> str:
    """requirements.txt of the Space: SPACE_PACKAGES at the versions installed here, and torch."""
    from importlib.metadata import version

    import torch

    lines = [f"torch=={torch.__version__.split('+')[0]}"] + [f"{name}=={version(name)}" for name in SPACE_PACKAGES]
    return "\n".join(lines) + "\n"


def write_space_app(folder: str | Path) -> list[str]:
    """Write app.py (the Gradio Space, recipe/space/app.py), the modules it imports (SPACE_MODULES) and
    requirements.txt into `folder`."""
    folder = Path(folder)
    (folder / "app.py").write_text(SPACE_TEMPLATE.read_text())
    for name, source in SPACE_MODULES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(source.read_text() if isinstance(source, Path) else source)
    (folder / "requirements.txt").write_text(space_requirements())
    return ["app.py", *SPACE_MODULES, "requirements.txt"]


def _export_files(folder: Path) -> list[str]:
    """An ONNX export inside `folder` (a subfolder with export_info.json): that file, the graphs it lists and the
    files a folder needs to run them (recipe.export's COPIED)."""
    files = []
    for info_path in sorted(folder.glob(f"*/{EXPORT_INFO}")):
        sub = info_path.parent
        try:
            listed = list(json.loads(info_path.read_text()).get("files") or [])
        except (json.JSONDecodeError, AttributeError):
            raise HubError(f"push_to_hub: {info_path}: not valid JSON") from None
        names = [EXPORT_INFO, *(n for n in listed if isinstance(n, str) and "/" not in n), *MODEL_FILES[:5]]
        files += [f"{sub.name}/{n}" for n in dict.fromkeys(names) if (sub / n).is_file()]
    return files


def upload_plan(folder: str | Path, *, with_app: bool = False, reports: bool = True) -> tuple[list[str], list[str]]:
    """(upload, left_out): the allowlisted files of `folder` (relative paths) and every other file in it.
    `reports` False leaves out the card, eval_results.json and the plots (train pushes before they exist)."""
    folder = Path(folder)
    upload = [n for n in (*MODEL_FILES, *RECORD_FILES) if (folder / n).is_file()]
    upload += sorted(p.name for p in folder.glob(WEIGHT_PATTERN))
    if reports:
        upload += [n for n in REPORT_FILES if (folder / n).is_file()] + sorted(p.name for p in folder.glob("*.png"))
    if with_app:
        upload += [n for n in APP_FILES if (folder / n).is_file()]
    upload += _export_files(folder)
    chosen = set(upload)
    every = (str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    left_out = sorted(name for name in every if name not in chosen)
    return upload, left_out


def stale_reports(folder: str | Path) -> list[str]:
    """The card, eval_results.json and plots of `folder` older than its weights (they describe another model)."""
    folder = Path(folder)
    weights = [folder / "model.safetensors", *folder.glob(WEIGHT_PATTERN)]
    newest = max((p.stat().st_mtime for p in weights if p.is_file()), default=None)
    if newest is None:
        return []
    reports = [folder / n for n in REPORT_FILES] + sorted(folder.glob("*.png"))
    return [p.name for p in reports if p.is_file() and p.stat().st_mtime < newest]


def _summarise_left_out(left_out: list[str]) -> str:
    tops = sorted({name.split("/", 1)[0] + ("/" if "/" in name else "") for name in left_out})
    return ", ".join(tops)


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    commit_message: str = "Upload speech emotion recognition model",
    token: str | None = None,
    with_app: bool = False,
    reports: bool = True,
    dry_run: bool = False,
) -> str:
    """Create `repo_id` if needed and upload `upload_plan(folder)` in one commit; returns the commit URL (the
    plan, with `dry_run`). `with_app` first writes the Space's app.py and requirements.txt into `folder`. Without
    `reports` (the push at the end of training) the commit also deletes the repo's card, eval_results.json and
    plots, which describe earlier weights."""
    folder = Path(folder)
    if "/" not in repo_id:
        raise HubError(f"push_to_hub: hub_model_id must be USER/NAME, got {repo_id!r}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise HubError(f"push_to_hub: {folder} is not a finished model folder (missing {', '.join(missing)})")
    stale = stale_reports(folder) if reports else []
    if stale:
        raise HubError(
            f"push_to_hub: {', '.join(stale)} in {folder} are older than the weights (they describe another model): "
            f"run `python -m recipe.evaluate --model {folder} --data DIR` and `python -m model_card --model {folder}`, "
            "then push again"
        )
    if with_app and not dry_run:
        write_space_app(folder)
    upload, left_out = upload_plan(folder, with_app=with_app, reports=reports)
    if dry_run:
        if with_app:  # written just before a real upload
            upload += [n for n in APP_FILES if n not in upload]
            left_out = [n for n in left_out if n not in APP_FILES]
        return "dry run: would upload " + ", ".join(upload) + (f"; leave out {', '.join(left_out)}" if left_out else "")
    if left_out:
        print(f"push_to_hub: left out (not in the upload allowlist): {_summarise_left_out(left_out)}", flush=True)
    return _commit(folder, repo_id, upload, private, commit_message, require_token(token), reports)


def _commit(
    folder: Path, repo_id: str, upload: list[str], private: bool | None, message: str, token: str, reports: bool
) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    operations: list = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in upload]
    if not reports:
        remote = [s.rfilename for s in api.model_info(repo_id).siblings or []]
        old = [n for n in remote if n in REPORT_FILES or ("/" not in n and n.endswith(".png"))]
        operations += [CommitOperationDelete(path_in_repo=name) for name in old]
        if old:
            print(f"push_to_hub: removing {', '.join(old)} of an earlier push from {repo_id} (older than the weights)")
    info = api.create_commit(repo_id=repo_id, operations=operations, commit_message=message, repo_type="model")
    if not (folder / "README.md").is_file() or not reports:
        print(
            f"push_to_hub: note: no model card pushed yet: run `python -m recipe.evaluate --model {folder} --data DIR`,"
            f" `python -m model_card --model {folder}` and `python -m recipe.hub --model {folder} --hub_model_id "
            f"{repo_id}`"
        )
    return str(info.commit_url)
