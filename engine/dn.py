"""Distinguished names (RFC 4514) as the engine writes, parses and compares them.

Directory groups are keyed by their DN, and the DN we build is rarely the DN a server
hands back: Samba escapes every `#` and writes `;`/`=` as `\\3B`/`\\3D`, slapd
hex-escapes `# , + " \\` (`\\23aws#a\\2Cb`), both restore the stored case of parent
RDNs and tolerate different spellings of the same name. Without one canonical form the
diff would see perpetual changes. ldap3's own helpers are not enough for this:
`ldap3.utils.dn.parse_dn` never unescapes (`\\2C` stays `\\2C`, UTF-8 hex pairs are not
decoded), rejects spaces after a `,`, and `escape_rdn` writes NUL raw, breaks on ""
and on a lone space. So this module has a small RFC 4514 reader and writer of its own.

Pure: no I/O, no imports from providers or sandbox.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "InvalidDnError",
    "build_dn",
    "dn_is_under",
    "escape_rdn_value",
    "normalize_dn",
    "parent_dn",
    "parse_dn",
    "parse_rdns",
    "rdn_value",
]

Ava = tuple[str, str]
"""One attribute type and value: `("cn", "Admin")`, type lower-cased, value unescaped."""

Rdn = tuple[Ava, ...]
"""One RDN: usually one AVA, several for a multi-valued RDN (`cn=a+uid=b`)."""

# Escaped anywhere in a value: RFC 4514's mandatory set plus `=`, which AD requires.
_ALWAYS_ESCAPED = frozenset('\\,+"<>;=')
_HEX = frozenset("0123456789abcdefABCDEF")
_DESCR = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_NUMERICOID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+\Z")

# Long names and OIDs servers may use for the types that appear in our DNs.
_TYPE_ALIASES = {
    "commonname": "cn",
    "2.5.4.3": "cn",
    "organizationalunitname": "ou",
    "2.5.4.11": "ou",
    "organizationname": "o",
    "2.5.4.10": "o",
    "domaincomponent": "dc",
    "0.9.2342.19200300.100.1.25": "dc",
    "userid": "uid",
    "0.9.2342.19200300.100.1.1": "uid",
}

# BER tags of string types a `#hexstring` value may carry (RFC 4514 2.4).
_BER_STRING_TAGS = frozenset({0x04, 0x0C, 0x13, 0x16, 0x1E})


class InvalidDnError(ValueError):
    """A string that is not a DN, or a value that cannot be put in one."""


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use in an RDN (RFC 4514 2.4, AD's rules).

    `#` is escaped only as the first character and a space only at either end, as AD
    and slapd expect; control characters are hex-escaped (`\\00`) so a DN never carries
    a raw NUL or newline.
    """
    last = len(value) - 1
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch in _ALWAYS_ESCAPED or (ch == "#" and i == 0) or (ch == " " and i in (0, last)):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


def build_dn(*, cn: str, parent: str) -> str:
    """`CN=<escaped cn>,<parent>`; the parent must be a valid DN and is kept as given."""
    if not cn:
        raise InvalidDnError("empty cn")
    if not parse_rdns(parent):
        raise InvalidDnError("empty parent DN")
    return f"CN={escape_rdn_value(cn)},{parent.strip()}"


def parse_rdns(dn: str) -> tuple[Rdn, ...]:
    """Split a DN into RDNs, leftmost first, each a tuple of unescaped AVAs.

    Accepts what servers and people write: spaces around `,` `+` `=`, hex escapes
    (`\\2C`, multi-byte UTF-8 `\\C3\\BC`), `\\`-escaped specials, `#hexstring` values of
    BER string types. The empty DN (the root) gives `()`.
    """
    return _Reader(dn).read()


def parse_dn(dn: str) -> tuple[Ava, ...]:
    """The DN's AVAs in order, leftmost first: `(("cn", "a,b"), ("ou", "x"), …)`.

    A multi-valued RDN contributes each of its AVAs in turn; use `parse_rdns` where RDN
    boundaries matter.
    """
    return tuple(ava for rdn in parse_rdns(dn) for ava in rdn)


# Directories repeat the same member DNs across thousands of groups; normalizing each
# once keeps a reference-size read from spending most of its time here.
@lru_cache(maxsize=1 << 17)
def normalize_dn(dn: str) -> str:
    """Canonical form of a DN, used as the natural key of directory objects.

    Types lower-cased (and aliased: `commonName` → `cn`), values NFC-normalized and
    case-folded, escapes canonical (`escape_rdn_value`), no spaces around separators,
    AVAs of a multi-valued RDN sorted. Two spellings of the same DN normalize equal.
    """
    return ",".join(_format_rdn(rdn, fold=True) for rdn in parse_rdns(dn))


