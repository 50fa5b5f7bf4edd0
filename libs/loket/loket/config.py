"""Service configuration from YAML, with `${ENV_VAR:default}` substitution (as nameko's CLI does)."""
import os
import re

import yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def _substitute(text: str) -> str:
    def repl(match):
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if value is None:
            raise KeyError(f"environment variable {name} is required by the configuration")
        return value
    return _ENV.sub(repl, text)


def load_config(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(_substitute(handle.read())) or {}
