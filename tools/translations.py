"""The translations' catalogues: made from the code and templates, kept up to date, and checked.

    python tools/translations.py update     # after changing any words: each language's .po gains the new strings
                                            # (empty, to translate), loses the ones gone, keeps every translation
    python tools/translations.py check      # what is missing: untranslated, unchecked (fuzzy), out of date,
                                            # or a translation whose placeholders differ from the English; exit 1
    python tools/translations.py stats      # each catalogue's size
    python tools/translations.py pot FILE...      # the strings of these files, as a .pot to translate
    python tools/translations.py merge cy X.po... # fill the Welsh catalogues' empty strings from translated files

Where strings are found, and which catalogue (`coprod/locale/<language>/LC_MESSAGES/<domain>.po`) each file feeds,
is `SOURCES` below. In templates: `{% trans %}...{% endtrans %}` and `_("...")`; in Python: `N_("...")` for a
string translated later, `words.gettext("...")` and `words.ngettext("...", "...", n)` where the language's
translator (`coprod.i18n.translator`) is to hand. docs/translations.md says how to translate and add a language.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "coprod" / "locale"
PROJECT = "coprod"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "trim_blocks": "true",
                 "lstrip_blocks": "true", "keep_trailing_newline": "true", "silent": "false"}
# Which files feed which catalogue: (domain, glob under the repository, how to read it).
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("emails", "coprod/templates/email/*.html", "jinja2"),
    ("emails", "coprod/templates/email/*.txt", "jinja2"),
    ("emails", "coprod/templates/calendar.py", "python"),
    ("emails", "coprod/templates/weblinks.py", "python"),
    ("emails", "coprod/registrations/*.py", "python"),
    ("emails", "coprod/contributions/*.py", "python"),
    ("emails", "coprod/mailing/*.py", "python"),
    ("emails", "coprod/guests/*.py", "python"),
    ("pages", "coprod/templates/pages/*.html", "jinja2"),
    ("pages", "coprod/pages/*.py", "python"),
    ("pages", "coprod/operating/report.py", "python"),
    ("pages", "coprod/serve.py", "python"),
    ("texts", "coprod/notify/*.py", "python"),
)
METHODS = {"jinja2": "jinja2.ext:babel_extract", "python": "python"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")
TAGS = re.compile(r"</?[a-zA-Z][^>]*>")


def domains() -> list[str]:
    return sorted({domain for domain, _glob, _how in SOURCES})


def languages() -> list[str]:
    return sorted(path.name for path in LOCALE.iterdir() if path.is_dir()) if LOCALE.exists() else []


def extract(domain: str) -> Catalog:
    """Every string of the domain's files, with where each is used."""
    catalog = Catalog(project=PROJECT, charset="utf-8", fuzzy=False)
    for name, pattern, how in SOURCES:
        if name != domain:
            continue
        for path in sorted(ROOT.glob(pattern)):
            options = JINJA_OPTIONS if how == "jinja2" else {}
            found = extract_from_file(METHODS[how], str(path), keywords=KEYWORDS, options=options,
                                      strip_comment_tags=True)
            for line, message, comments, context in found:
                relative = path.relative_to(ROOT).as_posix()
                catalog.add(message, None, [(relative, line)], auto_comments=comments, context=context)
    return catalog


def _how(relative: str) -> str | None:
    for _domain, pattern, how in SOURCES:
        if Path(relative).match(pattern) or ROOT.joinpath(relative) in ROOT.glob(pattern):
            return how
    return None


def extract_files(files: list[str]) -> Catalog:
    """The strings of some files (each read as `SOURCES` says), to translate them apart from the rest."""
    catalog = Catalog(project=PROJECT, charset="utf-8", fuzzy=False)
    for name in files:
        path = Path(name).resolve()
        relative = path.relative_to(ROOT).as_posix()
        how = _how(relative)
        if how is None:
            raise SystemExit(f"{relative} feeds no catalogue (SOURCES in tools/translations.py)")
        options = JINJA_OPTIONS if how == "jinja2" else {}
        for line, message, comments, context in extract_from_file(METHODS[how], str(path), keywords=KEYWORDS,
                                                                   options=options, strip_comment_tags=True):
            catalog.add(message, None, [(relative, line)], auto_comments=comments, context=context)
    return catalog


