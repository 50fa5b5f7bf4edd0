"""Every service's config.yaml as `nameko run` reads it: all ${VAR:default} resolved, the settings
every service needs present. (nameko substitutes only plain, unquoted scalars.)"""
from pathlib import Path

import pytest
import yaml
from nameko.cli.main import setup_yaml_parser

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(ROOT.glob("services/*/config.yaml"))


def unresolved(value, path=""):
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in unresolved(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in unresolved(item, f"{path}[{index}]")]
    return [path] if isinstance(value, str) and "${" in value else []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.parent.name)
def test_nameko_resolves_every_setting(path, monkeypatch):
    for name in ("ENCRYPTION_KEYS", "CONSENT_EXPORT_LOG_KEY", "CONFIRMATION_SECRET"):
        monkeypatch.setenv(name, "set-by-the-deployment")
    setup_yaml_parser()
    with open(path) as handle:
        config = yaml.load(handle, Loader=yaml.SafeLoader)
    assert unresolved(config) == []
    for key in ("AMQP_URI", "DATABASE_URL", "WEB_SERVER_ADDRESS", "LOGGING"):
        assert key in config, f"{path.parent.name} has no {key}"
