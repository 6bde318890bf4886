// GOV.UK Frontend's JavaScript on every component of the page (data-module="govuk-..."): the error summary takes
// focus and its links bring the field's label or legend into view, the skip link focuses the main content.
// Everything works without it.
import { initAll } from "./govuk-frontend-6.3.0/govuk-frontend.min.js";

initAll();
