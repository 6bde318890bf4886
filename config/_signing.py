"""How strong a signing key is: the checks COPROD_SIGNING_KEY must pass (config/_settings.py applies them)."""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise

__all__ = ["MIN_SIGNING_BITS", "MIN_SIGNING_KEY", "PLACEHOLDER_KEYS", "PLACEHOLDER_STEM", "contains", "entropy_bits",
           "guessing_bits", "repeats"]

MIN_SIGNING_KEY = 32  # characters
MIN_SIGNING_BITS = 100  # estimated entropy: 32 random hex digits give about 110, a word repeated far less
# Values the documentation shows as placeholders: a deployment that copied one has no secret at all.
PLACEHOLDER_KEYS = frozenset({"set-me-from-key-vault-at-least-16-characters",
                              "set-me-from-key-vault-at-least-32-random-characters"})
PLACEHOLDER_STEM = "set-me-from-key-vault"  # what every placeholder starts with: "...characters!" is no secret either
# Runs people type: the alphabet, the digits, keyboard rows. A character that carries one on (either way), or repeats
# the one before, is about a bit to someone guessing, however varied the key looks.
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_STEPS = frozenset(pair for run in _RUNS for a, b in pairwise(run) for pair in ((a, b), (b, a)))


def entropy_bits(text: str) -> float:
    """Shannon entropy of the characters as they occur, times the length: a rough count of a key's bits. A short
    sample shows fewer distinct characters than its source has, so the count is corrected up by (k - 1) / 2 ln 2
    bits for k distinct characters (Miller and Madow): without it a random 32-digit hex key (128 bits) was refused
    about once in 800."""
    counts = Counter(text)
    observed = -sum(n * math.log2(n / len(text)) for n in counts.values())
    return observed + (len(counts) - 1) / (2 * math.log(2))


def guessing_bits(text: str) -> float:
    """A key's bits as someone guessing would count them: each character one of the classes the key uses (a-z 26,
    A-Z 26, 0-9 10, anything else 33: a-z0-9 alone is 36, about 5.2 bits a character), except one that repeats or
    carries on a run from the character before (see _RUNS), about 1 bit."""
    classes = ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
    pool = sum(size for test, size in classes if any(c.isascii() and test(c) for c in text))
    pool += 33 if any(not (c.isascii() and c.isalnum()) for c in text) else 0
    each = math.log2(max(pool, 2))
    return each + sum(1.0 if a == b or (a.lower(), b.lower()) in _STEPS else each
                      for a, b in pairwise(text))


def contains(key: str, identifier: str) -> bool:
    """Whether a (case-folded) key is an id of the app or tenant, or has one in it (with or without its hyphens)."""
    known = identifier.strip().casefold()
    if not known:
        return False
    if key == known:
        return True
    return len(known) >= 8 and (known in key or known.replace("-", "") in key.replace("-", ""))


def repeats(text: str) -> bool:
    """A short pattern repeated (`abcabcabc...`): long, varied-looking, and guessable."""
    return any(text == (text[:size] * (len(text) // size + 1))[:len(text)] for size in range(1, len(text) // 2 + 1))
