"""Load the demo facilities: 50 Dutch-language childcare facilities in Brussels, fac-0001 .. fac-0050.

    python -m matching.demo <database url>

Run after the migrations (scripts/run_local.py does). Idempotent: facilities already there are
left as they are, so a manager's changes survive the next local start. Every facility is validated
as register_facility would validate it.
"""
import sys
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from loket.db import command_session
from matching import facilities
from matching.models import FacilityRow
from matching.rulesets import load_rule_sets
from matching.schemas import FacilityInput, validate

COUNT = 50
MUNICIPALITIES = (
    "Anderlecht", "Brussel", "Elsene", "Etterbeek", "Evere", "Ganshoren", "Jette", "Koekelberg", "Oudergem",
    "Schaarbeek", "Sint-Agatha-Berchem", "Sint-Gillis", "Sint-Jans-Molenbeek", "Sint-Joost-ten-Node",
    "Sint-Lambrechts-Woluwe", "Sint-Pieters-Woluwe", "Ukkel", "Vorst", "Watermaal-Bosvoorde",
)
KINDS = ("Kinderdagverblijf", "Kinderopvang", "Crèche", "Peutertuin")
NAMES = ("De Speelboom", "Het Vlindertje", "De Kabouterhut", "Pimpampoen", "De Regenboog", "Het Zonnetje",
         "De Knuffelbeer", "Het Nestje", "De Rupsjes", "Kriebel", "De Toverfluit", "Het Egeltje", "Dribbel")
WEEK = ["mon", "tue", "wed", "thu", "fri"]
EXTRA_RULES = ([], ["sibling"], ["children_of_staff", "sibling"])


def demo_facility(n: int) -> dict:
    """The n-th demo facility (1-based) as register_facility input; varied but fixed."""
    return {
        "id": f"fac-{n:04d}",
        "name": f"{KINDS[n % len(KINDS)]} {NAMES[n % len(NAMES)]} {MUNICIPALITIES[n % len(MUNICIPALITIES)]}",
        "municipality": MUNICIPALITIES[n % len(MUNICIPALITIES)],
        "licensed_capacity": 14 + (n * 7) % 43,
        "opening_days": WEEK if n % 6 else WEEK[:4],
        "min_age_months": 0,
        "max_age_months": 36,
        "income_related_tariff": n % 5 != 0,
        "dutch_share": (0.3, 0.4, 0.5, 0.55)[n % 4],
        "answer_window_days": 14 if n % 3 else 10,
        "extra_rules": EXTRA_RULES[n % len(EXTRA_RULES)],
        "rule_set": "kg-2024" if n % 10 == 0 else "kg-2013",
    }


def load(session: Session, now: datetime) -> int:
    """Add the demo facilities that are missing; returns how many were added."""
    rule_sets = load_rule_sets()
    added = 0
    for n in range(1, COUNT + 1):
        data = validate(FacilityInput(rule_sets), demo_facility(n))
        if session.get(FacilityRow, data["id"]) is None:
            facilities.register(session, now, data)
            added += 1
    return added


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with command_session(argv[1]) as session:
        added = load(session, datetime.now(UTC))
    print(f"demo facilities: {added} added, {COUNT - added} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
