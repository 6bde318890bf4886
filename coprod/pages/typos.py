"""A misspelt email domain, questioned before anything is made: `ann@gmial.com` asks "Did you mean
ann@gmail.com?", and the person can keep what they typed (the form sends `email_checked=1` with it again).

Only the domains most people in the UK use are known (COMMON); a domain one or two letters from one of them
(a letter missing, added, changed, or two swapped), and not itself one of them, is questioned. Two letters only
on longer domains, so that short real ones (`gmx.com`, `me.com`) are not taken for slips."""

from __future__ import annotations

from coprod.i18n import N_, Translator

__all__ = ["CHECKED", "COMMON", "question", "suggestion"]

COMMON = ("gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com", "live.co.uk",
          "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com",
          "aol.co.uk", "btinternet.com", "btopenworld.com", "sky.com", "virginmedia.com", "ntlworld.com",
          "blueyonder.co.uk", "talktalk.net", "tiscali.co.uk", "gmx.com", "gmx.co.uk", "protonmail.com",
          "proton.me", "nhs.net")
CHECKED = "email_checked"  # the form's field saying "keep the address as I typed it"
TWO_FROM = 8  # the shortest domain that may be two letters out
QUESTION = N_("Did you mean %(better)s? If so, change it. If not, send the form again to keep what you typed")


def distance(a: str, b: str, most: int = 2) -> int:
    """Letters added, removed, changed or two side by side swapped to make `a` into `b` (more than `most`: most + 1)."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        now = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            now[j] = min(row[j] + 1, now[j - 1] + 1, row[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                now[j] = min(now[j], before[j - 2] + 1)
        before, row = row, now
    return min(row[-1], most + 1)


def suggestion(address: str) -> str | None:
    """`address` with its domain put right if it looks like a slip in a common one; None if it doesn't."""
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    if not at or not local or domain in COMMON:
        return None
    best = min(COMMON, key=lambda known: distance(domain, known))  # (the first in COMMON of two as close)
    gap = distance(domain, best)
    if gap == 1 or (gap == 2 and len(domain) >= TWO_FROM and len(best) >= TWO_FROM):
        return f"{local}@{best}"
    return None


def question(better: str, words: Translator) -> str:
    """What the form asks about a suggested address, in the page's words."""
    return words.gettext(QUESTION) % {"better": better}
