"""nameko extensions of the retention service: its settings and a timer whose interval is configured."""
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from retention.settings import settings_from


class RetentionSettings(DependencyProvider):
    """`self.settings`: the parsed config; a bad value stops the service at start, not at the first scan."""

    def setup(self):
        self.settings = settings_from(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.settings


class ScanTimer(Timer):
    """nameko's Timer with the interval read from the config key ERASURE_SCAN_INTERVAL."""

    def __init__(self, **kwargs):
        super().__init__(interval=None, **kwargs)

    def setup(self):
        self.interval = settings_from(self.container.config).scan_interval


scan_timer = ScanTimer.decorator

