"""nameko dependencies of the matching service besides the common library's."""
import logging

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from matching.rulesets import DEFAULT_DIR, RuleSetError, load_rule_sets

log = logging.getLogger(__name__)


class RuleSets(DependencyProvider):
    """The priority rule sets of RULE_SETS_DIR (default: the package's), by version, loaded at start.
    A rule set that does not validate stops the service: ranking by a broken rule set is worse than none."""

    def setup(self):
        directory = self.container.config.get("RULE_SETS_DIR") or DEFAULT_DIR
        try:
            self.rule_sets = load_rule_sets(directory)
        except RuleSetError as problem:
            log.error("refusing to start: %s", problem)
            raise

    def get_dependency(self, worker_ctx):
        return self.rule_sets


class ConfiguredTimer(Timer):
    """`@configured_timer("OFFER_LAPSE_INTERVAL", 60)`: seconds between ticks, from the config."""

    def __init__(self, setting: str, default: float, **kwargs):
        self.setting, self.default = setting, default
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get(self.setting) or self.default)
        if self.interval <= 0:
            raise ValueError(f"{self.setting} must be positive")


configured_timer = ConfiguredTimer.decorator
