"""One config mechanism for every stage: YAML file as defaults, command line on top, every key documented.

Settings are dataclasses whose fields carry ``metadata={"help": "one line"}``. `ConfigParser` (a
`transformers.HfArgumentParser`) turns them into command-line options and ``--help``; a YAML file given with
``--config`` sets the defaults (unknown keys and wrong types are errors naming the file and the key), the
command line overrides them. A dataclass with ``_argument_group_name = "model"`` is a YAML section
``model:`` and its options are spelled ``--model.key`` and, when the name is unique, ``--key``.

CLIs without a config file use `CliParser` (plain argparse, same spelling and help rules). Both report bad
input as one line with exit status 2 (`ConfigError` is a `common.cli.UserError`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import enum
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from transformers.hf_argparser import HfArgumentParser

from common.cli import UserError

AUTO = "auto"
_NONE_TYPE = type(None)


class ConfigError(UserError, ValueError):
    """A config file, key or command-line value that cannot be used; the message names the source and the key.
    A `UserError`, so `common.cli.run_cli` reports it as one line with exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default after its help, except for required options (they have none)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required:
            return action.help
        return super()._get_help_string(action)


class CliParser(argparse.ArgumentParser):
    """argparse for the CLIs that read no config file: underscores, no abbreviations, defaults in ``--help``,
    and a usage error is one line on stderr with exit status 2."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is {}); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(raw).__name__}")
    return raw


def _members(args: tuple[Any, ...]) -> list[Any]:
    """The non-None members of a Union; `SomeStrategy | str` is the enum's choices, as HfArgumentParser reads it."""
    members = [a for a in args if a is not _NONE_TYPE]
    if str in members and any(isinstance(a, type) and issubclass(a, enum.Enum) for a in members):
        members.remove(str)
    return members


def describe(annotation: Any) -> str:
    """'an integer', 'a number or null', ... for error messages."""
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = _members(args) + ([_NONE_TYPE] if _NONE_TYPE in args else [])
        return " or ".join(dict.fromkeys("null" if a is _NONE_TYPE else describe(a) for a in members))
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    if origin is list or annotation is list:
        return "a list"
    if origin is dict or annotation is dict:
        return "a mapping"
    return names.get(annotation, str(annotation))