def dn_is_under(dn: str, *, base: str) -> bool:
    """Whether `dn` lies strictly below `base` (a descendant, not `base` itself)."""
    rdns = [_format_rdn(rdn, fold=True) for rdn in parse_rdns(dn)]
    base_rdns = [_format_rdn(rdn, fold=True) for rdn in parse_rdns(base)]
    if len(rdns) <= len(base_rdns):
        return False
    return not base_rdns or rdns[-len(base_rdns) :] == base_rdns


def rdn_value(dn: str) -> str:
    """The unescaped value of the DN's first AVA: the group name of `CN=name,OU=…`."""
    rdns = parse_rdns(dn)
    if not rdns:
        raise InvalidDnError("the empty DN has no RDN")
    return rdns[0][0][1]


def parent_dn(dn: str) -> str:
    """The DN without its first RDN, in canonical escaping but original case."""
    rdns = parse_rdns(dn)
    if not rdns:
        raise InvalidDnError("the empty DN has no parent")
    return ",".join(_format_rdn(rdn, fold=False) for rdn in rdns[1:])


def _fold(value: str) -> str:
    # NFC first so composed and decomposed spellings meet; casefold (not lower) so that
    # e.g. "ß" and "SS" compare equal as a case-insensitive server would.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


def _format_rdn(rdn: Rdn, *, fold: bool) -> str:
    parts = [f"{t}={escape_rdn_value(_fold(v) if fold else v)}" for t, v in rdn]
    return "+".join(sorted(parts) if fold else parts)


class _Reader:
    """A single-pass RFC 4514 reader with the leniency real servers need."""

    def __init__(self, dn: str) -> None:
        self.s = dn
        self.i = 0

    def read(self) -> tuple[Rdn, ...]:
        if not self.s.strip(" "):
            return ()
        rdns: list[Rdn] = []
        avas: list[Ava] = []
        while True:
            avas.append(self._ava())
            sep = self._peek()
            if sep is None:
                rdns.append(tuple(avas))
                return tuple(rdns)
            self.i += 1
            if sep == ",":
                rdns.append(tuple(avas))
                avas = []

    def _peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def _skip_spaces(self) -> None:
        while self._peek() == " ":
            self.i += 1

    def _fail(self, why: str) -> InvalidDnError:
        return InvalidDnError(f"invalid DN {self.s!r} at {self.i}: {why}")

    def _ava(self) -> Ava:
        self._skip_spaces()
        start = self.i
        while (ch := self._peek()) is not None and ch not in "=,+":
            self.i += 1
        if self._peek() != "=":
            raise self._fail("attribute type without '='")
        attr = self.s[start : self.i].strip(" ")
        if not (_DESCR.match(attr) or _NUMERICOID.match(attr)):
            raise self._fail(f"bad attribute type {attr!r}")
        self.i += 1
        self._skip_spaces()
        attr = attr.lower()
        attr = _TYPE_ALIASES.get(attr, attr)
        value = self._hexstring() if self._peek() == "#" else self._string()
        return attr, value

    def _hexstring(self) -> str:
        self.i += 1
        start = self.i
        while (ch := self._peek()) is not None and ch in _HEX:
            self.i += 1
        raw = self.s[start : self.i]
        self._skip_spaces()
        if self._peek() not in (None, ",", "+") or not raw or len(raw) % 2:
            raise self._fail("bad #hexstring value")
        ber = bytes.fromhex(raw)
        # Short-form BER only: a string of a known type with a length < 128.
        if len(ber) < 2 or ber[0] not in _BER_STRING_TAGS or ber[1] != len(ber) - 2:
            raise self._fail("#hexstring is not a short BER string")
        try:
            return ber[2:].decode("utf-16-be" if ber[0] == 0x1E else "utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail("#hexstring is not valid text") from exc

    def _string(self) -> str:
        out: list[str] = []
        pending = bytearray()  # consecutive \XX escapes form one UTF-8 sequence
        significant = 0  # length of `out` up to the last char that is not a trailing space

        def flush() -> None:
            nonlocal significant
            if pending:
                try:
                    out.append(pending.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise self._fail("hex escapes are not valid UTF-8") from exc
                pending.clear()
                significant = len(out)

        while (ch := self._peek()) is not None and ch not in ",+":
            if ch == "\\":
                pair = self.s[self.i + 1 : self.i + 3]
                if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
                    pending.append(int(pair, 16))
                    self.i += 3
                    continue
                if self.i + 1 >= len(self.s):
                    raise self._fail("dangling '\\'")
                flush()
                out.append(self.s[self.i + 1])
                significant = len(out)
                self.i += 2
                continue
            flush()
            out.append(ch)
            if ch != " ":
                significant = len(out)
            self.i += 1
        flush()
        # Unescaped trailing spaces are not part of the value (RFC 4514 2.4).
        return "".join(out[:significant])
