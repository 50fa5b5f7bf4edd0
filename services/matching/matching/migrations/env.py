from loket.migrations import run_env
from matching.models import metadata

run_env(metadata)
