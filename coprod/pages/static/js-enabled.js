// GOV.UK Frontend's one line from its page template, here because the pages' Content-Security-Policy runs no
// inline script: loaded at the top of <body>, it marks a browser that runs JavaScript (and modules) before
// anything is drawn. Without JavaScript the pages work the same; they only miss the small helps of site.js.
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
