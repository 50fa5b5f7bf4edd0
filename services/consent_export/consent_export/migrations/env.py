from consent_export.models import metadata
from loket.migrations import run_env

run_env(metadata)
