"""Alembic glue shared by every service: one env.py body, and the platform tables."""
from alembic import context, op
from sqlalchemy import engine_from_config, pool

from loket.db import normalise_url
from loket.tables import platform_metadata


def create_platform_tables():
    platform_metadata.create_all(bind=op.get_bind())


def drop_platform_tables():
    platform_metadata.drop_all(bind=op.get_bind())


def run_env(target_metadata, url_from_env="DATABASE_URL"):
    """Body of every service's alembic env.py. URL: -x url=..., else the caller's, else $DATABASE_URL, else alembic.ini."""
    import os

    config = context.config
    url = (context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
           or os.environ.get(url_from_env) or config.get_main_option("sqlalchemy.url"))
    url = normalise_url(url)
    metadata = [target_metadata, platform_metadata]
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


def _config(alembic_ini, url):
    from alembic.config import Config

    cfg = Config(str(alembic_ini))
    cfg.attributes["url"] = url
    return cfg


def upgrade(alembic_ini, url, revision="head"):
    """Run a service's migrations programmatically (used by the run script and the tests)."""
    from alembic import command

    command.upgrade(_config(alembic_ini, url), revision)


def check_round_trip(alembic_ini, url):
    """For tests: migrate up, down to nothing and up again; after each way up the schema must be exactly
    the models' (alembic's `check` raises on any difference)."""
    from alembic import command

    cfg = _config(alembic_ini, url)
    command.upgrade(cfg, "head")
    command.check(cfg)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)
