"""Operators' commands for gateway accounts.

    python -m gateway.admin create-staff --email desk@loket.example --role helpdesk
    python -m gateway.admin create-staff --email lead@creche.example --role facility_manager \\
        --facility fac-0001 --facility fac-0002
    python -m gateway.admin create-staff --email help@org.example --role intermediary --organisation org-7

The password is read from $GATEWAY_STAFF_PASSWORD when set (scripts), else prompted for twice without
echo; it is never an argument, so it stays out of shell history and process lists. The database is the
one the service's config names (--config, default services/gateway/config.yaml, with ${ENV} substitution).
"""
import argparse
import getpass
import os
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from gateway.accounts import AccountSettings, EmailAlreadyRegistered, InvalidAccount, create_staff_account
from gateway.dependencies import hasher_from_config
from gateway.passwords import PasswordRejected
from loket.clock import clock_from_config
from loket.config import load_config
from loket.db import create_db_engine

PASSWORD_VARIABLE = "GATEWAY_STAFF_PASSWORD"
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def read_password(environ=os.environ, prompt=getpass.getpass) -> str:
    if environ.get(PASSWORD_VARIABLE):
        return environ[PASSWORD_VARIABLE]
    password = prompt("Password for the new account: ")
    if prompt("Repeat the password: ") != password:
        raise SystemExit("The passwords differ; nothing was created.")
    return password


def create_staff(config: dict, email: str, role: str, facility_ids, organisation_id, password: str) -> str:
    engine = create_db_engine(config["DATABASE_URL"])
    settings = AccountSettings(hasher=hasher_from_config(config))
    try:
        with Session(engine) as session, session.begin():
            return create_staff_account(session, email, password, role, clock_from_config(config).now(),
                                        facility_ids=facility_ids, organisation_id=organisation_id,
                                        settings=settings)
    finally:
        engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.admin", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    commands = parser.add_subparsers(dest="command", required=True)
    staff = commands.add_parser("create-staff", help="create a helpdesk, intermediary or facility manager account")
    staff.add_argument("--email", required=True)
    staff.add_argument("--role", required=True, choices=["helpdesk", "intermediary", "facility_manager"])
    staff.add_argument("--facility", action="append", default=[], dest="facility_ids",
                       help="a facility the manager runs (repeat for several)")
    staff.add_argument("--organisation", dest="organisation_id", help="the intermediary's organisation")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    try:
        account_id = create_staff(config, args.email, args.role, args.facility_ids, args.organisation_id,
                                  read_password())
    except InvalidAccount as invalid:
        print(f"refused: {invalid.field_name}: {invalid.message}", file=sys.stderr)
        return 2
    except PasswordRejected as rejected:
        print(f"refused: password: {', '.join(rejected.problems)}", file=sys.stderr)
        return 2
    except EmailAlreadyRegistered:
        print("refused: an account with this email exists", file=sys.stderr)
        return 2
    print(account_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
