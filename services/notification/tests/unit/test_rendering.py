import itertools
from dataclasses import replace
from importlib.resources import files

import pytest
from jinja2 import TemplateNotFound, UndefinedError
from markupsafe import escape

from notification import i18n
from notification.emails import LANGUAGES, Kind
from notification.preview import main as preview
from notification.rendering import PARTS, render, sample_context
from notification.samples import sample_email

TEMPLATES = files("notification") / "templates"
CASES = list(itertools.product(Kind, LANGUAGES))


def facts(kind, context, language):
    """What the parent must be able to read in this email: the precise part of 'precise'."""
    if kind is Kind.ACCOUNT_CONFIRMATION:  # about an account, not a dossier: no name, no dossier number
        return [context["helpdesk_email"], context["portal_url"], context["confirmation_token"],
                context["confirmation_url"], i18n.long_datetime(context["expires_at"], language)]
    common = [context["first_name"], context["dossier_id"], context["helpdesk_email"],
              context["portal_url"]]

    def date(key):
        return i18n.long_date(context[key], language)

    def moment(key):
        return i18n.long_datetime(context[key], language)

    match kind:
        case Kind.DOSSIER_REGISTERED:
            first_request = context["requests"][0]["desired_start_date"]
            specific = [context["confirmation_code"], context["confirmation_url"],
                        i18n.long_date(first_request, language)]
        case Kind.OFFER_RECEIVED:
            specific = [context["facility_name"], date("start_date"), date("desired_start_date"),
                        i18n.deadline(context["answer_deadline"], language)]
        case Kind.OFFER_LAPSED:
            specific = [context["facility_name"],
                        i18n.deadline(context["answer_deadline"], language)]
        case Kind.START_DATE_NEAR | Kind.START_DATE_PASSED:
            specific = [context["child_first_name"], date("desired_start_date")]
        case Kind.REQUEST_CANCELLED_BY_HELPDESK:
            specific = [context["reason"], date("desired_start_date")]
        case Kind.DOSSIER_FLAGGED:
            specific = [context["message"]]
        case Kind.DOSSIER_CHANGED_BY_HELPDESK:
            specific = [moment("changed_at")] + [
                i18n.section_label(s, language) for s in context["changed_sections"]]
        case Kind.CONSENT_GIVEN | Kind.CONSENT_WITHDRAWN:
            specific = [i18n.partner_name(context["partner"], language), moment("at")]
    return common + specific


@pytest.mark.parametrize("kind, language", CASES)
def test_every_kind_has_every_part_in_every_language(kind, language):
    for part in PARTS:
        assert (TEMPLATES / language / f"{kind}.{part}").is_file(), f"{language}/{kind}.{part}"


def test_no_template_belongs_to_an_unknown_kind_or_language():
    expected = {f"{kind}.{part}" for kind in Kind for part in PARTS}
    expected |= {"_base.txt", "_base.html"}
    for language in LANGUAGES:
        assert {t.name for t in (TEMPLATES / language).iterdir()} == expected
    assert {t.name for t in TEMPLATES.iterdir() if t.is_dir()} == set(LANGUAGES)


@pytest.mark.parametrize("kind, language", CASES)
def test_each_email_renders_all_parts_with_its_facts(kind, language):
    email = sample_email(kind, language)
    rendered = render(email)

    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in rendered.html
    assert f"<title>{escape(rendered.subject)}</title>" in rendered.html
    for fact in facts(kind, email.context, language):
        assert fact in rendered.text, fact
        assert str(escape(fact)) in rendered.html, fact


@pytest.mark.parametrize("kind", list(Kind))
def test_each_language_has_its_own_wording(kind):
    rendered = {language: render(sample_email(kind, language)) for language in LANGUAGES}
    for a, b in itertools.combinations(LANGUAGES, 2):
        assert rendered[a].subject != rendered[b].subject
        assert rendered[a].text != rendered[b].text
    greeting = {"nl": "Beste Sara,", "fr": "Bonjour Sara,", "en": "Dear Sara,"}
    if kind is Kind.ACCOUNT_CONFIRMATION:  # the account has no name yet
        greeting = {"nl": "Hallo,", "fr": "Bonjour,", "en": "Hello,"}
    for language, parts in rendered.items():
        assert parts.text.startswith(greeting[language])


def test_a_language_without_templates_fails_instead_of_falling_back():
    email = replace(sample_email(Kind.OFFER_RECEIVED, "nl"), language="de")
    with pytest.raises(TemplateNotFound):
        render(email)


def test_a_missing_context_key_fails_instead_of_rendering_blank():
    email = sample_email(Kind.OFFER_RECEIVED, "en")
    context = {k: v for k, v in email.context.items() if k != "facility_name"}
    with pytest.raises(UndefinedError):
        render(replace(email, context=context))


def test_html_escapes_free_text_while_plain_text_keeps_it():
    email = sample_email(Kind.REQUEST_CANCELLED_BY_HELPDESK, "nl")
    reason = '<script>alert("x")</script> & co'
    rendered = render(replace(email, context={**email.context, "reason": reason}))
    assert reason in rendered.text
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_missing_reason_is_said_not_left_blank():
    email = sample_email(Kind.REQUEST_CANCELLED_BY_HELPDESK, "fr")
    rendered = render(replace(email, context={**email.context, "reason": None}))
    assert "Le helpdesk n'a pas indiqué de motif." in rendered.text


