"""Render any email with sample data for review:
python -m notification.preview KIND LANG [--html]"""
import argparse
import sys

from notification.emails import LANGUAGES, Kind
from notification.rendering import render
from notification.samples import sample_email


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notification.preview", description=__doc__)
    parser.add_argument("kind", choices=[kind.value for kind in Kind])
    parser.add_argument("language", choices=LANGUAGES)
    parser.add_argument("--html", action="store_true", help="print the HTML part, not the text")
    args = parser.parse_args(argv)
    rendered = render(sample_email(Kind(args.kind), args.language))
    sys.stdout.write(f"Subject: {rendered.subject}\n\n")
    sys.stdout.write(rendered.html if args.html else rendered.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