def check_value(value: Any, annotation: Any, where: str, allow_auto: bool = False) -> Any:
    """Check a YAML value against a field's type and return it normalised; ConfigError naming `where` otherwise.

    Stricter than argparse's string conversion on purpose: YAML already gives typed values, so ``workers: true``
    or ``language: 7`` are mistakes, not the integer 1 or the string "7". Strings that read as numbers are taken
    as numbers (YAML 1.1 loads ``5e-5`` as a string), and an unquoted ``no`` is the choice "no" where a field
    has choices (YAML 1.1 loads it as false).
    """
    if allow_auto and value == AUTO:
        return AUTO
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NONE_TYPE in args:
            return None
        for member in _members(args):
            try:
                return check_value(value, member, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {describe(annotation)}, got {value!r}")
    if annotation is Any:
        return value
    if value is None:
        raise ConfigError(f"{where}: expected {describe(annotation)}, got null")
    choices = None
    if origin is Literal:
        choices = list(args)
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = [m.value for m in annotation]
    if choices is not None:
        if isinstance(value, bool) and ("no" if not value else "yes") in choices:
            return "no" if not value else "yes"
        if value in choices:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation in (int, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if annotation is float:
                return float(value)
            if float(value).is_integer():
                return int(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if annotation is float:
                    return number
                if number.is_integer():
                    return int(number)
    elif annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            raise ConfigError(
                f"{where}: expected a string, got {value!r} (quote it: YAML reads yes/no/on/off as true/false)"
            )
    elif origin is list or annotation is list:
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or annotation is dict:
        if isinstance(value, dict):
            return value
    else:  # a type argparse or the consumer checks itself
        return value
    raise ConfigError(f"{where}: expected {describe(annotation)}, got {value!r}")


def _text_to_value(annotation: Any, base: Any) -> Any:
    """Wrap argparse's `type` so the command line takes what YAML takes: ``null`` for optional fields, a YAML
    mapping for dict fields (``--encoder_config '{layerdrop: 0.0}'``)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    optional = origin in (typing.Union, types.UnionType) and _NONE_TYPE in args
    members = [a for a in args if a is not _NONE_TYPE] if optional else [annotation]
    is_dict = any(m is dict or typing.get_origin(m) is dict for m in members)
    if not optional and not is_dict:
        return base

    def convert(text: str) -> Any:
        if optional and text == "null":
            return None
        if is_dict:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = None
            if not isinstance(value, dict):
                raise argparse.ArgumentTypeError(f"expected a YAML mapping such as '{{key: value}}', got {text!r}")
            return value
        return base(text) if base is not None else text

    convert.__name__ = getattr(base, "__name__", "value")
    return convert


def _auto_or(base: Any) -> Any:
    def convert(text: str) -> Any:
        return AUTO if text == AUTO else base(text)

    convert.__name__ = getattr(base, "__name__", "value")
    return convert


class _SectionAdder:
    """What HfArgumentParser's field translation adds options to: keeps the underscore spelling only (it also
    adds a dashed one), adds ``--section.key`` beside ``--key`` and lets the command line say ``null``, ``auto``
    and YAML mappings where the YAML file can."""

    def __init__(self, target: Any, section: str | None, name: str, annotation: Any, auto: bool):
        self.target, self.section, self.name, self.annotation, self.auto = target, section, name, annotation, auto

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        names = tuple(n for n in names if "-" not in n.lstrip("-"))
        if self.section:
            dotted = []
            for n in names:
                plain = n[2:]
                dotted += [f"--{self.section}.{plain}", n] if plain in (self.name, f"no_{self.name}") else [n]
            names = tuple(dotted)
        kwargs.setdefault("dest", self.name)  # not the first option string's "section.key"
        if kwargs.get("action") == "store_false":
            kwargs["help"] = f"set {self.name} to false"
        elif "type" in kwargs:
            kwargs["type"] = _text_to_value(self.annotation, kwargs["type"])
            if self.auto:
                kwargs["type"] = _auto_or(kwargs["type"])
        help_text = kwargs.get("help")
        if help_text:  # argparse formats help with %; library help strings may hold a literal one
            kwargs["help"] = help_text.replace("%", "%%")
        return self.target.add_argument(*names, **kwargs)


@dataclasses.dataclass
class Parsed:
    """The result of `ConfigParser.parse`: one instance per dataclass (by class), the options that belong to no
    dataclass, and where each value came from (a file, a flag or an override; absent = the built-in default)."""

    instances: dict[type, Any]
    extra: argparse.Namespace
    sources: dict[str, str]
    sections: dict[str, str | None]
    config: str | None = None

    def where(self, key: str) -> str:
        """'FILE: section.key', '--flag: section.key' or 'section.key' (a default) for messages."""
        section = self.sections.get(key)
        name = f"{section}.{key}" if section else key
        return f"{self.sources[key]}: {name}" if key in self.sources else name

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)} {message}")


class ConfigParser(HfArgumentParser):
    """`HfArgumentParser` over section dataclasses, with YAML defaults and one-line errors (`ConfigError`).

    HfArgumentParser does the field -> option translation and ``--help``; what it lacks is written here, each for
    a reason: its `parse_yaml_file` reads a flat file and passes values to the dataclass unchecked (so
    ``workers: true`` would pass), and its error is an argparse exit with the usage text. Here a YAML file is
    checked key by key against the field types (`check_value`) and becomes the parser's defaults, so the command
    line still overrides it and ``--config FILE --help`` shows the file's values.
    """

    def __init__(
        self,
        dataclass_types: list[type],
        *,
        auto_keys: tuple[str, ...] = (),
        reserved: dict[str, str] | None = None,
        unknown_hint: dict[str | None, str] | None = None,
        config_flag: str | None = "--config",
        **kwargs: Any,
    ) -> None:
        self.auto_keys = set(auto_keys)
        self.reserved = dict(reserved or {})
        self.sections: dict[str, str | None] = {}
        self.annotations: dict[str, Any] = {}
        self.unknown_hint = dict(unknown_hint or {})
        names = [f.name for dtype in dataclass_types for f in dataclasses.fields(dtype) if f.init]
        shared = {n for n in names if names.count(n) > 1}
        if shared:  # one flat namespace, as HfArgumentParser has: a bare --key must name one field
            raise ValueError(f"keys in more than one section: {sorted(shared)}")
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(dataclass_types, **kwargs)
        self.config_flag = config_flag
        if config_flag:
            self.add_argument(
                config_flag, metavar="FILE", help="YAML file whose keys replace the defaults shown; flags override both"
            )

    def _add_dataclass_arguments(self, dtype: type) -> None:
        section = getattr(dtype, "_argument_group_name", None)
        group = self.add_argument_group(f"section {section}") if section else self
        hints = typing.get_type_hints(dtype)
        for field in dataclasses.fields(dtype):
            if not field.init:
                continue
            annotation = hints[field.name]
            self.sections[field.name], self.annotations[field.name] = section, annotation
            field = copy.copy(field)  # HfArgumentParser rewrites `field.type` in place; the class keeps its own
            field.type = annotation
            adder = _SectionAdder(group, section, field.name, annotation, field.name in self.auto_keys)
            self._parse_dataclass_field(adder, field)

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"command line: {message}")

    def _yaml_defaults(self, path: str) -> dict[str, Any]:
        """Check every key and value of a config file; returns field name -> value."""
        raw = read_yaml(path)
        named = {s for s in self.sections.values() if s}
        values: dict[str, Any] = {}
        if named:
            for section, block in raw.items():
                if section not in named:
                    raise ConfigError(
                        f"{path}: unknown section {section!r} (expected one of: {', '.join(sorted(named))})"
                    )
                if block is None:
                    continue
                if not isinstance(block, dict):
                    raise ConfigError(f"{path}: section {section!r} must be a mapping of keys")
                for key, value in block.items():
                    values[self._known_key(path, str(key), section)] = value
        else:
            for key, value in raw.items():
                values[self._known_key(path, str(key), None)] = value
        return {
            key: check_value(value, self.annotations[key], f"{path}: {self._name(key)}", key in self.auto_keys)
            for key, value in values.items()
        }

    def _name(self, key: str) -> str:
        section = self.sections.get(key)
        return f"{section}.{key}" if section else key

    def _known_key(self, source: str, key: str, section: str | None) -> str:
        name = f"{section}.{key}" if section else key
        if name in self.reserved:
            raise ConfigError(f"{source}: {name} is not set here; use {self.reserved[name]}")
        if self.sections.get(key, "?") != section:
            raise ConfigError(f"{source}: unknown key {name}{self.unknown_hint.get(section, '')}")
        return key

    def _unknown_option(self, token: str) -> ConfigError:
        flag = token.split("=", 1)[0]
        name = flag[2:] if flag.startswith("--") else flag
        for reserved_name, use in self.reserved.items():
            if name in (reserved_name, reserved_name.split(".", 1)[-1]):
                return ConfigError(f"command line {flag}: not set here; use {use}")
        if not flag.startswith("--"):
            return ConfigError(f"command line: unexpected argument {token!r} (options are --key value)")
        return ConfigError(f"command line {flag}: unknown option (see --help)")

    def parse(self, argv: list[str], overrides: dict[str, Any] | None = None) -> Parsed:
        """YAML (from ``--config``) over the dataclass defaults, `overrides` (keyword values from code) over that,
        the command line on top. Raises ConfigError naming the file or flag and the key."""
        config = self._config_path(argv)
        defaults = self._yaml_defaults(config) if config else {}
        sources = dict.fromkeys(defaults, config)
        for key, value in (overrides or {}).items():
            if key not in self.annotations:
                raise ConfigError(f"unknown setting {key!r}")
            defaults[key] = check_value(value, self.annotations[key], key, key in self.auto_keys)
            sources.pop(key, None)
        self.set_defaults(**defaults)
        try:
            namespace, rest = self.parse_known_args(argv)
        finally:  # the parser is reusable: the next parse starts from the dataclass defaults again
            self.set_defaults(**{k: self._field_default(k) for k in defaults})
        if rest:
            raise self._unknown_option(rest[0])
        flags = {s: a.dest for a in self._actions for s in a.option_strings}
        for token in argv:
            flag = token.split("=", 1)[0]
            if flag in flags and flags[flag] in self.annotations:
                sources[flags[flag]] = f"command line {flag}"
        values = vars(namespace)
        instances = {}
        for dtype in self.dataclass_types:
            keys = [f.name for f in dataclasses.fields(dtype) if f.init]
            instances[dtype] = dtype(**{k: values.pop(k) for k in keys})
        return Parsed(instances, argparse.Namespace(**values), sources, dict(self.sections), config)

    def _config_path(self, argv: list[str]) -> str | None:
        if not self.config_flag:
            return None
        path = None
        for i, token in enumerate(argv):
            if token == self.config_flag:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    raise ConfigError(f"command line {self.config_flag}: expected a file name")
                path = argv[i + 1]
            elif token.startswith(self.config_flag + "="):
                path = token.split("=", 1)[1]
        return path

    def _field_default(self, key: str) -> Any:
        for dtype in self.dataclass_types:
            for f in dataclasses.fields(dtype):
                if f.name == key:
                    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        return None
