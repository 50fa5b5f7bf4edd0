"""The shared test fixtures' own logic (the fixtures that start services run in every service's tests)."""
import importlib

import pytest

from loket.clock import ManualClock
from loket.testing import alembic_ini


def test_a_service_migrates_with_the_alembic_ini_beside_its_package(tmp_path, monkeypatch):
    # services/<name>/alembic.ini beside services/<name>/<name>/service.py, as every service is laid out
    service_dir = tmp_path / "loket_fake_service"
    (service_dir / "loket_fake_service").mkdir(parents=True)
    (service_dir / "alembic.ini").write_text("[alembic]\n")
    (service_dir / "loket_fake_service" / "__init__.py").write_text("")
    (service_dir / "loket_fake_service" / "service.py").write_text("class FakeService:\n    name = 'fake'\n")
    monkeypatch.syspath_prepend(str(service_dir))
    service_module = importlib.import_module("loket_fake_service.service")

    assert alembic_ini(service_module.FakeService) == service_dir.resolve() / "alembic.ini"


def test_a_class_without_migrations_is_refused_by_name():
    with pytest.raises(LookupError, match="ManualClock has no migrations"):
        alembic_ini(ManualClock)
