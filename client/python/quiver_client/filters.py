"""Filter expressions for Client.search(where=...): builders, and a parser of
the readable syntax `quiver search --filter` takes (client/filter.h is the
C++ original; both give the same quiver.v1.Filter).

    from quiver_client import filters as F

    where = F.parse('lang = "en" and year >= 2020 and tags contains "news"')
    where = F.and_(F.eq("lang", "en"), F.gte("year", 2020),
                   F.contains("tags", "news"))
    client.search("docs", q, k=10, where=where)

Syntax (keywords are case-insensitive):
    KEY = VALUE, KEY == VALUE, KEY != VALUE
    KEY < NUMBER, <=, >, >=
    KEY in [VALUE, ...], KEY not in [VALUE, ...]
    exists KEY, KEY exists, KEY contains "tag"
    not, and, or (in that precedence), parentheses, true, false
VALUE is a "string" (JSON escapes), an integer (int64), a number with a
'.' or an exponent (a double), true or false. KEY is
[A-Za-z_][A-Za-z0-9_.-]* (not a keyword) or `backquoted` (\\` and \\\\
escape). Limits: depth 16 (a comparison is 1), 256 nodes, 1,024 values in
a list. A bad expression raises FilterError (a ValueError) whose message
names the column: "at column 12: expected a value after '>=', ...". (Columns
count characters here, bytes in the C++ parser: they differ only after a
non-ASCII character.)

Attribute values (also for Client.upsert): str, int (int64), float, bool
and lists of str (tags).
"""

import json
import math
import numbers
import re

from quiver_client._proto import quiver_pb2 as pb

MAX_DEPTH = 16
MAX_NODES = 256
MAX_IN_SET = 1024

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_KEYWORDS = ("and", "or", "not", "in", "exists", "contains", "true", "false")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_MAX_NESTING = 4 * MAX_DEPTH


class FilterError(ValueError):
    """A filter expression that does not parse, or a filter over the
    limits. `column` is the 1-based column of the problem (0 when the
    limits of a built filter are the problem)."""

    def __init__(self, column, message):
        super().__init__(f"at column {column}: {message}" if column else
                         message)
        self.column = column


def value(v) -> "pb.Value":
    """A Python value as a quiver.v1.Value: str, bool, int (must fit int64),
    float, or a list/tuple of str (tags). TypeError / ValueError
    otherwise."""
    if isinstance(v, pb.Value):
        return v
    if isinstance(v, str):
        return pb.Value(string_value=v)
    if isinstance(v, bool) or type(v).__name__ == "bool_":  # numpy bool_
        return pb.Value(bool_value=bool(v))
    if isinstance(v, numbers.Integral):
        i = int(v)
        if not _INT64_MIN <= i <= _INT64_MAX:
            raise ValueError(f"integer {i} does not fit in int64")
        return pb.Value(int_value=i)
    if isinstance(v, numbers.Real):
        return pb.Value(double_value=float(v))
    if isinstance(v, (list, tuple)):
        if not all(isinstance(t, str) for t in v):
            raise TypeError("a tag list holds only str")
        return pb.Value(tags=pb.StringList(values=list(v)))
    raise TypeError(
        f"attribute values are str, int, float, bool or a list of str, not "
        f"{type(v).__name__}")


def from_value(v: "pb.Value"):
    """A quiver.v1.Value as a Python value (str, int, float, bool, list of
    str; None when unset)."""
    kind = v.WhichOneof("kind")
    if kind == "tags":
        return list(v.tags.values)
    return getattr(v, kind) if kind else None


def eq(key, v) -> "pb.Filter":
    return pb.Filter(eq=pb.Comparison(key=key, value=value(v)))


def ne(key, v) -> "pb.Filter":
    return pb.Filter(ne=pb.Comparison(key=key, value=value(v)))


def isin(key, values) -> "pb.Filter":
    return pb.Filter(in_set=pb.InSet(key=key,
                                     values=[value(v) for v in values]))


def _number(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"a range bound is a number, not {type(v).__name__}")
    return value(v)


def gt(key, v) -> "pb.Filter":
    return pb.Filter(range=pb.Range(key=key, gt=_number(v)))


def gte(key, v) -> "pb.Filter":
    return pb.Filter(range=pb.Range(key=key, gte=_number(v)))


