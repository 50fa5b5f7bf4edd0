"""Request facts: the only thing statistics keep about a request (P9).

A fact holds five coarse categories and nothing that points back to a family: no ids, no dates
finer than a month, the municipality derived from the postal code (so no free text can leak).
Every dimension has a closed set of values except the month, which is a plain "YYYY-MM".
"""
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from retention.clocks import as_utc

# Brussels' 19 municipalities by postal code (a postal code outside the region counts as "outside_brussels").
MUNICIPALITY_BY_POSTAL_CODE = {
    "1000": "Brussel", "1020": "Brussel", "1120": "Brussel", "1130": "Brussel",
    "1030": "Schaarbeek", "1040": "Etterbeek", "1050": "Elsene", "1060": "Sint-Gillis",
    "1070": "Anderlecht", "1080": "Sint-Jans-Molenbeek", "1081": "Koekelberg",
    "1082": "Sint-Agatha-Berchem", "1083": "Ganshoren", "1090": "Jette", "1140": "Evere",
    "1150": "Sint-Pieters-Woluwe", "1160": "Oudergem", "1170": "Watermaal-Bosvoorde",
    "1180": "Ukkel", "1190": "Vorst", "1200": "Sint-Lambrechts-Woluwe", "1210": "Sint-Joost-ten-Node",
}
OUTSIDE_BRUSSELS = "outside_brussels"
MUNICIPALITIES = tuple(sorted(set(MUNICIPALITY_BY_POSTAL_CODE.values()))) + (OUTSIDE_BRUSSELS,)

# Age of the child in whole months at the desired start date; "other" catches impossible ages
# (start before birth, older than a childcare child) so one odd request cannot stop the counting.
AGE_BANDS = (("0-5", 0, 5), ("6-11", 6, 11), ("12-17", 12, 17), ("18-23", 18, 23), ("24-36", 24, 36))
OTHER_AGE = "other"
AGE_BAND_LABELS = tuple(label for label, _, _ in AGE_BANDS) + (OTHER_AGE,)

# Days from registering the request until it closed (enrolled, cancelled or expired).
WAITING_BANDS = (("0-30", 0, 30), ("31-90", 31, 90), ("91-180", 91, 180), ("181-365", 181, 365))
LONGEST_WAIT = "366+"
WAITING_BAND_LABELS = tuple(label for label, _, _ in WAITING_BANDS) + (LONGEST_WAIT,)

# The first group of rule set kg-2013 (DOMAIN.md) the family falls in, in the rules' order.
PRIORITY_GROUPS = ("dutch", "vulnerable", "work", "other", "none")

DIMENSIONS = ("municipality", "age_band", "start_month", "priority_group", "waiting_band")
CLOSED_LABELS = {
    "municipality": MUNICIPALITIES,
    "age_band": AGE_BAND_LABELS,
    "priority_group": PRIORITY_GROUPS,
    "waiting_band": WAITING_BAND_LABELS,
}
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class RequestFact:
    municipality: str
    age_band: str
    start_month: str  # "YYYY-MM" of the desired start date
    priority_group: str
    waiting_band: str

    def __post_init__(self):
        for dimension, labels in CLOSED_LABELS.items():
            if getattr(self, dimension) not in labels:
                raise ValueError(f"{dimension} {getattr(self, dimension)!r} is not one of {labels}")
        if not _MONTH.fullmatch(self.start_month):
            raise ValueError(f"start_month {self.start_month!r} is not YYYY-MM")


def municipality(postal_code: str) -> str:
    return MUNICIPALITY_BY_POSTAL_CODE.get(postal_code.strip(), OUTSIDE_BRUSSELS)


def age_band(birth_date: date, desired_start_date: date) -> str:
    months = (desired_start_date.year - birth_date.year) * 12 + desired_start_date.month - birth_date.month
    if desired_start_date.day < birth_date.day:
        months -= 1
    return _band(AGE_BANDS, months, OTHER_AGE)


def waiting_band(days: int) -> str:
    if days < 0:
        raise ValueError("a request cannot close before it was registered")
    return _band(WAITING_BANDS, days, LONGEST_WAIT)


def priority_group(priority: Mapping, child: Mapping) -> str:
    if priority["dutch_proficiency"] and priority["dutch_proof_declared"]:
        return "dutch"
    # Vulnerable: at least 2 of 5 characteristics, at least one of them among the first three.
    first_three = [priority["income_below_threshold"], priority["health_or_care_situation"],
                   priority["no_secondary_diploma"]]
    others = [priority["work_or_training_need"], priority["single_parent"]]
    if any(first_three) and sum(first_three + others) >= 2:
        return "vulnerable"
    if priority["work_or_training_need"]:
        return "work"
    if (priority["single_parent"] or priority["income_below_threshold"] or child["foster_child"]
            or child["sibling_facility_ids"]):
        return "other"
    return "none"


def request_fact(dossier: Mapping, request_id: str, closed_at: datetime) -> RequestFact:
    """The fact of one request from a dossier SNAPSHOT, counted when the request closes."""
    request = next(r for r in dossier["requests"] if r["id"] == request_id)
    child = next(c for c in dossier["children"] if c["id"] == request["child_id"])
    desired_start = date.fromisoformat(request["desired_start_date"])
    waited = as_utc(closed_at) - as_utc(request["registered_at"])
    return RequestFact(
        municipality=municipality(dossier["applicant"]["address"]["postal_code"]),
        age_band=age_band(date.fromisoformat(child["birth_date"]), desired_start),
        start_month=f"{desired_start:%Y-%m}",
        priority_group=priority_group(dossier["priority"], child),
        waiting_band=waiting_band(waited.days),
    )


def _band(bands, value, beyond):
    for label, low, high in bands:
        if low <= value <= high:
            return label
    return beyond
