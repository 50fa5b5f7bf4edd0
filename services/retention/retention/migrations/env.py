from loket.migrations import run_env
from retention.models import metadata

run_env(metadata)
