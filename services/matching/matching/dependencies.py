"""nameko dependencies of the matching service besides the common library's."""
import logging

from nameko.extensions import DependencyProvider

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