def merge(language: str, files: list[str]) -> None:
    """Each catalogue's untranslated strings filled from the files' translations of the same English."""
    given: dict[tuple[object, str | None], object] = {}
    for name in files:
        with open(name, "rb") as source:
            for message in read_po(source, locale=language):
                if message.id and all(_strings(message)) and _strings(message) and not message.fuzzy:
                    given[(message.id, message.context)] = message.string
    for domain in domains():
        catalog = updated(language, domain)
        filled = 0
        for message in catalog:
            if message.id and not all(_strings(message) or [""]) and (message.id, message.context) in given:
                message.string = given[(message.id, message.context)]  # type: ignore[assignment]
                filled += 1
        path = catalogue_path(language, domain)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(written(catalog))
        print(f"{path.relative_to(ROOT)}: {filled} filled, {stats_line(catalog)}")


def catalogue_path(language: str, domain: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{domain}.po"


def read(language: str, domain: str) -> Catalog:
    path = catalogue_path(language, domain)
    if not path.exists():
        return Catalog(locale=language, project=PROJECT, charset="utf-8", fuzzy=False)
    with path.open("rb") as source:
        return read_po(source, locale=language)


def written(catalog: Catalog) -> bytes:
    out = BytesIO()
    write_po(out, catalog, width=120, omit_header=False, sort_output=False, ignore_obsolete=True,
             include_previous=False)
    return out.getvalue()


def updated(language: str, domain: str) -> Catalog:
    """The language's catalogue with the domain's strings as the code has them now, translations kept."""
    catalog = read(language, domain)
    catalog.update(extract(domain), no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    catalog.revision_date = catalog.creation_date  # no date churn in the file on every update
    return catalog


def update() -> None:
    for language in languages():
        for domain in domains():
            path = catalogue_path(language, domain)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(written(updated(language, domain)))
            print(f"{path.relative_to(ROOT)}: {stats_line(updated(language, domain))}")


def _ids(message: Message) -> list[str]:
    return [message.id] if isinstance(message.id, str) else list(message.id)


def _strings(message: Message) -> list[str]:
    if isinstance(message.string, str):
        return [message.string]
    return list(message.string or ())


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


@dataclass(frozen=True)
class Problem:
    language: str
    domain: str
    message: str
    what: str

    def __str__(self) -> str:
        return f"{self.language}/{self.domain}.po: {self.what}: {self.message!r}"


def problems(language: str, domain: str) -> Iterator[Problem]:
    """What keeps the language's catalogue from being complete and right for the code as it is."""
    current = read(language, domain)
    wanted = extract(domain)
    for message in wanted:
        if not message.id:
            continue
        have = current.get(message.id, context=message.context)
        first = _ids(message)[0]
        if have is None:
            yield Problem(language, domain, first, "not in the catalogue (run tools/translations.py update)")
            continue
        strings = _strings(have)
        if not strings or not all(strings):
            yield Problem(language, domain, first, "not translated")
        elif have.fuzzy:
            yield Problem(language, domain, first, "marked fuzzy (a translation not checked)")
        else:
            english = set().union(*(placeholders(text) for text in _ids(message)))
            tags = sorted(TAGS.findall(_ids(message)[0]))
            for text in strings:
                if placeholders(text) != english:
                    yield Problem(language, domain, first, f"placeholders differ ({sorted(placeholders(text))})")
                elif sorted(TAGS.findall(text)) != tags:
                    yield Problem(language, domain, first, f"tags differ ({sorted(TAGS.findall(text))})")
    for message in current:
        if message.id and wanted.get(message.id, context=message.context) is None:
            yield Problem(language, domain, _ids(message)[0], "in the catalogue but no longer used (run update)")


def stats_line(catalog: Catalog) -> str:
    entries = [message for message in catalog if message.id]
    done = sum(1 for message in entries if all(_strings(message)) and _strings(message) and not message.fuzzy)
    return f"{done} of {len(entries)} translated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["update", "check", "stats", "pot", "merge"])
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "pot":
        sys.stdout.buffer.write(written(extract_files(args.files)))
        return 0
    if args.command == "merge":
        merge(args.files[0], args.files[1:])
        return 0
    if args.command == "update":
        update()
        return 0
    if args.command == "stats":
        for language in languages():
            for domain in domains():
                print(f"{language}/{domain}.po: {stats_line(read(language, domain))}")
        return 0
    found = [problem for language in languages() for domain in domains() for problem in problems(language, domain)]
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s)" if found else "Every catalogue is complete.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
