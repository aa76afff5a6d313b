"""Credentials never reach a file or a log: one redaction rule for configs, records and command lines.

A credential is any value under a key named `token`, `password`, `passwd`, `secret`, `api_key`, or ending in
`_token`, `_password`, `_secret` or `_api_key` (e.g. `hub_token`, `model.encoder_config.token`), at any depth;
and any string that looks like a Hugging Face access token (`hf_` + 20 or more letters and digits), wherever it
appears (a command line, a YAML value passed as a flag). Prefer the `HF_TOKEN` environment variable or
`hf auth login` to `--hub_token`: neither is part of the config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"
MIN_SECRET = 6  # shorter values are redacted under their key only, not searched for inside other strings
_NAMES = ("token", "password", "passwd", "secret", "api_key")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
# Keys ending in _token that hold a vocabulary entry or an id, not a credential.
_NOT_SECRET = re.compile(r"^(pad|bos|eos|unk|mask|sep|cls)_token(_id)?$|_token_id$|_token_ids$")


def is_secret_key(key: Any) -> bool:
    """True for a key whose value is a credential (`hub_token`, `token`, `db_password`, ...)."""
    name = str(key).lower().lstrip("-").rsplit(".", 1)[-1]
    if _NOT_SECRET.search(name):
        return False
    return name in _NAMES or any(name.endswith("_" + n) for n in _NAMES)


def secret_values(obj: Any) -> set[str]:
    """Every non-empty string held under a credential key in `obj` (nested dicts and lists)."""
    found: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if is_secret_key(key) and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= secret_values(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            found |= secret_values(value)
    return found


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` and every Hugging Face token pattern replaced by <redacted>."""
    for value in sorted((s for s in secrets if len(s) >= MIN_SECRET), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _HF_TOKEN.sub(REDACTED, text)


def redact(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `obj` (nested dicts, lists, strings) with every credential value replaced by <redacted>, and
    each known secret value redacted inside other strings too."""
    known = set(secrets) | secret_values(obj)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (REDACTED if is_secret_key(k) and v not in (None, "") else walk(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        if isinstance(value, str):
            return redact_text(value, known)
        return value

    return walk(obj)


def redact_argv(argv: Iterable[str], secrets: Iterable[str] = ()) -> list[str]:
    """A command line with the value of every credential flag (`--hub_token X`, `--training.hub_token=X`) and every
    known secret (e.g. inside a YAML value of `--model.encoder_config`) replaced by <redacted>."""
    out: list[str] = []
    hide_next = False
    args = list(argv)
    known = set(secrets)
    for i, arg in enumerate(args):
        if hide_next:
            known.add(arg)
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("--") and "=" in arg and is_secret_key(arg.split("=", 1)[0]):
            known.add(arg.split("=", 1)[1])
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            continue
        hide_next = arg.startswith("--") and is_secret_key(arg) and i + 1 < len(args)
        out.append(arg)
    return [redact_text(a, known) for a in out]
