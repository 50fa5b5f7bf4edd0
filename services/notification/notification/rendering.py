"""Email -> subject, plain text and HTML, from the Jinja2 templates in `templates/<language>/`.

There is no fallback language: a kind without a template in the email's language raises
`TemplateNotFound`, and the catalogue test fails before such a build ships.
"""
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape

from notification import i18n
from notification.emails import DEFAULT_LANGUAGE, Email, Kind
from notification.samples import sample_email

PARTS = ("subject.txt", "txt", "html")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _in_language(format_):
    @pass_context
    def filter_(context, value):
        return format_(value, context["language"])
    return filter_


def _child(first_name: str | None, language: str) -> str:
    return first_name or i18n.YOUR_CHILD[language]


def _section_labels(sections: list[str], language: str) -> list[str]:
    # Two unknown sections share one label; list it once.
    return list(dict.fromkeys(i18n.section_label(s, language) for s in sections))


_ENV = Environment(
    loader=PackageLoader("notification", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,  # a missing context key is a bug, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship with the code: no file checks on every email
)
_ENV.filters.update(
    long_date=_in_language(i18n.long_date),
    long_datetime=_in_language(i18n.long_datetime),
    deadline=_in_language(i18n.deadline),
    partner_name=_in_language(i18n.partner_name),
    section_labels=_in_language(_section_labels),
    child=_in_language(_child),
)


def render(email: Email) -> RenderedEmail:
    context = {**email.context, "language": email.language, "kind": str(email.kind)}
    prefix = f"{email.language}/{email.kind}"
    # A header is one line: collapse whatever whitespace the template or the data brought.
    subject = " ".join(_ENV.get_template(f"{prefix}.subject.txt").render(context).split())
    text = _ENV.get_template(f"{prefix}.txt").render(context).strip() + "\n"
    html = _ENV.get_template(f"{prefix}.html").render({**context, "subject": subject})
    return RenderedEmail(subject=subject, text=text, html=html)


def sample_context(kind: Kind | str) -> dict:
    """The context of a realistic email of this kind, for previews and template tests."""
    return dict(sample_email(Kind(kind), DEFAULT_LANGUAGE).context)
