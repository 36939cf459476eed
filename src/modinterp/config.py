"""Typed configs at the edge: TOML presets in `configs/` validated by pydantic models.

Each stage owns its config model (a `pydantic.BaseModel` subclass defined next to the code that uses it).
This module only loads TOML, applies `key=value` overrides and turns validation failures into one
message that names the file, the field, the value and what was expected.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

M = TypeVar("M", bound=BaseModel)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


class ConfigError(ValueError):
    """A config file or override is invalid; the message says where and what was expected."""


def preset_path(name_or_path: str | Path, config_dir: Path = CONFIG_DIR) -> Path:
    """Resolve a preset name (`quick`) to `configs/quick.toml`, or accept an explicit path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
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


def validate(model: type[M], data: dict[str, Any], source: str = "<config>") -> M:
    """Build `model` from `data`; on failure raise ConfigError naming source, field, value and expectation."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "<root>"
            lines.append(f"{source}: field '{field}' = {e.get('input')!r}: {e['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_config(model: type[M], preset: str | Path, overrides: list[str] | None = None, config_dir: Path = CONFIG_DIR) -> M:
    """Load a TOML preset into a validated config object, applying `key=value` overrides first."""
    path = preset_path(preset, config_dir)
    data = apply_overrides(read_toml(path), overrides or [])
    return validate(model, data, source=str(path))
