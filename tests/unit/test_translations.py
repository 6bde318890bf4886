"""Every word a participant reads goes through the catalogue, and the Welsh catalogue is complete.

Three checks, each failing with the file and line to mend:
- no template has words outside `{% trans %}` or `_()`: literal text between tags, or a string given to a macro
  (a label, a hint, a button) that reads as words (`untranslated` below);
- every marked string has a Welsh translation, checked (not fuzzy), with the same placeholders and tags as the
  English (tools/translations.py check);
- the catalogue has nothing the code no longer uses.
The rendered pages and emails are checked in a pseudo-language too (tests/flows/test_welsh.py), which catches a
string from the code that was never marked.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from coprod.templates import environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "coprod" / "templates"
sys.path.insert(0, str(ROOT / "tools"))
import translations  # noqa: E402

GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
SHOWN = {"alt", "title", "aria-label", "placeholder"}  # attributes a person reads (or hears)
EXPRESSION = "\x00"  # where a `{{ ... }}` or a translated string stands in the template's text
WORDS = re.compile(r"[^\W\d_]{2,}")  # two letters together: a word (a lone "s" or "x" is looked at by the Const rule)
# a string of names: CSS classes, ids, field names, attribute names ("govuk-button govuk-button--secondary")
NAMES = re.compile(r"^[a-z0-9_\-:#./ ]*$")


def _parents(node: nodes.Node, parent: nodes.Node | None = None) -> Iterator[tuple[nodes.Node, nodes.Node | None]]:
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _parents(child, node)


def _marked(parent: nodes.Node | None) -> bool:
    return isinstance(parent, nodes.Call) and isinstance(parent.node, nodes.Name) and parent.node.name in GETTEXT


class _Skeleton(HTMLParser):
    """The template's literal text, with each expression a placeholder, read as HTML: its text and shown
    attributes, each with the template line it came from."""

    def __init__(self, starts: list[int], lines: list[int]) -> None:
        super().__init__(convert_charrefs=True)
        self.starts, self.lines = starts, lines
        self.found: list[tuple[int, str]] = []
        self.offsets: list[int] = []
        self.hidden = 0  # inside <style> or <script>: code, not words

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.hidden -= 1

    def line(self) -> int:
        row, column = self.getpos()
        offset = self.offsets[row - 1] + column
        return self.lines[max(0, bisect.bisect_right(self.starts, offset) - 1)]

    def handle_data(self, data: str) -> None:
        if not self.hidden and WORDS.search(data.replace(EXPRESSION, " ")):
            self.found.append((self.line(), " ".join(data.replace(EXPRESSION, "…").split())))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("style", "script")
        for name, value in attrs:
            if name in SHOWN and value and WORDS.search(value.replace(EXPRESSION, " ")):
                self.found.append((self.line(), f"{name}={value.replace(EXPRESSION, '…')!r}"))


def _text(tree: nodes.Node, html: bool) -> list[tuple[int, str]]:
    """The words a template writes itself (not through the catalogue), with their lines."""
    parts: list[str] = []
    starts: list[int] = []
    lines: list[int] = []
    at = 0

    def add(text: str, lineno: int) -> None:
        nonlocal at
        starts.append(at)
        lines.append(lineno)
        parts.append(text)
        at += len(text)

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.TemplateData):
            add(node.data, node.lineno)
        elif isinstance(node, nodes.Output):
            for part in node.nodes:
                walk(part) if isinstance(part, nodes.TemplateData) else add(EXPRESSION, part.lineno)
            return
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    text = "".join(parts)
    if not html:
        return [(lines[max(0, bisect.bisect_right(starts, m.start()) - 1)], m.group())
                for m in re.finditer(r"[^\n\x00]*[^\W\d_]{2,}[^\n\x00]*", text)]
    reader = _Skeleton(starts, lines)
    reader.offsets = [0]
    for row in text.split("\n")[:-1]:
        reader.offsets.append(reader.offsets[-1] + len(row) + 1)
    reader.feed(text)
    reader.close()
    return reader.found


def untranslated(name: str, source: str | None = None) -> list[str]:
    """Words in the template `name` that no catalogue would ever see."""
    source = (TEMPLATES / name).read_text(encoding="utf-8") if source is None else source
    tree = environment(True).parse(source, name=name)
    found = [f"{name}:{line}: text outside {{% trans %}}: {words.strip()[:60]!r}"
             for line, words in _text(tree, html=not name.endswith(".txt"))]
    for node, parent in _parents(tree):
        if _marked(node) and not (node.args and isinstance(node.args[0], nodes.Const)):  # type: ignore[attr-defined]
            # `_(variable)`: nothing for the catalogue to find; and autoescaping trusts what gettext gives as HTML
            found.append(f"{name}:{node.lineno}: _() of a variable, not of the words themselves")
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and not _marked(parent):
            if isinstance(parent, nodes.Compare | nodes.Operand | nodes.Getitem | nodes.Getattr | nodes.Filter
                          | nodes.Test | nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
                continue  # compared with a status, a key, a filter's argument, a template's name: not shown
            if isinstance(parent, nodes.Pair) and parent.key is node:
                continue  # an option's name
            value = node.value
            if NAMES.match(value) and not re.fullmatch(r"[a-z]{1,2}", value.strip()):
                continue  # ids and classes; but a lone "s" is English's plural, and belongs to ngettext
            if WORDS.search(value) or re.fullmatch(r"[a-z]{1,2}", value.strip()):
                found.append(f"{name}:{node.lineno}: a string given as words, not through _(): {value[:60]!r}")
    return sorted(found, key=lambda line: int(line.split(":")[1]))


def templates() -> list[str]:
    return sorted(path.relative_to(TEMPLATES).as_posix() for folder in ("email", "pages")
                  for path in (TEMPLATES / folder).iterdir() if path.suffix in (".html", ".txt"))


@pytest.mark.parametrize("name", templates())
def test_no_words_in_a_template_escape_the_catalogue(name: str) -> None:
    assert untranslated(name) == []


def test_the_rule_finds_words_outside_the_catalogue() -> None:
    """The check above, on a template made to break it: words between tags, a label given as a plain string."""
    bad = ('<p>Hello</p>{{ field("name", "Your name") }}{{ "s" if n != 1 }}<p>{% trans %}Fine{% endtrans %}'
           '{{ _("Also fine") }}</p>{% if status == "Cancelled" %}<a class="govuk-link" href="{{ url }}">'
           '{% trans %}Go{% endtrans %}</a>{% endif %}')
    assert [line.split(": ", 1)[1] for line in untranslated("bad.html", bad)] == [
        "text outside {% trans %}: 'Hello'", "a string given as words, not through _(): 'Your name'",
        "a string given as words, not through _(): 's'"]
    text = "Hello {{ name }},\n{% trans %}Fine{% endtrans %}"
    assert [line.split(": ", 1)[1] for line in untranslated("bad.txt", text)] == ["text outside {% trans %}: 'Hello'"]
    assert untranslated("style.html", "<style>p { color: red }</style><p>{{ _('Fine') }}</p>") == []
    assert untranslated("var.html", "<p>{{ _(message) }}</p>") == [
        "var.html:1: _() of a variable, not of the words themselves"]
    assert untranslated("alt.html", '<img alt="A photo" src="{{ url }}/x">') == [
        "alt.html:1: text outside {% trans %}: \"alt='A photo'\""]


@pytest.mark.parametrize("domain", translations.domains())
def test_the_welsh_catalogue_is_complete_and_current(domain: str) -> None:
    assert [str(problem) for problem in translations.problems("cy", domain)] == []


def test_templates_all_parse_with_the_i18n_extension() -> None:
    for name in templates():
        try:
            environment(False).parse((TEMPLATES / name).read_text(encoding="utf-8"))
        except jinja2.TemplateSyntaxError as error:  # pragma: no cover - the failure's message names it
            pytest.fail(f"{name}: {error}")
