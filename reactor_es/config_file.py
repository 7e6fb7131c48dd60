"""Settings from a TOML file named by `REACTOR_ES_CONFIG`, beneath the environment.

A deployment keeps its broker address, credentials and certificate paths in one file
instead of a dozen variables. Keys are the environment variable names, so there is one
list of settings (docs/configuration.md) and a value moves between the file and the
environment unchanged; the environment wins, so one run can override one setting.

A key we do not know is an error, not ignored: a misspelt `KAFKA_SASL_PASWORD` must not
quietly mean "no password". Relative paths in the file are relative to the file, which is
what its author sees when writing them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path

from reactor_es.errors import SettingsError

__all__ = ["CONFIG_ENV", "ENVIRONMENT_ONLY", "config_file_values", "read_config_file"]

#: The environment variable naming the TOML file.
CONFIG_ENV = "REACTOR_ES_CONFIG"

#: Variables read straight from the environment by the broker launcher, the tests and
#: ourselves; the file cannot set them (they decide how the file itself is found or are
#: read before any settings exist).
ENVIRONMENT_ONLY = frozenset(
    {
        CONFIG_ENV,
        "REACTOR_ES_BROKER",
        "REACTOR_ES_KAFKA_LIBS",
        "REACTOR_ES_PHD_FIXTURES",
        "REACTOR_ES_CI",
        "JAVA_HOME",
        "CI",
    }
)


def _as_text(key: str, value: object, path: Path) -> str:
    # Booleans first: bool is an int subclass.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise SettingsError(
        f"key {key} in config file {path} must be a string, number or boolean, "
        f"not a TOML {type(value).__name__}"
    )


def read_config_file(
    path: Path, known: Collection[str], path_keys: Collection[str] = ()
) -> dict[str, str]:
    """The file's settings as environment-style text values, checked against `known`."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"{CONFIG_ENV}: config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(
            f"{CONFIG_ENV}: cannot read config file {path}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, str] = {}
    for key, value in data.items():
        if key in ENVIRONMENT_ONLY:
            raise SettingsError(
                f"key {key} in config file {path} is read from the environment only: set it there"
            )
        if key not in known:
            raise SettingsError(
                f"unknown key {key} in config file {path} (see docs/configuration.md)"
            )
        text = _as_text(key, value, path)
        if key in path_keys and text and not Path(text).expanduser().is_absolute():
            text = str(path.parent / text)
        values[key] = text
    return values


_CacheKey = tuple[str, int, int, frozenset[str], frozenset[str]]
_last: tuple[_CacheKey, Mapping[str, str]] | None = None


def config_file_values(
    known: Collection[str], path_keys: Collection[str] = ()
) -> Mapping[str, str]:
    """The values of the file `REACTOR_ES_CONFIG` names; empty when it is unset.

    Every setting asks for it, so the file is parsed again only when it has changed.
    """
    global _last
    name = os.environ.get(CONFIG_ENV, "")
    if not name:
        return {}
    path = Path(name).expanduser()
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:
        stamp = (-1, -1)  # read_config_file says why
    key: _CacheKey = (str(path.absolute()), *stamp, frozenset(known), frozenset(path_keys))
    if _last is None or _last[0] != key:
        _last = (key, read_config_file(path, known, path_keys))
    return _last[1]
