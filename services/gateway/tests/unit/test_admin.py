from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from gateway.admin import PASSWORD_VARIABLE, main, read_password
from gateway.models import Account
from loket.migrations import upgrade

INI = Path(__file__).resolve().parents[2] / "alembic.ini"
PASSWORD = "a long passphrase for staff"


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    upgrade(INI, url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"DATABASE_URL": url, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8,
                                    "ARGON2_PARALLELISM": 1}))
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    return path, url


def accounts(url):
    with Session(create_engine(url)) as session:
        return session.scalars(select(Account)).all()


def test_create_staff_makes_a_confirmed_facility_manager_account(config_file, capsys):
    path, url = config_file
    assert main(["--config", str(path), "create-staff", "--email", "Lead@Creche.example", "--role",
                 "facility_manager", "--facility", "fac-0002", "--facility", "fac-0001"]) == 0
    [account] = accounts(url)
    assert capsys.readouterr().out.strip() == account.id
    assert (account.email, account.role, account.facility_ids) == ("lead@creche.example", "facility_manager",
                                                                   ["fac-0001", "fac-0002"])
    assert account.email_confirmed_at is not None and PASSWORD not in account.password_hash


@pytest.mark.parametrize("arguments,message", [
    (["--role", "facility_manager"], "facility_ids"),
    (["--role", "helpdesk", "--organisation", "org-1"], "organisation_id"),
    (["--role", "intermediary"], "organisation_id"),
])
def test_an_inconsistent_staff_account_is_refused(config_file, capsys, arguments, message):
    path, url = config_file
    assert main(["--config", str(path), "create-staff", "--email", "staff@example.org", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert accounts(url) == []


def test_a_weak_password_or_a_known_email_is_refused(config_file, capsys, monkeypatch):
    path, url = config_file
    arguments = ["--config", str(path), "create-staff", "--email", "desk@loket.example", "--role", "helpdesk"]
    assert main(arguments) == 0
    assert main(arguments) == 2
    monkeypatch.setenv(PASSWORD_VARIABLE, "wachtwoord")
    assert main([*arguments[:4], "other@loket.example", *arguments[5:]]) == 2
    assert "too_short" in capsys.readouterr().err
    assert len(accounts(url)) == 1


def test_the_password_is_prompted_twice_when_not_in_the_environment():
    answers = iter(["a long passphrase", "a long passphrase"])
    assert read_password({}, lambda prompt: next(answers)) == "a long passphrase"
    answers = iter(["a long passphrase", "another one"])
    with pytest.raises(SystemExit):
        read_password({}, lambda prompt: next(answers))
    assert read_password({PASSWORD_VARIABLE: "from env"}, lambda prompt: pytest.fail("prompted")) == "from env"