def test_subject_stays_one_line_whatever_the_data():
    email = sample_email(Kind.OFFER_LAPSED, "en")
    rendered = render(replace(email, context={**email.context,
                                              "facility_name": "De\r\nSpeelvogel\tBis"}))
    assert rendered.subject == "The offer from De Speelvogel Bis has lapsed"


@pytest.mark.parametrize("language, words", [("nl", "je kind"), ("fr", "votre enfant"),
                                             ("en", "your child")])
def test_a_child_without_first_name_is_called_your_child(language, words):
    email = sample_email(Kind.START_DATE_NEAR, language)
    rendered = render(replace(email, context={**email.context, "child_first_name": None}))
    assert words in rendered.subject and words in rendered.text


def test_mistake_and_incomplete_flags_read_differently():
    email = sample_email(Kind.DOSSIER_FLAGGED, "nl")
    incomplete = render(email)
    mistake = render(replace(email, context={**email.context, "flag": "mistake"}))
    assert "onvolledig" in incomplete.subject
    assert "vergissing" in mistake.subject and "vergissing" in mistake.text


def test_lop_consent_lists_only_what_lop_receives():
    email = sample_email(Kind.CONSENT_GIVEN, "en")
    kg = render(email).text
    lop = render(replace(email, context={**email.context, "partner": "lop"})).text
    assert "gender" in kg and "never pass on your partner's data" in kg
    assert "privacy@vgc.be" in lop and "gender" not in lop


def test_unknown_changed_sections_get_one_honest_label():
    email = sample_email(Kind.DOSSIER_CHANGED_BY_HELPDESK, "en")
    rendered = render(replace(email, context={**email.context,
                                              "changed_sections": ["x_new", "y_new"]}))
    assert rendered.text.count("- other details in your file") == 1


def test_sample_context_is_the_context_of_a_real_email():
    assert sample_context("offer_received") == dict(sample_email(Kind.OFFER_RECEIVED, "nl").context)


@pytest.mark.parametrize("table", [i18n.MONTHS, i18n.YOUR_CHILD, i18n.OTHER_SECTION,
                                   *i18n.PARTNER_NAMES.values(), *i18n.SECTION_LABELS.values()])
def test_every_shared_word_exists_in_every_language(table):
    assert set(table) == set(LANGUAGES)


@pytest.mark.parametrize("value, language, expected", [
    ("2026-09-01", "fr", "1er septembre 2026"),
    ("2026-09-02", "fr", "2 septembre 2026"),
    ("2026-03-05", "nl", "5 maart 2026"),
    ("2026-12-31", "en", "31 December 2026"),
])
def test_long_date(value, language, expected):
    assert i18n.long_date(value, language) == expected


@pytest.mark.parametrize("value, language, expected", [
    # Summer time (UTC+2) and winter time (UTC+1): the parent reads Brussels clock time.
    ("2026-07-01T12:30:00+00:00", "nl", "1 juli 2026 om 14:30"),
    ("2026-01-10T08:05:00+00:00", "fr", "10 janvier 2026 à 9 h 05"),
    ("2026-03-31T22:30:00+00:00", "en", "1 April 2026 at 00:30"),
])
def test_long_datetime_is_brussels_time(value, language, expected):
    assert i18n.long_datetime(value, language) == expected


def test_a_deadline_may_be_a_whole_day():
    assert i18n.deadline("2026-07-01", "nl") == "1 juli 2026"


def test_preview_cli_prints_subject_and_the_chosen_part(capsys):
    assert preview(["offer_received", "fr"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Subject: Proposition de place de ")
    assert "<html" not in text and "Bonjour Sara," in text
    preview(["offer_received", "fr", "--html"])
    assert '<html lang="fr">' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        preview(["no_such_kind", "nl"])


HELPDESK_RECORDED = {"nl": "Een medewerker van de helpdesk registreerde dit voor jou.",
                     "fr": "C'est un membre du helpdesk qui l'a enregistré pour vous.",
                     "en": "A member of the helpdesk recorded this for you."}


@pytest.mark.parametrize("kind", [Kind.CONSENT_GIVEN, Kind.CONSENT_WITHDRAWN])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_consent_email_says_when_the_helpdesk_recorded_it(kind, language):
    email = sample_email(kind, language)
    by_parent = render(email)
    by_helpdesk = render(replace(email, context={**email.context, "recorded_by_helpdesk": True}))
    sentence = HELPDESK_RECORDED[language]
    # Template wording, not data: the HTML holds it as written.
    assert sentence not in by_parent.text and sentence not in by_parent.html
    assert sentence in by_helpdesk.text and sentence in by_helpdesk.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_facilities_and_restriction_changes_have_their_own_words(language):
    email = sample_email(Kind.DOSSIER_CHANGED_BY_HELPDESK, language)
    rendered = render(replace(email, context={**email.context,
                                              "changed_sections": ["facilities", "restriction"]}))
    for section in ("facilities", "restriction"):
        assert i18n.section_label(section, language) in rendered.text
    assert i18n.OTHER_SECTION[language] not in rendered.text
