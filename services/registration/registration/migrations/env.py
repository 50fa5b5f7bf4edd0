from loket.migrations import run_env
from registration.models import Base

run_env(Base.metadata)
