from datetime import timedelta
from pathlib import Path

import pytest

from loket.config import load_config
from retention.settings import Settings, settings_from

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def test_the_shipped_config_keeps_five_years_and_the_threshold_of_ten():
    settings = settings_from(load_config(CONFIG))
    assert settings == Settings(retention_years=5, scan_interval=60.0, batch_size=1000,
                                retry_after=timedelta(hours=1), give_up_after=timedelta(days=7),
                                statistics_threshold=10)


def test_durations_are_seconds_and_empty_values_keep_the_default():
    settings = settings_from({"ERASURE_RETRY_AFTER": "900", "ERASURE_GIVE_UP_AFTER": 7200, "RETENTION_YEARS": "",
                              "STATISTICS_THRESHOLD": "5"})
    assert settings.retry_after == timedelta(minutes=15) and settings.give_up_after == timedelta(hours=2)
    assert settings.retention_years == 5 and settings.statistics_threshold == 5


@pytest.mark.parametrize("config", [{"RETENTION_YEARS": 0}, {"STATISTICS_THRESHOLD": 0},
                                    {"ERASURE_RETRY_AFTER": -1}, {"ERASURE_SCAN_INTERVAL": 0},
                                    {"ERASURE_BATCH_SIZE": "many"}, {"ERASURE_BATCH_SIZE": 4001}])
def test_nonsense_is_refused_at_start(config):
    with pytest.raises(ValueError):
        settings_from(config)
