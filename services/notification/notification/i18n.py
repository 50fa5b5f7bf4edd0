"""Words the templates share: dates, partner names and dossier section names per language.

Every table has every language in `LANGUAGES`; a test enforces it, so a new language cannot
silently print Dutch.
"""
from datetime import date, datetime

from notification.reminders import BRUSSELS

MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}

PARTNER_NAMES = {
    "kind_en_gezin": {"nl": "Kind en Gezin", "fr": "Kind en Gezin", "en": "Kind en Gezin"},
    "lop": {"nl": "LOP Brussel", "fr": "LOP Brussel", "en": "LOP Brussel"},
}

# Said of a child whose first name is not known yet (an expected baby).
YOUR_CHILD = {"nl": "je kind", "fr": "votre enfant", "en": "your child"}

# Sections of a dossier a helpdesk change can touch: registration's `changed_sections`, plus
# "facilities" for its facilities_changed event.
SECTION_LABELS = {
    "contact": {"nl": "je contactgegevens", "fr": "vos coordonnées",
                "en": "your contact details"},
    "partner": {"nl": "de gegevens van je partner", "fr": "les données de votre partenaire",
                "en": "your partner's details"},
    "children": {"nl": "de gegevens van je kinderen", "fr": "les données de vos enfants",
                 "en": "your children's details"},
    "situation": {"nl": "je gezinssituatie en de gegevens voor de voorrangsregels",
                  "fr": "votre situation familiale et les données utilisées pour les règles "
                        "de priorité",
                  "en": "your family situation and the details used for the priority rules"},
    "facilities": {"nl": "de opvanglocaties die je koos voor je opvangvraag",
                   "fr": "les lieux d'accueil choisis pour votre demande d'accueil",
                   "en": "the childcare facilities chosen for your childcare request"},
    "restriction": {"nl": "de beperking van de verwerking van je gegevens",
                    "fr": "la limitation du traitement de vos données",
                    "en": "the restriction of the processing of your data"},
}
# A section registration adds later still gets an honest, if vaguer, label.
OTHER_SECTION = {"nl": "andere gegevens in je dossier",
                 "fr": "d'autres données de votre dossier",
                 "en": "other details in your file"}


def long_date(value: str, language: str) -> str:
    day = date.fromisoformat(value[:10])
    month = MONTHS[language][day.month - 1]
    if language == "fr" and day.day == 1:
        return f"1er {month} {day.year}"
    return f"{day.day} {month} {day.year}"


def long_datetime(value: str, language: str) -> str:
    """A UTC instant as Brussels wall-clock time: the time the parent sees on the clock."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("datetimes in events are UTC and must say so")
    local = moment.astimezone(BRUSSELS)
    day = long_date(local.date().isoformat(), language)
    if language == "fr":
        return f"{day} à {local.hour} h {local.minute:02d}"
    joiner = "om" if language == "nl" else "at"
    return f"{day} {joiner} {local:%H:%M}"


def deadline(value: str, language: str) -> str:
    """An answer deadline is a whole day (ISO date) or an exact moment (ISO datetime)."""
    return long_date(value, language) if len(value) == 10 else long_datetime(value, language)


def partner_name(partner: str, language: str) -> str:
    return PARTNER_NAMES[partner][language]


def section_label(section: str, language: str) -> str:
    return SECTION_LABELS.get(section, OTHER_SECTION)[language]
