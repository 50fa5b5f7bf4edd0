"""The sentences a facility manager reads: why a request does not fit a place, why a candidate is where it is.

Kept together so the wording is consistent and can be translated in one place. Vulnerability is
explained by a count only: which characteristics apply may include the health situation, which
the manager has no need to learn from a ranking.
"""
# Eligibility
NOT_ACTIVE = "The request is {status}, not active"
NOT_CHOSEN = "The request did not choose this facility and is not urgent"
STARTS_BEFORE_PLACE = "The desired start ({desired}) is before the place is free ({start})"
STARTS_TOO_LATE = ("The desired start ({desired}) is more than {months} months after the place is free ({start}); "
                   "facilities allocate at most {months} months ahead")
DAY_NOT_FREE = "The care plan asks for {day}, which is not free in this place"
DAY_PART_NOT_FREE = "The care plan asks for {day} ({wanted}); only the {free} is free"
NOT_BORN = "The child is not born yet on the desired start date"
AGE_OUTSIDE = "The child is {age} months old on the desired start date; the place is for {low} to {high} months"
FITS = "Fits the place: start date, care plan and age"

# Ranking
URGENT = "Urgent request: did not choose this facility, but every facility may offer it a place"
DUTCH_PRIORITY = "Dutch-language priority: a parent knows Dutch (B1), proof declared; share {taken} of {seats} seats taken"
DUTCH_SHARE_FULL = ("A parent knows Dutch (B1), proof declared, but the Dutch-language share is full "
                    "({taken} of {seats} seats): no priority now")
DUTCH_PROOF_MISSING = "No Dutch-language priority: a parent knows Dutch (B1) but no proof is declared"
VULNERABLE = ("Vulnerable family ({count} of the {total} characteristics); vulnerable families have "
              "{taken} of the {seats} places the {percent} % minimum asks")
VULNERABLE_MINIMUM_MET = ("Vulnerable family, but the {percent} % minimum is met ({taken} of {seats} places): "
                          "no priority now")
WORK_NEED = "Work-related need: care is needed to work, look for work or follow training"
OTHER_GROUPS = "Other priority groups ({count}): {groups}"
OTHER_GROUP_LABELS = {
    "single_parent": "single parent",
    "income_below_threshold": "income below the threshold",
    "foster_child": "foster child",
    "sibling_in_facility": "a brother or sister already in this facility",
}
ABSOLUTE_GROUP = "Absolute priority, group {rank} of {total} in this facility's order: {label}"
ABSOLUTE_GROUP_LABELS = {
    "work_or_training": "parents work or train at least {percent} % on average "
                        "(an integration course with Dutch lessons and civic orientation counts)",
    "sibling_attending": "a brother or sister attends this facility at the same time",
    "foster_child": "foster child",
}
NO_ABSOLUTE_GROUP = ("In none of the absolute priority groups; places for other families: "
                     "{taken} of {seats} used (at most {percent} %)")
FACILITY_RULE = "Facility rule: {label}"
FACILITY_RULE_LABELS = {
    "children_of_staff": "child of a staff member",
    "sibling": "a brother or sister attends this facility",
}
NO_PRIORITY = "No priority rule applies"
TIE_BREAK = "Then by {parts}"
TIE_BREAK_PARTS = {
    "registered_at": "registration ({registered_at} UTC)",
    "child_birth_date": "child's birth date ({child_birth_date})",
    "request_id": "request id ({request_id})",
}

# Notes on the whole ranking
NOTE_DUTCH = "Dutch-language share: {taken} of {seats} seats taken ({state})"
NOTE_VULNERABLE = "Vulnerable families: {taken} of the {seats} places the {percent} % minimum asks ({state})"
NOTE_OTHER_FAMILIES = "Other families (outside the absolute groups): {taken} of {seats} places used"
NOTE_STEPS_SKIPPED = "No income-related tariff: {steps} do not apply"
STATE_APPLIES = "priority applies"
STATE_MET = "no priority now"
