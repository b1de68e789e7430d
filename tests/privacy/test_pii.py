"""The PII detectors against positive and negative fixtures (all values made up for the tests;
the card and IBAN numbers are the networks' and the standard's published test numbers)."""

from __future__ import annotations

import pytest

from harness.privacy.pii import contains_value, detect, iban_valid, luhn_valid, mask


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in detect(text)]


@pytest.mark.parametrize("text, expected", [
    ("write to dana.whitfield@larkspur-analytics.example today", [("email", "dana.whitfield@larkspur-analytics.example")]),
    ("cc: m.o+invoices@tidewater.co.uk.", [("email", "m.o+invoices@tidewater.co.uk")]),
    ("call (212) 555-0198 after nine", [("phone", "(212) 555-0198")]),
    ("ring +44 20 7946 0958 or 0117 496 0123", [("phone", "+44 20 7946 0958"), ("phone", "0117 496 0123")]),
    ("Visa 4111 1111 1111 1111 on file", [("card", "4111 1111 1111 1111")]),
    ("amex 3782-822463-10005 and mc 5555555555554444", [("card", "3782-822463-10005"), ("card", "5555555555554444")]),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", [("iban", "GB82 WEST 1234 5698 7654 32")]),
    ("pay DE89370400440532013000 now", [("iban", "DE89370400440532013000")]),
    ("SSN 219-09-9999 on the form", [("national_id", "219-09-9999")]),
    ("NI number AB 12 34 56 C.", [("national_id", "AB 12 34 56 C")]),
    ("from 192.168.1.20 and 2001:db8::ff00:42:8329", [("ip", "192.168.1.20"), ("ip", "2001:db8::ff00:42:8329")]),
    ("She lives at 42 Juniper Hill Road, Leeds LS6 2QR.", [("address", "42 Juniper Hill Road"), ("address", "LS6 2QR")]),
    ("PO Box 11, Orlando, FL 32801-1234 USA", [("address", "Orlando, FL 32801-1234")]),
])
def test_detects_each_kind(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112",  # fails Luhn
    "order 1234 5678 9012 3456",  # fails Luhn
    "id 1111 1111 1111 1117",  # passes Luhn, but no card network starts with 1
    "GB82 WEST 1234 5698 7654 33",  # fails mod-97
    "999.1.1.1 and 10.0.0 and 10:30:00",  # not addresses
    "Python 3.11.7, section 4.2.1, PEP 8, the year 2024-01-02",
    "SSN 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567",  # never issued
    "NI QQ 12 34 56 C",  # a prefix HMRC never allocates
    "user@localhost and a..b@example.com and @handle",
    "it is 123-456-7890",  # not a valid US number (area codes never start with 1)
    "https://docs.python.org/3/library/os.html#os.path",
    "The function returns 42 values from the list.",
    "Sizes: Small, XL 12345 and Paris, FR 75001",  # XL and FR are no US state
])
def test_no_findings_on_negatives(text: str) -> None:
    assert detect(text) == []


def test_luhn_and_mod97_by_hand() -> None:
    # 79927398713: the Luhn example of ISO/IEC 7812-1 (sum of doubled digits = 70).
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    # GB82WEST12345698765432 -> WEST12345698765432GB82 -> letters to numbers, mod 97 = 1.
    assert int("3214282912345698765432161182") % 97 == 1
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765431")


def test_overlap_goes_to_the_stronger_kind_and_mask_replaces_spans() -> None:
    text = "card 4111-1111-1111-1111, mail a@b.co"
    assert kinds(text) == [("card", "4111-1111-1111-1111"), ("email", "a@b.co")]
    assert mask(text) == "card [CARD], mail [EMAIL]"
    assert mask("nothing here") == "nothing here"


def test_contains_value_accepts_other_spellings_of_the_same_value() -> None:
    assert contains_value("call +1 212-555-0198", "phone", "(212) 555 0198")
    assert not contains_value("call +1 212-555-0199", "phone", "(212) 555 0198")
    assert contains_value("card 4111111111111111.", "card", "4111 1111 1111 1111")
    assert contains_value("Mail: Dana.Whitfield@Larkspur.example", "email", "dana.whitfield@larkspur.example")
    assert not contains_value("mail dana@larkspur.example", "email", "dana.whitfield@larkspur.example")
