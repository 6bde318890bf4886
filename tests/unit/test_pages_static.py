"""GOV.UK Frontend under the public pages: the files shipped with the app, served as the pages load them, the version
pinned alike everywhere, and nothing of GOV.UK's own brand (crown, name, typeface) on a council's pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from config import THEMES
from coprod.links import Signer
from coprod.pages.app import SECURITY_HEADERS, STATIC, WebContext, create_web_app
from coprod.store import SqliteStore
from coprod.templates import render_page
from tests.conftest import SIGNING_KEY, offline_settings
from tests.support.functions_host import FunctionsHostTransport

ROOT = Path(__file__).resolve().parents[2]
VERSION = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]["govuk-frontend"]
GOVUK = STATIC / f"govuk-frontend-{VERSION}"
YEAR = "public, max-age=31536000, immutable"
HOUR = "public, max-age=3600"


@pytest.fixture
def client(store: SqliteStore) -> Iterator[httpx.Client]:
    """The pages as the Functions host serves them (through Microsoft's ASGI adapter), files and all."""
    settings = offline_settings(programme_name="Having your say")
    app = create_web_app(lambda: WebContext(Signer(SIGNING_KEY), store, settings))
    with httpx.Client(transport=FunctionsHostTransport(app), base_url="http://localhost:7071") as http:
        yield http


def subscribe_page(client: httpx.Client) -> str:
    page = client.post("/api/pages/subscribe", data={"email": ""})  # the layout, a form, and the error summary
    assert page.status_code == 400
    return page.text


def test_every_stylesheet_and_script_a_page_names_is_served_with_its_type_and_how_long_to_keep_it(
        client: httpx.Client) -> None:
    page = subscribe_page(client)
    named = re.findall(r'<(?:link rel="stylesheet" href|script (?:type="module" )?src)="([^"]+)"', page)
    assert named == [f"/api/pages/static/govuk-frontend-{VERSION}/govuk-frontend.min.css", "/api/pages/static/site.css",
                     "/api/pages/static/js-enabled.js", "/api/pages/static/site.js"]
    for url in named:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] == ("text/css" if url.endswith(".css") else
                                                                "text/javascript")
        assert answer.headers["x-content-type-options"] == "nosniff"
        # GOV.UK Frontend's folder names its version, so a new one is a new address: a browser may keep it a year
        assert answer.headers["cache-control"] == (YEAR if "/govuk-frontend-" in url else HOUR)
        assert answer.content == (STATIC / url.removeprefix("/api/pages/static/")).read_bytes()
    # site.js loads GOV.UK Frontend's module from the same folder
    assert f'from "./govuk-frontend-{VERSION}/govuk-frontend.min.js"' in client.get("/api/pages/static/site.js").text
    assert client.get(f"/api/pages/static/govuk-frontend-{VERSION}/govuk-frontend.min.js").status_code == 200


@pytest.mark.parametrize("path", ["govuk-frontend-{v}/LICENCE.txt", "govuk-frontend-{v}/README.md", "nothing.css",
                                  "../app.py", "%2e%2e/app.py", "site.css/x"])
def test_static_serves_its_stylesheets_and_scripts_and_nothing_else(client: httpx.Client, path: str) -> None:
    answer = client.get(f"/api/pages/static/{path.format(v=VERSION)}")
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_the_policy_lets_the_pages_own_files_load_and_nothing_inline() -> None:
    policy = dict(part.strip().split(" ", 1) for part in SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    for directive in ("style-src", "script-src", "font-src"):
        assert policy[directive] == "'self'", directive  # never 'unsafe-inline', nor anyone else's address
    assert "img-src" not in policy  # the pages show no image


def test_the_shipped_files_are_govuk_frontends_own_at_the_version_package_json_pins() -> None:
    """The built files under coprod/pages/static/ (the function app's package has no npm) are the ones npm installs."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/govuk-frontend"]["version"] == VERSION
    assert [p.name for p in STATIC.glob("govuk-frontend-*")] == [GOVUK.name]  # one version, the pinned one
    css = (GOVUK / "govuk-frontend.min.css").read_text(encoding="utf-8")
    assert f'--govuk-frontend-version:"{VERSION}"' in css
    assert (GOVUK / "govuk-frontend.min.js").read_text(encoding="utf-8").startswith(f'const version="{VERSION}";')
    assert "MIT License" in (GOVUK / "LICENCE.txt").read_text(encoding="utf-8")
    installed = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
    if not installed.is_dir():
        pytest.skip("GOV.UK Frontend is not in node_modules (run `npm ci`) to compare the shipped files with")
    for name in ("govuk-frontend.min.css", "govuk-frontend.min.js"):
        assert (GOVUK / name).read_bytes() == (installed / name).read_bytes(), f"{name} differs from npm's"


def test_the_pages_ship_no_fonts_images_or_source_maps_and_stay_small() -> None:
    """GDS Transport is licensed for GOV.UK alone, and the crown and GOV.UK's icons are central government's."""
    shipped = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.suffix for p in shipped} <= {".css", ".js", ".txt", ".md"}
    assert sum(p.stat().st_size for p in shipped) < 200_000


def test_the_govuk_frontend_jinja_macros_are_the_ones_made_for_this_version() -> None:
    """govuk-frontend-jinja 4.1.0's macros are ports of GOV.UK Frontend 6.3.0's: the two move together."""
    pinned = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
                  if "==" in line and not line.startswith("#"))
    assert (pinned["govuk-frontend-jinja"], VERSION) == ("4.1.0", "6.3.0")


@pytest.mark.parametrize("template", ["subscribe", "privacy", "not_found", "guest_confirmed"])
def test_a_councils_pages_carry_its_programme_and_no_govuk_brand(template: str) -> None:
    page = render_page(template, base="/api/pages", programme="Having your say", site_name="the site",
                       values={"name": "", "email": "", "topics": []}, errors={}, all_topics=THEMES,
                       error_summary=None, notice=offline_settings())
    assert '<span class="app-header__name">Having your say</span>' in page
    assert "GOV.UK" not in page and "govuk-header" not in page and "crown" not in page.lower()
    assert "<svg" not in page and "<img" not in page and "style=" not in page  # (no inline style under the policy)
    assert re.search(r"<script(?! (?:type=\"module\" )?src=\"/api/pages/static/)", page) is None  # no inline script
