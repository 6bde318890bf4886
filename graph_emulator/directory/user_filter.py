"""`$filter` on users: the part of OData this service needs, parsed by a real tokenizer (no eval, no regex tricks).

`prop eq 'v'`, `prop in ('a','b')`, `startswith(prop,'v')`, `otherMails/any(x:x eq 'v')`
(or startswith on x), joined by and/or (and binds tighter) with parentheses.
Keywords and names in any case, strings compared case-insensitively, as Entra
does; a quote inside a literal is doubled. Anything else is Graph's 400.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graph_emulator.core.errors import GraphFault

__all__ = ["Predicate", "compile_user_filter"]

Predicate = Callable[[Mapping[str, Any]], bool]

_FILTERABLE = {name.casefold(): (name, ops) for name, ops in [
    ("id", {"eq"}), ("userType", {"eq"}), ("externalUserState", {"eq"}), ("creationType", {"eq"}),
    ("mail", {"eq", "startswith"}), ("userPrincipalName", {"eq", "startswith"}),
    ("displayName", {"eq", "startswith"}), ("otherMails", {"any"})]}
_ANY_OPS = {"eq", "startswith"}  # on the items of otherMails
_ADVANCED_ONLY = {"ne", "not", "endswith"}  # Graph wants ConsistencyLevel: eventual and $count=true for these
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le", "has", "in"}
_FUNCTIONS = {"contains", "endswith", "startswith", "length", "indexof", "substring", "tolower", "toupper", "trim",
              "concat", "year", "month", "day", "hour", "minute", "second", "date", "time", "now", "round",
              "floor", "ceiling", "cast", "isof", "matchespattern"}


def _invalid(detail: str) -> GraphFault:
    return GraphFault(400, "BadRequest", f"Invalid filter clause: {detail}")


def _unsupported(prop: str) -> GraphFault:
    return GraphFault(400, "Request_UnsupportedQuery",
                      f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'.")


def _advanced_only(operator: str) -> GraphFault:
    return GraphFault(400, "Request_UnsupportedQuery",
                      f"Operator '{operator}' is not supported because the required parameters might be missing. "
                      "Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to "
                      "https://aka.ms/graph-docs/advanced-queries for more information")


@dataclass(frozen=True)
class _Token:
    kind: str  # name, string, number, end, or the symbol itself: ( ) , : /
    text: str  # a name, a string literal's value (quotes undone), a number, or the symbol
    at: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),:/":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch == "'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise _invalid(f"There is an unterminated string literal at position {n} in '{text}'.")
                if text[i] == "'":
                    if text[i + 1:i + 2] == "'":  # a doubled quote is one quote inside the literal
                        chars.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            tokens.append(_Token("string", "".join(chars), start))
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            start = i
            while i < n and text[i].isascii() and (text[i].isalnum() or text[i] == "_"):
                i += 1
            tokens.append(_Token("name", text[start:i], start))
        elif ch in "0123456789" or (ch == "-" and text[i + 1:i + 2].isdigit()):
            start, i = i, i + 1
            while i < n and text[i] in "0123456789.":
                i += 1
            tokens.append(_Token("number", text[start:i], start))
        else:
            raise _invalid(f"Syntax error: character '{ch}' is not valid at position {i} in '{text}'.")
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    """Recursive descent over the tokens, building the predicate as it goes (no eval anywhere)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Predicate:
        predicate = self.disjunction(None)
        if self.peek().kind != "end":
            raise self.syntax_error()
        return predicate

    # --- token helpers ---
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def expect(self, kind: str) -> _Token:
        if self.peek().kind != kind:
            raise self.syntax_error()
        return self.take()

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "name" and token.text.casefold() == word:
            self.take()
            return True
        return False

    def syntax_error(self) -> GraphFault:
        token = self.peek()
        if token.kind == "end":
            return _invalid(f"Expression expected at position {token.at} in '{self.text}'.")
        return _invalid(f"Syntax error at position {token.at} in '{self.text}'.")

    # --- grammar ---
    def disjunction(self, var: str | None) -> Predicate:
        parts = [self.conjunction(var)]
        while self.keyword("or"):
            parts.append(self.conjunction(var))
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self, var: str | None) -> Predicate:
        parts = [self.primary(var)]
        while self.keyword("and"):
            parts.append(self.primary(var))
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def primary(self, var: str | None) -> Predicate:
        token = self.peek()
        if token.kind == "(":
            self.take()
            inner = self.disjunction(var)
            self.expect(")")
            return inner
        if token.kind != "name":
            raise self.syntax_error()
        if token.text.casefold() == "not":
            raise _advanced_only("not")
        self.take()
        if self.peek().kind == "(":
            return self.function(token, var)
        if self.peek().kind == "/":
            return self.lambda_(token, var)
        return self.comparison(self.operand(token, var, "eq"), var)

    def operand(self, token: _Token, var: str | None, op: str) -> str:
        """The row key a name stands for, once `op` on it is known to be supported."""
        if var is not None:  # inside a lambda only its variable may be named, and only eq/in/startswith on it
            if token.text != var or op not in _ANY_OPS:
                raise _unsupported(token.text)
            return var
        known = _FILTERABLE.get(token.text.casefold())
        if known is None or op not in known[1]:
            raise _unsupported(known[0] if known else token.text)
        return known[0]

    def comparison(self, key: str, var: str | None) -> Predicate:
        op_token = self.peek()
        op = op_token.text.casefold() if op_token.kind == "name" else ""
        if op not in _COMPARISONS:
            raise self.syntax_error()
        self.take()
        if op in _ADVANCED_ONLY:
            raise _advanced_only(op)
        if op == "in":
            self.expect("(")
            values = [self.string_literal(key, op)]
            while self.peek().kind == ",":
                self.take()
                values.append(self.string_literal(key, op))
            self.expect(")")
        elif op == "eq":
            values = [self.string_literal(key, op)]
        else:
            raise _unsupported(key)
        wanted = {v.casefold() for v in values}
        return lambda row: isinstance(row.get(key), str) and row[key].casefold() in wanted

    def string_literal(self, subject: str, op: str) -> str:
        token = self.peek()
        if token.kind == "string":
            self.take()
            return token.text
        if token.kind == "number" or (token.kind == "name" and token.text.casefold() in ("true", "false")):
            kind = "Edm.Int32" if token.kind == "number" else "Edm.Boolean"
            operator = {"eq": "Equal", "in": "In"}.get(op, op)
            raise _invalid(f"A binary operator with incompatible types was detected. Found operand types "
                           f"'Edm.String' and '{kind}' for operator kind '{operator}'.")
        if token.kind == "name" and token.text.casefold() == "null":  # null tests need advanced queries
            raise _unsupported(subject)
        raise self.syntax_error()

    def function(self, name: _Token, var: str | None) -> Predicate:
        fn = name.text.casefold()
        if fn not in _FUNCTIONS:
            raise _invalid(f"An unknown function with name '{name.text}' was found. This may also be a function "
                           "import or a key lookup on a navigation property, which is not allowed.")
        if fn in _ADVANCED_ONLY:
            raise _advanced_only(name.text)
        self.expect("(")
        subject = self.expect("name")
        key = self.operand(subject, var, fn if fn == "startswith" else "unsupported")
        self.expect(",")
        prefix = self.string_literal(key, "startsWith").casefold()
        self.expect(")")
        return lambda row: isinstance(row.get(key), str) and row[key].casefold().startswith(prefix)

    def lambda_(self, collection: _Token, var: str | None) -> Predicate:
        self.expect("/")
        which = self.expect("name")
        if which.text.casefold() not in ("any", "all") or self.peek().kind != "(":
            raise _unsupported(f"{collection.text}/{which.text}")
        if var is not None or which.text.casefold() == "all":
            raise _unsupported(collection.text)
        key = self.operand(collection, None, "any")
        self.expect("(")
        inner_var = self.expect("name").text
        self.expect(":")
        body = self.disjunction(inner_var)
        self.expect(")")
        return lambda row: any(body({inner_var: item}) for item in row.get(key) or [])


def compile_user_filter(text: str) -> Predicate:
    """An OData `$filter` on users as a predicate over `User.filter_row()`, or GraphFault(400) as Graph answers.

    Text outside the grammar is Graph's `Invalid filter clause`; a supported
    shape on a property or operator Graph (by default) refuses is
    `Request_UnsupportedQuery`. A refused filter never matches anything.
    """
    return _Parser(text).parse()
