"""GOV.UK Frontend's components for the pages' templates: govuk-frontend-jinja's macros, in an environment of their own.

A page imports a component as govuk-frontend-jinja documents it,

    {% from "govuk_frontend_jinja/components/input/macro.html" import govukInput %}

and calls it with GOV.UK Frontend's options (`{{ govukInput({"id": "email", "name": "email", ...}) }}`). The macros
are Jinja ports of GOV.UK Frontend's Nunjucks templates, for the version under `coprod/pages/static/` (6.3.0), and
like Nunjucks they read every option nobody gave as empty. The pages' own environment is strict: a name a template
misspells is an error, never an empty string. So the macros are compiled in a lenient environment of their own,
autoescaped like the pages, and handed to the pages' environment compiled: a page's own names stay strict, the
macros' options are as GOV.UK Frontend documents them.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import jinja2

__all__ = ["GovukFrontendLoader"]

PREFIX = "govuk_frontend_jinja"


class GovukFrontendLoader(jinja2.BaseLoader):
    """Loads `govuk_frontend_jinja/...` (only), compiled in the macros' own lenient, autoescaping environment."""

    def __init__(self) -> None:
        self._environment = jinja2.Environment(
            loader=jinja2.PrefixLoader({PREFIX: jinja2.PackageLoader("govuk_frontend_jinja")}),
            autoescape=True, auto_reload=False)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        raise jinja2.TemplateNotFound(template)  # their source is compiled by `load` alone, in their environment

    def load(self, environment: jinja2.Environment, name: str,
             globals: MutableMapping[str, Any] | None = None) -> jinja2.Template:
        if not name.startswith(f"{PREFIX}/"):
            raise jinja2.TemplateNotFound(name)
        return self._environment.get_template(name)
