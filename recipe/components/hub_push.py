"""Pushing a finished training folder to the Hugging Face Hub (`python -m recipe.hub`, and `recipe.train` with
``push_to_hub``): only the final folder goes up, never the intermediate checkpoints."""

from __future__ import annotations

from pathlib import Path

from common.cli import UserError

# Intermediate checkpoints and pickled Trainer internals stay local.
IGNORE_PATTERNS = ["checkpoint-*", "checkpoint-*/**", "runs/**", "training_args.bin", "*.pt", "*.pth", ".*"]
REQUIRED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
SPACE_TEMPLATE = Path(__file__).resolve().parents[1] / "space" / "app.py"
# What the Space's app.py imports, pinned as in the recipe's requirements.txt (torch: the installed version).
SPACE_PACKAGES = ("transformers", "numpy", "librosa", "soundfile", "gradio")


class HubError(UserError, RuntimeError):
    """Pushing is impossible (no token, incomplete folder); the message says how to fix it."""


def require_token() -> str:
    """The Hub token from HF_TOKEN or `hf auth login`, or a HubError explaining how to provide one."""
    from huggingface_hub import get_token

    token = get_token()
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
    """Write app.py (the self-contained Gradio Space, recipe/space/app.py) and requirements.txt into `folder`."""
    folder = Path(folder)
    (folder / "app.py").write_text(SPACE_TEMPLATE.read_text())
    (folder / "requirements.txt").write_text(space_requirements())
    return ["app.py", "requirements.txt"]


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    commit_message: str = "Upload speech emotion recognition model",
    token: str | None = None,
    with_app: bool = False,
) -> str:
    """Create `repo_id` if needed and upload `folder` (minus checkpoints) in one call; returns the commit URL.
    `with_app` first writes the Space's app.py and requirements.txt into `folder` (`write_space_app`)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if "/" not in repo_id:
        raise HubError(f"push_to_hub: hub_model_id must be USER/NAME, got {repo_id!r}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise HubError(f"push_to_hub: {folder} is not a finished model folder (missing {', '.join(missing)})")
    token = token or require_token()
    if with_app:
        write_space_app(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message=commit_message,
        ignore_patterns=IGNORE_PATTERNS,
        repo_type="model",
    )
    if not (folder / "README.md").is_file():
        print(f"push_to_hub: note: {folder} has no README.md yet (run `make card MODEL={folder}` and push again)")
    return str(info.commit_url)
