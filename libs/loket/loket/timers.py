"""nameko's timer with its interval taken from the service config: `@configured_timer("REMINDER_INTERVAL", 3600)`.

Tests and operators shorten or lengthen a timer by configuration, without a code change. An unset or
empty setting (`${VAR:}`) means the default.
"""
from nameko.timer import Timer


class ConfiguredTimer(Timer):
    def __init__(self, setting: str, default: float, **kwargs):
        self.setting, self.default = setting, default
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get(self.setting) or self.default)
        if self.interval <= 0:
            raise ValueError(f"{self.setting} must be positive")


configured_timer = ConfiguredTimer.decorator
