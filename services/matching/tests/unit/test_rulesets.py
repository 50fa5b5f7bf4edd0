from datetime import date
from pathlib import Path

import pytest
import yaml

from matching.ranking import STEPS
from matching.rulesets import DEFAULT_DIR, RuleSetError, load_rule_set, load_rule_sets
from matching import rulesets


def test_both_shipped_rule_sets_load_by_version(rule_sets):
    assert set(rule_sets) == {"kg-2013", "kg-2024"}


def test_kg2013_content(kg2013):
    assert kg2013.dutch_priority.max_share == 0.55 and kg2013.dutch_priority.min_seats == 1
    assert kg2013.vulnerability.min_share == 0.20
    assert kg2013.vulnerability.min_characteristics == 2 and kg2013.vulnerability.min_core_characteristics == 1
    assert kg2013.vulnerability.core_characteristics == (
        "income_below_threshold", "health_or_care_situation", "no_secondary_diploma")
    assert kg2013.steps == ("dutch_priority", "vulnerable_families", "work_or_training_need",
                            "other_priority_groups", "facility_rules")
    assert kg2013.steps_for(False) == ("dutch_priority", "work_or_training_need", "facility_rules")
    assert kg2013.tie_breaks == ("registered_at", "child_birth_date", "request_id")
    assert kg2013.absolute_priority_groups is None


def test_kg2024_content(kg2024):
    groups = kg2024.absolute_priority_groups
    assert groups.default_order == ("work_or_training", "sibling_attending", "foster_child")
    assert groups.min_work_regime_fraction == 0.8 and groups.other_families_max_share == 0.10
    assert kg2024.steps[:2] == ("dutch_priority", "absolute_priority_groups")
    assert kg2024.other_priority_groups == ()


def test_effective_periods_follow_the_annulment(kg2013, kg2024):
    assert kg2024.in_force_on(date(2024, 4, 1)) and kg2024.in_force_on(date(2025, 4, 29))
    assert not kg2024.in_force_on(date(2025, 4, 30)) and not kg2024.in_force_on(date(2024, 3, 31))
    assert kg2013.in_force_on(date(2025, 4, 30)) and kg2013.in_force_on(date(2024, 3, 31))
    assert not kg2013.in_force_on(date(2024, 10, 1))


def test_ranking_implements_every_step_a_rule_set_may_name():
    assert set(STEPS) == set(rulesets.STEPS)


def _broken(tmp_path, change, name="kg-2013.yaml") -> Path:
    data = yaml.safe_load((DEFAULT_DIR / "kg-2013.yaml").read_text())
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _set(dotted, value):
    def change(data):
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def _drop(dotted):
    def change(data):
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        del data[last]
    return change


@pytest.mark.parametrize("change, field, problem", [
    (_drop("version"), "version", "is missing"),
    (_set("version", "kg-2014"), "version", "does not match the file name"),
    (_set("quotas.dutch_priority.max_share", 1.5), "quotas.dutch_priority.max_share", "fraction"),
    (_set("quotas.dutch_priority.max_share", "55%"), "quotas.dutch_priority.max_share", "fraction"),
    (_set("quotas.dutch_priority.min_seats", 0), "quotas.dutch_priority.min_seats", "at least 1"),
    (_set("quotas.dutch_priority.min_seats", True), "quotas.dutch_priority.min_seats", "whole number"),
    (_set("quotas.dutch_priority.max_shar", 0.5), "quotas.dutch_priority.max_shar", "unknown field"),
    (_drop("quotas.vulnerable_families"), "quotas.vulnerable_families", "exactly when"),
    (_drop("vulnerability"), "vulnerability", "step vulnerable_families needs it"),
    (_set("vulnerability.characteristics", ["income_below_threshold", "owns_a_boat"]),
     "vulnerability.characteristics", "unknown name 'owns_a_boat'"),
    (_set("vulnerability.core_characteristics", ["single_parent", "foster_child"]),
     "vulnerability.core_characteristics", "unknown name 'foster_child'"),
    (_set("vulnerability.min_characteristics", 6), "vulnerability.min_characteristics", "more than"),
    (_set("steps", ["dutch_priority", "lottery"]), "steps", "unknown name 'lottery'"),
    (_set("steps", []), "steps", "non-empty list"),
    (_set("steps_without_income_related_tariff", ["facility_rules", "dutch_priority"]),
     "steps_without_income_related_tariff", "keep the order"),
    (_set("tie_breaks", ["request_id", "registered_at"]), "tie_breaks", "must end with request_id"),
    (_set("tie_breaks", ["registered_at", "registered_at", "request_id"]), "tie_breaks", "twice"),
    (_set("effective", [{"from": "2014-04-01", "until": "2013-01-01"}]), "effective[0].until", "before from"),
    (_set("effective", [{"from": "April 2014", "until": None}]), "effective[0].from", "YYYY-MM-DD"),
    (_set("absolute_priority_groups", {"default_order": ["foster_child"]}), "absolute_priority_groups",
     "no step uses it"),
    (_set("description", ""), "description", "non-empty text"),
])
def test_a_broken_rule_set_names_its_file_and_field(tmp_path, change, field, problem):
    path = _broken(tmp_path, change)
    with pytest.raises(RuleSetError) as raised:
        load_rule_set(path)
    message = str(raised.value)
    assert str(path) in message and f": {field}:" in message and problem in message
    assert raised.value.field == field and raised.value.path == path


def test_kg2024_groups_must_order_all_three(tmp_path):
    def change(data):
        data["absolute_priority_groups"]["default_order"] = ["foster_child", "work_or_training"]
    path = tmp_path / "kg-2024.yaml"
    data = yaml.safe_load((DEFAULT_DIR / "kg-2024.yaml").read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RuleSetError, match="absolute_priority_groups.default_order: must order all of"):
        load_rule_set(path)


def test_unreadable_yaml_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "kg-2013.yaml"
    path.write_text("version: [unclosed\n")
    with pytest.raises(RuleSetError, match=r"kg-2013.yaml: \(file\): cannot be read"):
        load_rule_set(path)


def test_a_directory_without_rule_sets_is_refused(tmp_path):
    with pytest.raises(RuleSetError, match="holds no rule set"):
        load_rule_sets(tmp_path)


def test_one_broken_file_fails_the_whole_load(tmp_path):
    (tmp_path / "kg-2024.yaml").write_text((DEFAULT_DIR / "kg-2024.yaml").read_text())
    _broken(tmp_path, _set("quotas.dutch_priority.max_share", 0))
    with pytest.raises(RuleSetError, match="kg-2013.yaml: quotas.dutch_priority.max_share"):
        load_rule_sets(tmp_path)
