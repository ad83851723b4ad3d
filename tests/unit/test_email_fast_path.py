"""The fast path for common addresses (values.plain_email) never answers otherwise than
email-validator: whatever it accepts, email-validator accepts and normalises to the same text;
everything else is left to email-validator (issue 23)."""

from __future__ import annotations

import email_validator
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactql.store.values import normalise_email, plain_email


def judged(raw: str) -> str | None:
    """email-validator's answer, as normalise_email would give it without the fast path."""
    try:
        return email_validator.validate_email(raw, check_deliverability=False).normalized.lower()
    except email_validator.EmailNotValidError:
        return None


LOCAL = st.text(alphabet="aZq09._+-!#'é ", max_size=70)
LABEL = st.text(alphabet="aZx09-_", max_size=66)
TOP = st.sampled_from(["com", "no", "io", "c", "co", "COM", "test", "local", "localhost", "onion", "arpa", "invalid", "123", "x1", "a" * 63, "a" * 64, "xn--p1ai", "ab--cd"])
ADDRESSES = st.builds(lambda local, labels, top: f"{local}@{'.'.join([*labels, top])}", LOCAL, st.lists(LABEL, max_size=4), TOP)
ANYTHING = st.text(alphabet="aZ09._+-@ \t\n!\"(),:;<>[\\]é\u00a0\u200b", max_size=90)


@settings(max_examples=4000, deadline=None)
@given(st.one_of(ADDRESSES, ANYTHING))
def test_whatever_the_fast_path_accepts_email_validator_accepts_the_same(raw: str) -> None:
    fast = plain_email(raw)
    if fast is not None:
        assert judged(raw) == fast, raw


@pytest.mark.parametrize(
    "raw",
    [
        "a" * 64 + "@example.com", "a" * 65 + "@example.com", "x@" + "a" * 63 + ".com", "x@" + "a" * 64 + ".com",
        "x@" + ".".join(["a" * 63] * 3) + ".com", "x@" + ".".join(["a" * 63] * 4) + ".com", ("a" * 64 + "@" + ".".join(["b" * 62] * 3) + ".com")[:255],
        "Kari@EXAMPLE.COM", "a.b@x.no", "a..b@x.no", ".a@x.no", "a.@x.no", "a@x", "a@x.test", "a@sub.localhost", "a@x.local", "a@x.123",
        "a@-x.no", "a@x-.no", "a@x--y.no", "a@xn--p1ai.no", "a+tag@x.no", "a_b-c@x-y.no", "é@x.no", "a@x.é", " a@x.no", "a@x.no ", "a b@x.no",
    ],
)
def test_the_edges(raw: str) -> None:
    fast = plain_email(raw)
    assert fast is None or judged(raw) == fast, raw
    assert (normalise_email(raw) if judged(raw) is not None else None) == judged(raw)


def test_common_addresses_take_the_fast_path() -> None:
    """The fast path is not a path nothing takes: generated addresses of the usual shape all do."""
    common = [f"{first}.{last}{n}+news@{host}.{top}" for n, (first, last, host, top) in enumerate(
        [("Kari", "Nordmann", "example", "com"), ("ola", "o-hansen", "mail-1", "no"), ("A_B", "c", "x.y", "io")] * 100
    )]  # fmt: skip
    assert all(plain_email(raw) == raw.lower() == judged(raw) for raw in common)
