"""Operator commands for the registration service.

    python -m registration.admin rotate-keys [--config services/registration/config.yaml]

rotate-keys re-encrypts every sensitive value with the newest key of ENCRYPTION_KEYS, in one transaction.
"""
import argparse
import sys

from sqlalchemy.orm import Session

from loket.config import load_config
from loket.crypto import Keyring
from loket.db import create_db_engine

from . import dossiers


def rotate_keys(config) -> int:
    engine = create_db_engine(config["DATABASE_URL"])
    try:
        with Session(engine) as session, session.begin():
            return dossiers.rotate_keys(session, Keyring(config["ENCRYPTION_KEYS"]))
    finally:
        engine.dispose()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m registration.admin")
    parser.add_argument("--config", default="services/registration/config.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rotate-keys", help="re-encrypt sensitive fields with the newest key")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.command == "rotate-keys":
        print(f"re-encrypted {rotate_keys(config)} value(s) with the newest key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