def lt(key, v) -> "pb.Filter":
    return pb.Filter(range=pb.Range(key=key, lt=_number(v)))


def lte(key, v) -> "pb.Filter":
    return pb.Filter(range=pb.Range(key=key, lte=_number(v)))


def exists(key) -> "pb.Filter":
    return pb.Filter(exists=key)


def contains(key, tag) -> "pb.Filter":
    if not isinstance(tag, str):
        raise TypeError("contains takes a str")
    return pb.Filter(contains=pb.Comparison(key=key, value=value(tag)))


def and_(*filters) -> "pb.Filter":
    return pb.Filter(all=pb.FilterList(filters=list(filters)))


def or_(*filters) -> "pb.Filter":
    return pb.Filter(any=pb.FilterList(filters=list(filters)))


def not_(f) -> "pb.Filter":
    return pb.Filter(negate=f)


def check_limits(f: "pb.Filter") -> None:
    """Raises FilterError when `f` nests deeper than MAX_DEPTH, has more
    than MAX_NODES nodes or an in-list of more than MAX_IN_SET values."""
    nodes = 0
    stack = [(f, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise FilterError(0, f"the filter nests deeper than {MAX_DEPTH} "
                                 "levels (the limit)")
        if nodes > MAX_NODES:
            raise FilterError(0, f"the filter has more than {MAX_NODES} "
                                 "parts (the limit)")
        op = node.WhichOneof("op")
        if op == "in_set" and len(node.in_set.values) > MAX_IN_SET:
            raise FilterError(0, f"an 'in' list of {len(node.in_set.values)} "
                                 f"values (the limit is {MAX_IN_SET})")
        if op in ("all", "any"):
            stack.extend((c, depth + 1) for c in getattr(node, op).filters)
        elif op == "negate":
            stack.append((node.negate, depth + 1))


# -- the parser ------------------------------------------------------------

class _Token:
    __slots__ = ("kind", "text", "column", "value")

    def __init__(self, kind, text, column, val=None):
        self.kind = kind      # end word key string number op ( ) [ ] ,
        self.text = text
        self.column = column
        self.value = val

    def is_(self, keyword):
        return self.kind == "word" and self.text.lower() == keyword

    def describe(self):
        if self.kind == "end":
            return "end of input"
        if self.kind == "string":
            return "the string " + _value_text(self.value)
        if self.kind == "key":
            return "the key " + key_text(self.text)
        return f"'{self.text}'"


class _Lexer:
    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.peeked = None

    def error(self, pos, message):
        return FilterError(pos + 1, message)

    def peek(self):
        if self.peeked is None:
            self.peeked = self._read()
        return self.peeked

    def next(self):
        t = self.peek()
        self.peeked = None
        return t

    def _read(self):
        s = self.text
        while self.pos < len(s) and s[self.pos] in " \t\n\r\f\v":
            self.pos += 1
        start = self.pos
        if start >= len(s):
            return _Token("end", "", start + 1)
        c = s[start]
        if c in "()[],":
            self.pos += 1
            return _Token(c, c, start + 1)
        if c == '"':
            return self._string()
        if c == "`":
            return self._key()
        if c in "=<>!":
            self.pos += 1
            if self.pos < len(s) and s[self.pos] == "=":
                self.pos += 1
            op = s[start:self.pos]
            if op == "!":
                raise self.error(start, "unexpected '!' (write 'not' or '!=')")
            return _Token("op", op, start + 1)
        if c in "&|":
            raise self.error(start, f"unexpected '{c}' (write "
                                    f"'{'and' if c == '&' else 'or'}')")
        if c == "'":
            raise self.error(start, 'strings take double quotes: "..."')
        if c == "-" or c.isdigit() and c.isascii():
            return self._number()
        m = _IDENT.match(s, start)
        if m:
            self.pos = m.end()
            return _Token("word", m.group(), start + 1)
        if ord(c) < 0x20 or ord(c) == 0x7F:
            raise self.error(start, f"unexpected byte 0x{ord(c):02x}")
        raise self.error(start, f"unexpected '{c}'")

    def _number(self):
        s, start = self.text, self.pos
        m = _NUMBER.match(s, start)
        if not m:
            raise self.error(start, "expected a digit after '-'")
        end = m.end()
        if m.group(1) is None and m.group(2) is None and end < len(s) and \
                s[end] == ".":
            raise self.error(end + 1, "expected a digit after '.'")
        if m.group(2) is None and end < len(s) and s[end] in "eE":
            at = end + 1
            if at < len(s) and s[at] in "+-":
                at += 1
            raise self.error(at, "expected a digit in the exponent")
        num = m.group()
        if end < len(s) and (s[end].isalnum() and s[end].isascii() or
                             s[end] in "_.-"):
            m2 = re.compile(r"[A-Za-z0-9_.\-]*").match(s, end)
            raise self.error(start, f"'{s[start:m2.end()]}' is not a number "
                                    "(a key starts with a letter or '_')")
        self.pos = end
        if m.group(1) is None and m.group(2) is None:
            i = int(num)
            if not _INT64_MIN <= i <= _INT64_MAX:
                raise self.error(start, f"integer {num} does not fit in 64 "
                                        f"bits (write it as a double: "
                                        f"{num}.0)")
            return _Token("number", num, start + 1, pb.Value(int_value=i))
        d = float(num)
        if math.isinf(d):
            raise self.error(start, f"number {num} is out of range")
        return _Token("number", num, start + 1, pb.Value(double_value=d))

    def _string(self):
        s, start = self.text, self.pos
        i = start + 1
        while True:
            if i >= len(s):
                raise self.error(start, "unterminated string (no closing "
                                        "'\"')")
            c = s[i]
            if c == '"':
                break
            if ord(c) < 0x20:
                raise self.error(i, f"control character 0x{ord(c):02x} in a "
                                    "string (write it as an escape such as "
                                    "\\n)")
            if c == "\\":
                if i + 1 >= len(s):
                    raise self.error(start, "unterminated string (no closing "
                                            "'\"')")
                e = s[i + 1]
                if e == "u":
                    if not re.fullmatch(r"[0-9A-Fa-f]{4}", s[i + 2:i + 6]):
                        raise self.error(i, "invalid \\u escape (need 4 hex "
                                            "digits)")
                    i += 6
                    continue
                if e not in '"\\/bfnrt':
                    raise self.error(i, f"invalid escape '\\{e}' in a string")
                i += 2
                continue
            i += 1
        self.pos = i + 1
        decoded = json.loads(s[start:i + 1])
        for j, ch in enumerate(decoded):
            if 0xD800 <= ord(ch) <= 0xDFFF:
                # json.loads keeps a lone surrogate; find its escape.
                k = s.lower().find("\\u" + f"{ord(ch):04x}", start)
                raise self.error(k if k >= 0 else start,
                                 "unpaired UTF-16 surrogate in \\u escape")
        return _Token("string", decoded, start + 1,
                      pb.Value(string_value=decoded))

    def _key(self):
        s, start = self.text, self.pos
        i = start + 1
        out = []
        while True:
            if i >= len(s):
                raise self.error(start, "unterminated key (no closing '`')")
            c = s[i]
            if c == "`":
                break
            if c == "\\" and i + 1 < len(s) and s[i + 1] in "`\\":
                out.append(s[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        self.pos = i + 1
        if not out:
            raise self.error(start, "empty key ``")
        return _Token("key", "".join(out), start + 1)


class _Parser:
    def __init__(self, text):
        self.lex = _Lexer(text)
        self.nodes = 0
        self.nesting = 0

    @staticmethod
    def error(token, message):
        return FilterError(token.column, message)

    def count(self, token):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(token, f"the filter has more than {MAX_NODES} "
                                    "parts (the limit)")

    def check_depth(self, token, depth):
        if depth > MAX_DEPTH:
            raise self.error(token, f"the filter nests deeper than "
                                    f"{MAX_DEPTH} levels (the limit)")

    def parse(self):
        first = self.lex.peek()
        if first.kind == "end":
            raise self.error(first, "empty filter")
        f, _ = self.chain("or", "any", self.parse_and)
        end = self.lex.next()
        if end.kind != "end":
            raise self.error(end, "expected 'and', 'or' or the end, found "
                                  f"{end.describe()}")
        return f

    def parse_and(self):
        return self.chain("and", "all", self.parse_not)

    def chain(self, word, field, sub):
        first, depth = sub()
        op = self.lex.peek()
        if not op.is_(word):
            return first, depth
        self.count(op)
        members = [first]
        while self.lex.peek().is_(word):
            self.lex.next()
            after = self.lex.peek()
            if after.kind == "end":
                raise self.error(after, f"expected a condition after "
                                        f"'{word}', found end of input")
            f, d = sub()
            depth = max(depth, d)
            members.append(f)
        self.check_depth(op, depth + 1)
        return pb.Filter(**{field: pb.FilterList(filters=members)}), depth + 1

    def parse_not(self):
        if not self.lex.peek().is_("not"):
            return self.primary()
        op = self.lex.next()
        self.count(op)
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise self.error(op, "the filter nests too deeply")
        after = self.lex.peek()
        if after.kind == "end":
            raise self.error(after, "expected a condition after 'not', found "
                                    "end of input")
        inner, depth = self.parse_not()
        self.nesting -= 1
        self.check_depth(op, depth + 1)
        return pb.Filter(negate=inner), depth + 1

    def key(self, after):
        t = self.lex.next()
        if t.kind == "key":
            return t.text
        if t.kind == "word" and t.text.lower() not in _KEYWORDS:
            return t.text
        if t.kind == "word":
            raise self.error(t, f"expected a key{after}, found the keyword "
                                f"'{t.text}' (a key named so needs "
                                f"backquotes: `{t.text}`)")
        raise self.error(t, f"expected a key{after}, found {t.describe()}")

    def value(self, op):
        t = self.lex.next()
        if t.kind in ("string", "number"):
            return t
        if t.is_("true") or t.is_("false"):
            t.value = pb.Value(bool_value=t.is_("true"))
            return t
        hint = ""
        if t.kind == "word" and t.text.lower() not in _KEYWORDS:
            hint = f' (strings take double quotes: "{t.text}")'
        raise self.error(t, f"expected a value after '{op}', found "
                            f"{t.describe()}{hint}")

    def primary(self):
        t = self.lex.peek()
        if t.kind == "(":
            self.lex.next()
            self.nesting += 1
            if self.nesting > _MAX_NESTING:
                raise self.error(t, "the filter nests too deeply")
            inner = self.chain("or", "any", self.parse_and)
            self.nesting -= 1
            close = self.lex.next()
            if close.kind != ")":
                raise self.error(close, f"expected ')' to close the '(' at "
                                        f"column {t.column}, found "
                                        f"{close.describe()}")
            return inner
        if t.is_("true") or t.is_("false"):
            self.lex.next()
            self.count(t)
            if t.is_("true"):
                return pb.Filter(all=pb.FilterList()), 1
            return pb.Filter(any=pb.FilterList()), 1
        if t.is_("exists"):
            self.lex.next()
            k = self.key(" after 'exists'")
            self.count(t)
            return pb.Filter(exists=k), 1
        if t.kind == "end":
            raise self.error(t, "expected a condition, found end of input")
        if t.kind != "key" and (t.kind != "word" or
                                t.text.lower() in _KEYWORDS):
            raise self.error(t, 'expected a condition (such as key = '
                                f'"value"), found {t.describe()}')
        k = self.key("")
        op = self.lex.next()
        self.count(op)
        if op.is_("exists"):
            return pb.Filter(exists=k), 1
        if op.is_("contains"):
            v = self.value("contains")
            if v.kind != "string":
                raise self.error(v, "'contains' takes a string, found "
                                    f"{v.describe()}")
            return pb.Filter(contains=pb.Comparison(key=k, value=v.value)), 1
        negated = False
        word = op
        if op.is_("not"):
            word = self.lex.next()
            if not word.is_("in"):
                raise self.error(word, f"expected 'in' after '{k} not', "
                                       f"found {word.describe()}")
            negated = True
        if word.is_("in"):
            opened = self.lex.next()
            if opened.kind != "[":
                raise self.error(opened, "expected '[' after 'in', found "
                                         f"{opened.describe()}")
            values = []
            if self.lex.peek().kind == "]":
                self.lex.next()
            else:
                while True:
                    v = self.value("[" if not values else ",")
                    if len(values) >= MAX_IN_SET:
                        raise self.error(v, f"more than {MAX_IN_SET} values "
                                            "in a list (the limit)")
                    values.append(v.value)
                    sep = self.lex.next()
                    if sep.kind == "]":
                        break
                    if sep.kind != ",":
                        raise self.error(sep, "expected ',' or ']' in the "
                                              "list opened at column "
                                              f"{opened.column}, found "
                                              f"{sep.describe()}")
            f = pb.Filter(in_set=pb.InSet(key=k, values=values))
            if negated:
                self.count(op)
                return pb.Filter(negate=f), 2
            return f, 1
        if op.kind != "op":
            raise self.error(op, f"expected an operator after the key "
                                 f"{key_text(k)} (= != < <= > >= in contains "
                                 f"exists), found {op.describe()}")
        v = self.value(op.text)
        if op.text in ("=", "==", "!="):
            c = pb.Comparison(key=k, value=v.value)
            return (pb.Filter(ne=c) if op.text == "!=" else
                    pb.Filter(eq=c)), 1
        if v.kind != "number":
            raise self.error(v, f"'{op.text}' compares numbers, found "
                                f"{v.describe()}")
        bound = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op.text]
        return pb.Filter(range=pb.Range(key=k, **{bound: v.value})), 1


def parse(text: str) -> "pb.Filter":
    """Parses a filter expression (the syntax above) into a
    quiver.v1.Filter. FilterError (a ValueError) names the column of the
    problem."""
    if not isinstance(text, str):
        raise TypeError("a filter expression is a str")
    return _Parser(text).parse()


# -- the printer -----------------------------------------------------------

def key_text(key: str) -> str:
    """A key as the syntax writes it: bare, or backquoted."""
    if _IDENT.fullmatch(key) and key.lower() not in _KEYWORDS:
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _value_text(v: "pb.Value") -> str:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        out = []
        for c in v.string_value:
            if c == '"':
                out.append('\\"')
            elif c == "\\":
                out.append("\\\\")
            elif c == "\n":
                out.append("\\n")
            elif c == "\r":
                out.append("\\r")
            elif c == "\t":
                out.append("\\t")
            elif ord(c) < 0x20:
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        d = v.double_value
        if math.isnan(d):
            return "nan"
        if math.isinf(d):
            return "inf" if d > 0 else "-inf"
        r = repr(d)
        return r if ("." in r or "e" in r) else r + ".0"
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "tags":
        return "[" + ", ".join(_value_text(pb.Value(string_value=t))
                               for t in v.tags.values) + "]"
    return "<unset>"


_OR, _AND, _NOT, _PRIMARY = 1, 2, 3, 4


def _print(f):
    op = f.WhichOneof("op")
    if op in ("eq", "ne"):
        c = getattr(f, op)
        sym = " = " if op == "eq" else " != "
        return key_text(c.key) + sym + _value_text(c.value), _PRIMARY
    if op == "in_set":
        return (key_text(f.in_set.key) + " in [" +
                ", ".join(_value_text(v) for v in f.in_set.values) + "]",
                _PRIMARY)
    if op == "range":
        r = f.range
        k = key_text(r.key)
        parts = [f"{k} {sym} {_value_text(getattr(r, b))}"
                 for b, sym in (("gt", ">"), ("gte", ">="), ("lt", "<"),
                                ("lte", "<="))
                 if r.HasField(b)]
        if not parts:
            return f"<range on {k} without bounds>", _PRIMARY
        return " and ".join(parts), _AND if len(parts) > 1 else _PRIMARY
    if op == "exists":
        return "exists " + key_text(f.exists), _PRIMARY
    if op == "contains":
        return (key_text(f.contains.key) + " contains " +
                _value_text(f.contains.value), _PRIMARY)
    if op in ("all", "any"):
        members = getattr(f, op).filters
        if not members:
            return ("true" if op == "all" else "false"), _PRIMARY
        if len(members) == 1:
            return _print(members[0])
        need = _NOT if op == "all" else _AND
        parts = []
        for c in members:
            text, level = _print(c)
            same = c.WhichOneof("op") == op and len(getattr(c, op).filters) > 1
            parts.append(f"({text})" if same or level < need else text)
        return ((" and " if op == "all" else " or ").join(parts),
                _AND if op == "all" else _OR)
    if op == "negate":
        text, level = _print(f.negate)
        return "not " + (f"({text})" if level < _NOT else text), _NOT
    return "<empty filter>", _PRIMARY


def to_string(f: "pb.Filter") -> str:
    """The filter in the syntax above (parse(to_string(f)) == f for any
    filter parse made)."""
    return _print(f)[0]
