"""The snapshot's priority flags, derived from the situation as given (DOMAIN.md, kg-2013 rules)."""
import pytest

from registration.models import PriorityData
from registration.snapshots import priority_flags


def situation(applicant=(1.0, False, False, "higher"), partner=None, **flags):
    regime, training, job_seeking, education = applicant
    values = dict(
        single_parent=False, income_below_threshold=False, integration_course_complete=False,
        health_or_care_situation=False, dutch_proficiency=False, dutch_proof_declared=False,
        applicant_work_regime=regime, applicant_in_training=training,
        applicant_job_seeking=job_seeking, applicant_education_level=education,
    )
    if partner:
        (values["partner_work_regime"], values["partner_in_training"],
         values["partner_job_seeking"], values["partner_education_level"]) = partner
    return PriorityData(**{**values, **flags})


@pytest.mark.parametrize("applicant, partner, no_diploma", [
    ("primary", "no_diploma", True),
    ("primary", "secondary", False),
    ("higher", "primary", False),
    ("no_diploma", None, True),
])
def test_no_secondary_diploma_means_no_parent_has_one(applicant, partner, no_diploma):
    data = situation((1.0, False, False, applicant),
                     (1.0, False, False, partner) if partner else None)

    flags = priority_flags(data, has_partner=partner is not None)

    assert flags["no_secondary_diploma"] is no_diploma


@pytest.mark.parametrize("applicant, partner, need", [
    ((1.0, False, False), (0.5, False, False), True),
    ((0.8, False, False), (0.0, True, False), True),   # training counts
    ((0.8, False, False), (0.0, False, True), True),   # looking for work counts
    ((0.8, False, False), (0.0, False, False), False),  # a parent is free to care
    ((0.0, False, False), None, False),
])
def test_work_or_training_need_means_every_parent_is_occupied(applicant, partner, need):
    data = situation((*applicant, "higher"), (*partner, "higher") if partner else None)

    assert priority_flags(data, has_partner=partner is not None)["work_or_training_need"] is need


def test_the_work_regime_is_averaged_over_both_parents():
    data = situation((0.8, False, False, "higher"), (0.5, False, False, "higher"))

    assert priority_flags(data, has_partner=True)["work_regime_fraction"] == 0.65
    assert priority_flags(situation((0.8, False, False, "higher")),
                          has_partner=False)["work_regime_fraction"] == 0.8


def test_a_partner_whose_situation_is_unknown_is_left_out():
    # a partner added by a contact update, before the situation was updated
    data = situation((0.5, False, False, "primary"))

    flags = priority_flags(data, has_partner=True)

    assert (flags["work_regime_fraction"], flags["no_secondary_diploma"]) == (0.5, True)


def test_a_removed_partners_situation_no_longer_counts():
    data = situation((1.0, False, False, "primary"), (0.0, False, False, "higher"))

    flags = priority_flags(data, has_partner=False)

    assert (flags["work_or_training_need"], flags["no_secondary_diploma"]) == (True, True)


def test_declared_flags_pass_through():
    data = situation(single_parent=True, income_below_threshold=True,
                     health_or_care_situation=True, dutch_proficiency=True,
                     dutch_proof_declared=True, integration_course_complete=True)

    flags = priority_flags(data, has_partner=False)

    assert all(flags[name] is True for name in (
        "single_parent", "income_below_threshold", "health_or_care_situation",
        "dutch_proficiency", "dutch_proof_declared", "integration_course_complete"))
