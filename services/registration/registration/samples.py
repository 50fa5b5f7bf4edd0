"""Valid registration payloads relative to a given day: for the demo data, benchmarks and tests."""
from datetime import date, timedelta

_MUNICIPALITIES = [("1000", "Brussel"), ("1030", "Schaarbeek"), ("1080", "Sint-Jans-Molenbeek"),
                   ("1050", "Elsene"), ("1070", "Anderlecht"), ("1090", "Jette")]


def sample_registration(today: date, n: int = 0, facility_ids=None, with_partner=True) -> dict:
    postal_code, municipality = _MUNICIPALITIES[n % len(_MUNICIPALITIES)]
    facility_ids = facility_ids or [f"fac-{(n % 50) + 1:04d}", f"fac-{((n + 7) % 50) + 1:04d}"]
    payload = {
        "preferred_language": ("nl", "fr", "en")[n % 3],
        "applicant": {
            "last_name": f"Peeters{n}", "first_name": "An", "birth_date": "1990-01-02", "gender": "f",
            "email": f"ouder{n}@example.org", "phone": "+32 470 12 34 56",
            "address": {"street": "Hoogstraat", "house_number": str(n % 200 + 1), "postal_code": postal_code,
                        "municipality": municipality},
        },
        "children": [{
            "last_name": f"Peeters{n}", "first_name": "Mila", "gender": "f",
            "birth_date": (today - timedelta(days=30 + n % 200)).isoformat(),
            "request": {"desired_start_date": (today + timedelta(days=90 + n % 120)).isoformat(),
                        "care_plan": {"mon": "full", "tue": "full", "thu": "morning"},
                        "facility_ids": facility_ids},
        }],
        "situation": {
            "family": {"single_parent": not with_partner},
            "financial": {"income_below_threshold": n % 4 == 0},
            "work": {"applicant": {"regime": "4/5", "employer": "Stad Brussel"}},
            "education": {"applicant": "higher"},
            "health": {"care_situation": n % 5 == 0, "detail": "zorgnood in het gezin" if n % 5 == 0 else None},
            "dutch": {"proficiency": n % 2 == 0, "proof_declared": n % 2 == 0},
        },
        "consents": {"kind_en_gezin": {"given": True, "policy_version": "2024-05", "method": "web"}},
        "registered_by": {"role": "parent"},
    }
    if with_partner:
        payload["partner"] = {"last_name": "Janssens", "first_name": "Bart", "birth_date": "1988-06-30",
                              "gender": "m", "email": f"partner{n}@example.org"}
        payload["situation"]["work"]["partner"] = {"regime": "full"}
        payload["situation"]["education"]["partner"] = "secondary"
    return payload
