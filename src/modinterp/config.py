"""Typed configs at the edge: TOML presets in `configs/` validated by pydantic models.

Each stage owns its config model (a `pydantic.BaseModel` subclass defined next to the code that uses it).
This module only loads TOML, applies `key=value` overrides and turns validation failures into one
message that names the file, the field, the value and what was expected.
"""

from __future__ import annotations

import reprlib
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modinterp.errors import ModinterpError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

M = TypeVar("M", bound=BaseModel)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

_SHORT = reprlib.Repr()  # values in messages: long strings, lists and tables abbreviated with "..."
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 6, 4, 2


class ConfigError(ModinterpError, ValueError):
    """A config file or override is invalid; the message says where and what was expected."""


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, so a difference is named down to the field."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def preset_path(name_or_path: str | Path, config_dir: Path = CONFIG_DIR) -> Path:
    """Resolve a preset name (`quick`) to `configs/quick.toml`, or accept an explicit path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():  # a folder named like a preset is not one
        return path
    candidate = config_dir / f"{name_or_path}.toml"
    if not candidate.exists():
        known = sorted(p.stem for p in config_dir.glob("*.toml")) if config_dir.exists() else []
        raise ConfigError(f"unknown preset {str(name_or_path)!r}: no file {candidate}; known presets: {', '.join(known) or 'none'}")
    return candidate


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=3e-4` -> (['train', 'lr'], 3e-4); the value is parsed as a TOML value, else kept as a string."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = dict(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k!r} is not a table")
        node[keys[-1]] = value
    return data


def validate(model: type[M], data: dict[str, Any], source: str = "<config>", overrides: list[str] = ()) -> M:
    """Build `model` from `data`; on failure raise ConfigError naming, per problem, the `--set` override it came
    from (else `source`), the field, the value and the expectation."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError("\n".join(_describe_problem(model, e, source, overrides) for e in err.errors())) from None


def _describe_problem(model: type[BaseModel], error: dict[str, Any], source: str, overrides: list[str]) -> str:
    """One line: where the bad value came from, the field, the value (abbreviated) and pydantic's expectation."""
    loc = tuple(str(p) for p in error["loc"])
    if not loc:  # a check across fields: its input is the whole config, which would bury the message
        applied = f" with {', '.join(f'--set {o}' for o in overrides)}" if overrides else ""
        return f"{source}{applied}: {error['msg']}"
    blamed = _override_for(loc, overrides)
    where = f"--set {blamed}" if blamed else source
    line = f"{where}: field '{'.'.join(loc)}' = {_SHORT.repr(error.get('input'))}: {error['msg']}"
    if error["type"] == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        line += f"; known fields there: {', '.join(known)}" if known else ""
    return line + (f" (preset {source})" if blamed else "")


def _override_for(loc: tuple[str, ...], overrides: list[str]) -> str | None:
    """The last override whose key path and the error's field path agree as far as both go."""
    for text in reversed(overrides):
        keys, _ = parse_override(text)
        n = min(len(keys), len(loc))
        if keys[:n] == list(loc[:n]):
            return text
    return None


def _fields_at(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """Field names of the (nested) config model at `path`, or [] where the path leaves the models."""
    for name in path:
        field = model.model_fields.get(name)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def load_config(model: type[M], preset: str | Path, overrides: list[str] | None = None, config_dir: Path = CONFIG_DIR) -> M:
    """Load a TOML preset into a validated config object, applying `key=value` overrides first."""
    path = preset_path(preset, config_dir)
    overrides = list(overrides or [])
    return validate(model, apply_overrides(read_toml(path), overrides), source=str(path), overrides=overrides)
