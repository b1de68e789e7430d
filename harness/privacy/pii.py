"""Detectors of personal data (PII) in text, and masking of what they find.

Offline and deterministic. Phone numbers: Google's libphonenumber (the `phonenumbers` port),
whose matcher finds numbers in running text and keeps only those valid for their region (US and
GB numbering plans, and any number written with its +country code). The rest are patterns with
the checks their formats carry: card numbers must pass the Luhn checksum and start like a card
network's number (3-6 for Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay; 2221-2720 for
Mastercard's 2-series); IBANs must pass ISO 13616's mod-97 check; IP addresses must parse with
the standard library's `ipaddress`; US social security numbers exclude the never-issued areas
(000, 666, 900-999), group 00 and serial 0000; UK National Insurance numbers exclude the prefixes
HMRC never allocates. Postal addresses: a house number followed by capitalised street words and a
street type (US and UK style), a US "City, ST 12345" line, or a UK postcode.

Presidio (presidio-analyzer) was not used: its AnalyzerEngine needs a spaCy language model, which
is downloaded from outside the package registries and so is not available offline; its pattern
recognisers are regexes plus the same checksums as here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

KINDS = ("email", "phone", "card", "iban", "national_id", "ip", "address")
# When two findings overlap, the one of the earlier kind here wins (a card number is not also a
# phone number).
PRIORITY = {kind: i for i, kind in enumerate(("card", "iban", "national_id", "email", "phone", "ip", "address"))}
PHONE_REGIONS = ("US", "GB")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


EMAIL = re.compile(r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
NINO = re.compile(r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
IPV6 = re.compile(r"(?<![:\w])(?:[0-9A-Fa-f]{1,4}:|:)(?::?[0-9A-Fa-f]{1,4}|:){1,7}(?![:\w])")
STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Close|Crescent|"
    "Square|Parkway|Pkwy|Highway|Hwy|Row|Gardens|Mews"
)
STREET = re.compile(rf"(?<![\w-])\d{{1,5}}[A-Za-z]?,? (?:[A-Z][a-z]+\.? ){{1,3}}(?:{STREET_TYPES})\b\.?")
US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    "OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)
US_CITY_ZIP = re.compile(rf"(?<![\w-])[A-Z][a-z]+(?: [A-Z][a-z]+){{0,2}}, (?:{US_STATES}) \d{{5}}(?:-\d{{4}})?(?![\w-])")
UK_POSTCODE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812: double every second digit from the right."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    if digits[0] in "3456":
        return True
    return digits[0] == "2" and 2221 <= int(digits[:4]) <= 2720


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97: move the first four characters to the end, letters to 10..35, remainder 1."""
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _ip_valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phones(text: str) -> Iterable[Finding]:
    import phonenumbers

    seen: set[tuple[int, int]] = set()
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if (m.start, m.end) not in seen:
                seen.add((m.start, m.end))
                yield Finding("phone", m.start, m.end, m.raw_string)


def _all_findings(text: str) -> Iterable[Finding]:
    for m in EMAIL.finditer(text):
        if ".." not in m.group():
            yield Finding("email", m.start(), m.end(), m.group())
    for m in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and card_prefix_ok(digits) and luhn_valid(digits):
            yield Finding("card", m.start(), m.end(), m.group())
    for m in IBAN.finditer(text):
        if iban_valid(m.group()):
            yield Finding("iban", m.start(), m.end(), m.group())
    for pattern in (SSN, NINO):
        for m in pattern.finditer(text):
            yield Finding("national_id", m.start(), m.end(), m.group())
    for pattern in (IPV4, IPV6):
        for m in pattern.finditer(text):
            if _ip_valid(m.group()):
                yield Finding("ip", m.start(), m.end(), m.group())
    for pattern in (STREET, US_CITY_ZIP, UK_POSTCODE):
        for m in pattern.finditer(text):
            yield Finding("address", m.start(), m.end(), m.group())
    yield from _phones(text)


def detect(text: str) -> list[Finding]:
    """Non-overlapping findings in text order; of overlapping ones, the higher-priority kind wins
    (then the longer span)."""
    return list(_detect(text))


@functools.lru_cache(maxsize=4096)  # the scorecard shows the same texts under several metrics
def _detect(text: str) -> tuple[Finding, ...]:
    ranked = sorted(_all_findings(text), key=lambda f: (PRIORITY[f.kind], -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return tuple(sorted(kept, key=lambda f: f.start))


def mask(text: str, findings: list[Finding] | None = None) -> str:
    """`text` with every detected span replaced by [KIND] (e.g. "[EMAIL]")."""
    findings = detect(text) if findings is None else findings
    out, at = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out.append(text[at : f.start])
        out.append(f"[{f.kind.upper()}]")
        at = f.end
    out.append(text[at:])
    return "".join(out)


def normalise(kind: str, value: str) -> str:
    """A value in the form two spellings of it share: digits only for numbers, lower case for
    emails and addresses, no spaces for IBANs and national ids."""
    if kind in ("phone", "card"):
        digits = re.sub(r"\D", "", value)
        return digits[-10:] if kind == "phone" else digits  # a phone's national part, with or without +1/+44
    if kind in ("iban", "national_id"):
        return re.sub(r"[\s-]", "", value).upper()
    return re.sub(r"\s+", " ", value).strip().lower()


def contains_value(text: str, kind: str, value: str) -> bool:
    """Whether `text` contains `value` (of PII kind `kind`) in any common spelling: a detected
    span of that kind that normalises to it, or the value's own characters."""
    want = normalise(kind, value)
    if any(f.kind == kind and normalise(kind, f.text) == want for f in detect(text)):
        return True
    if kind in ("phone", "card", "national_id", "iban"):
        squeezed = re.sub(r"[\s().-]", "", text).upper()
        return want.upper() in squeezed if want else False
    return want in re.sub(r"\s+", " ", text).lower()
