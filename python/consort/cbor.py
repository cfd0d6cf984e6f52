"""A strict CBOR (RFC 8949) reader for what consort signs and verifies.

Definite lengths only (an indefinite-length item is refused), nesting at
most 32 levels, no bytes after the item. Maps keep their order and may not
repeat a key: they decode to a Map (a list of (key, value) pairs), so that a
caller can require keys in a fixed order. Byte strings decode to bytes, text
to str (valid UTF-8), tags to Tag, simple values to False/True/None/UNDEFINED,
floats to float. Encoding uses cbor2 (canonical).
"""

import struct

from .errors import ConsortError, ensure

MAX_DEPTH = 32


class Tag:
    __slots__ = ("tag", "value")

    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"Tag({self.tag}, {self.value!r})"


class Map(list):
    """A CBOR map: its (key, value) pairs in the order they were encoded."""

    def get(self, key, default=None):
        for k, v in self:
            if type(k) is type(key) and k == key:
                return v
        return default

    def keys(self):
        return [k for k, _ in self]


class _Undefined:
    def __repr__(self):
        return "UNDEFINED"


UNDEFINED = _Undefined()


class _Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, n):
        ensure(n <= len(self.data) - self.pos, "MALFORMED",
               f"CBOR: truncated: {n} bytes needed at offset {self.pos}, "
               f"{len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def head(self):
        ensure(self.pos < len(self.data), "MALFORMED", f"CBOR: input ends at offset {self.pos}")
        start = self.pos
        ib = self.take(1)[0]
        major, info = ib >> 5, ib & 0x1F
        if info < 24:
            arg = info
        elif info in (24, 25, 26, 27):
            arg = int.from_bytes(self.take(1 << (info - 24)), "big")
        elif info == 31:
            raise ConsortError("UNSUPPORTED",
                               f"CBOR: indefinite-length item at offset {start} not accepted")
        else:
            raise ConsortError("MALFORMED", f"CBOR: reserved additional info {info} "
                                            f"at offset {start}")
        return major, info, arg

    def item(self, depth=0):
        ensure(depth < MAX_DEPTH, "TOO_LARGE", f"CBOR: nesting deeper than {MAX_DEPTH}")
        major, info, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self.take(arg)
        if major == 3:
            raw = self.take(arg)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ConsortError("MALFORMED", "CBOR: text string is not UTF-8") from None
        if major == 4:
            ensure(arg <= len(self.data) - self.pos, "MALFORMED",
                   f"CBOR: array of {arg} items in {len(self.data) - self.pos} bytes")
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            ensure(arg <= len(self.data) - self.pos, "MALFORMED",
                   f"CBOR: map of {arg} pairs in {len(self.data) - self.pos} bytes")
            m, seen = Map(), set()
            for _ in range(arg):
                k = self.item(depth + 1)
                ensure(isinstance(k, (int, str, bytes)) and not isinstance(k, bool),
                       "MALFORMED", f"CBOR: map key of type {type(k).__name__}")
                ensure((type(k), k) not in seen, "MALFORMED", f"CBOR: duplicate map key {k!r}")
                seen.add((type(k), k))
                m.append((k, self.item(depth + 1)))
            return m
        if major == 6:
            return Tag(arg, self.item(depth + 1))
        # major 7
        if info < 24 or info == 24:
            if arg == 20:
                return False
            if arg == 21:
                return True
            if arg == 22:
                return None
            if arg == 23:
                return UNDEFINED
            raise ConsortError("MALFORMED", f"CBOR: simple value {arg}")
        if info == 25:
            return _half(arg)
        if info == 26:
            return struct.unpack(">f", arg.to_bytes(4, "big"))[0]
        return struct.unpack(">d", arg.to_bytes(8, "big"))[0]


def _half(h):
    exp, mant = (h >> 10) & 0x1F, h & 0x3FF
    if exp == 0:
        v = mant * 2.0 ** -24
    elif exp == 31:
        v = float("inf") if mant == 0 else float("nan")
    else:
        v = (mant + 1024) * 2.0 ** (exp - 25)
    return -v if h & 0x8000 else v


def loads(data):
    """Decodes exactly one CBOR item from data (no trailing bytes)."""
    r = _Reader(data)
    v = r.item()
    ensure(r.pos == len(r.data), "MALFORMED",
           f"CBOR: {len(r.data) - r.pos} bytes after the item")
    return v


def dumps(obj):
    """Encodes obj (canonical encoding, cbor2)."""
    import cbor2
    return cbor2.dumps(obj, canonical=True)


def member(m, i, want, what):
    """The value of member i of a decoded map (a list of pairs, in order),
    whose key must be the text `want`; MALFORMED naming `what` otherwise."""
    ensure(i < len(m) and isinstance(m[i][0], str) and m[i][0] == want, "MALFORMED",
           f"{what}: member {m[i][0] if i < len(m) else None!r} where \"{want}\" was expected")
    return m[i][1]


def digest32(v, what):
    """`v` if it is a 32-byte bstr; MALFORMED naming `what` otherwise."""
    ensure(isinstance(v, bytes) and len(v) == 32, "MALFORMED", f"{what} is not a 32-byte bstr")
    return v
