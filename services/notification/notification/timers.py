"""A nameko timer whose interval comes from the service config instead of the source."""
from nameko.timer import Timer


class ConfiguredTimer(Timer):
    """`@configured_timer("REMINDER_INTERVAL", default=3600)`: seconds between ticks."""

    def __init__(self, setting: str, default: float, **kwargs):
        self.setting, self.default = setting, default
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get(self.setting, self.default))
        if self.interval <= 0:
            raise ValueError(f"{self.setting} must be positive")


configured_timer = ConfiguredTimer.decorator
