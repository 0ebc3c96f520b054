"""ingest.normalise: examples for each rule, and properties for all of them.

The properties are the contract the rest of Leadfarm leans on: no input string makes a
normaliser raise, and normalising a normalised value changes nothing (replays and backfills
re-run these functions over stored output).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from email_validator import ValidatedEmail, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.events import SourceClass
from ingest import normalise
from ingest.normalise import countries, domains, emails, names, phones, source_classes
from ingest.normalise.emails import EmailResult
from ingest.reference_data import COUNTRIES, COUNTRY_ALIASES

PROPERTY = settings(max_examples=200, deadline=None)

# --------------------------------------------------------------------------- strategies

# Everything st.text() leaves out by default too: lone surrogates, controls, format characters.
any_char = st.characters(exclude_categories=())
hostile_text = st.one_of(
    st.text(),
    st.text(any_char),
    st.text(st.sampled_from(" \t\n\r\x00\x1f\x7f\x85\xa0\u200b\u2028\ufeff\u0301\u0130ß'-,.@<>+")),
)
maybe_text = st.none() | hostile_text

_LOCAL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,15}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
_TLD = st.sampled_from(["com", "de", "co.uk", "io", "fr", "COM", "org", "xn--p1ai", "museum"])
hostnames = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLD
)
free_hosts = st.sampled_from(["gmail.com", "GMAIL.com", "yahoo.co.uk", "hotmail.fr", "gmx.de"])
plain_emails = st.builds(lambda local, host: f"{local}@{host}", _LOCAL, hostnames | free_hosts)
email_inputs = st.one_of(
    plain_emails,
    st.builds(lambda e: f"  {e.upper()} ", plain_emails),
    st.builds(
        lambda name, e: f"{name} <{e}>", st.sampled_from(["Jo", '"Smith, Jo"', ""]), plain_emails
    ),
    st.builds(lambda e: f"mailto:{e}?subject=hi", plain_emails),
    st.builds(lambda local, host: f"{local}@{host}", st.text(max_size=8), st.text(max_size=8)),
)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def phone_inputs(draw: st.DrawFn) -> tuple[str, str | None]:
    """Real example numbers of every region, written the ways people write them, next to
    random digit runs: the properties must hold on valid numbers, not only on garbage."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from(list(phonenumbers.PhoneNumberType.values())))
    example = phonenumbers.example_number_for_type(region, kind)
    if example is None or draw(st.booleans()):
        digits = draw(st.from_regex(r"\+?(00)?[0-9]{1,16}", fullmatch=True))
        written = draw(st.sampled_from(["{}", "({})", "{} ext. 12", " {}x9 "])).format(digits)
    else:
        style = draw(
            st.sampled_from(
                [
                    phonenumbers.PhoneNumberFormat.E164,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.RFC3966,
                ]
            )
        )
        written = phonenumbers.format_number(example, style)
        written = written.replace(" ", draw(st.sampled_from([" ", "-", ".", "/", ""])))
        if written.startswith("+") and draw(st.booleans()):
            written = "00" + written[1:]
    hint = draw(st.sampled_from([region, region.lower(), None, "zz", "Germany"]))
    return written, hint


_NAME_WORDS = st.sampled_from(
    [
        "jo",
        "smith",
        "mcdonald",
        "macdonald",
        "o'brien",
        "d\u2019angelo",
        "jean-luc",
        "van",
        "der",
        "de",
        "la",
        "y",
        "jr",
        "iii",
        "\u00df",
        "\u0131",
        "\u0130stanbul",
        "\u00e9mile",
        "\u0142ukasz",
        "\u00e6sir",
        "st.",
        "x,",
        "\u03b1\u03bb\u03ad\u03be\u03b1\u03bd\u03b4\u03c1\u03bf\u03c2",
        "\u5c71\u7530",
    ]
)
latin_names = st.builds(
    lambda words, case: case(" ".join(words)),
    st.lists(_NAME_WORDS | st.from_regex(r"[a-zA-Z'\-]{1,8}", fullmatch=True), max_size=5),
    st.sampled_from([str.lower, str.upper, str.title, str]),
)
name_inputs = st.none() | latin_names | hostile_text

_COUNTRY_SPELLINGS = sorted(
    {code for alpha2, alpha3, _ in COUNTRIES for code in (alpha2, alpha3)}
    | {name for _, _, country_names in COUNTRIES for name in country_names}
    | set(COUNTRY_ALIASES)
)
country_inputs = st.one_of(
    st.builds(
        lambda spelling, case: case(spelling),
        st.sampled_from(_COUNTRY_SPELLINGS),
        st.sampled_from([str.lower, str.upper, str]),
    ),
    hostile_text,
)

websites = st.one_of(
    hostnames,
    st.builds(
        lambda scheme, www, host, rest: f"{scheme}{www}{host}{rest}",
        st.sampled_from(["", "http://", "HTTPS://", "//", "https://user:pw@"]),
        st.sampled_from(["", "www.", "WWW.", "www.www."]),
        hostnames,
        st.sampled_from(["", "/", ":8080", "/path?q=1#x", "/company/acme"]),
    ),
    st.sampled_from(["n/a", "-", "none", "http://", "localhost", "1.2.3.4", "linkedin.com/in/jo"]),
    hostile_text,
)

SOURCE_CLASSES: list[SourceClass] = ["marketing", "events", "referrals", "rep_prospecting"]
source_words = st.sampled_from(
    [
        "Marketing",
        "events",
        "REFERRALS",
        "rep_prospecting",
        "marketing programs",
        "Trade Show",
        "webinar",
        "partner",
        "outbound",
        "cpc",
        "paid_social",
        "newsletter",
        "conference-booth",
        "customer-referral",
        "leads",
        "",
    ]
)
utm_maps = st.dictionaries(
    st.sampled_from(["utm_medium", "utm_source", "UTM_Medium", "utm_campaign"]),
    source_words | st.text(max_size=20),
    max_size=3,
)


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        (" \t\n\u00a0 ", None),
        ("  Acme \t GmbH\n", "Acme GmbH"),
        ("Acme\u00a0\u00a0Corp", "Acme Corp"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("bell\x07 and null\x00", "bell and null"),
        ("e\u0301", "\u00e9"),
        ("e\u200b\u0301", "\u00e9"),
    ],
)
def test_text(raw: str | None, expected: str | None) -> None:
    assert normalise.text(raw) == expected


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, EmailResult(None, None, ())),
        ("   ", EmailResult(None, None, ())),
        ("Jo.Smith@Acme.COM", EmailResult("jo.smith@acme.com", None, ())),
        ("  jo@acme.com\u200b ", EmailResult("jo@acme.com", None, ())),
        ("Jo Smith <Jo@Acme.com>", EmailResult("jo@acme.com", None, ())),
        ('"Smith, Jo" <jo@acme.com>', EmailResult("jo@acme.com", None, ())),
        ("<jo@acme.com>", EmailResult("jo@acme.com", None, ())),
        ("MAILTO:jo@acme.com?subject=Hello", EmailResult("jo@acme.com", None, ())),
        ("Jo@GMail.com", EmailResult("jo@gmail.com", None, ("free_mail",))),
        ("jo@yahoo.co.uk", EmailResult("jo@yahoo.co.uk", None, ("free_mail",))),
        ("jo@yahoo.mycorp.com", EmailResult("jo@yahoo.mycorp.com", None, ())),
        ("Info@Acme.com", EmailResult("info@acme.com", None, ("role_address",))),
        ("sales+eu@acme.com", EmailResult("sales+eu@acme.com", None, ("role_address",))),
        (
            "no-reply@gmail.com",
            EmailResult("no-reply@gmail.com", None, ("free_mail", "role_address")),
        ),
        ("J\u00f6@M\u00dcNCHEN.de", EmailResult("j\u00f6@m\u00fcnchen.de", None, ())),
        ("jo@xn--mnchen-3ya.de", EmailResult("jo@m\u00fcnchen.de", None, ())),
    ],
)
def test_email_examples(raw: str | None, expected: EmailResult) -> None:
    assert emails.email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["jo", "jo@", "@acme.com", "jo@@acme.com", "jo smith@acme.com", "jo@acme", "<>", "a" * 600],
)
def test_invalid_email_has_a_problem(raw: str) -> None:
    result = emails.email(raw)
    assert result.value is None
    assert result.problem
    assert result.flags == ()


# Addresses near the edges of the plain form: every atext character, dots where they may
# not be, long local parts, and domains email_validator refuses or rewrites.
_EDGY_LOCAL = st.text(st.sampled_from("aZ09_!#$%&'*+-/=?^`{|}~.\"@ ö"), min_size=0, max_size=70)
_EDGY_HOST = st.one_of(
    hostnames,
    st.sampled_from(
        [
            "localhost",
            "test",
            "acme.invalid",
            "a_b.com",
            "-acme.com",
            "acme-.com",
            "acme.com.",
            "xn--mnchen-3ya.de",
            "münchen.de",
            "1.2.3.4",
            "[1.2.3.4]",
            "acme..com",
            "co42.example",
            "ACME.COM",
            "a." + "b" * 63 + ".com",
            "a." + "b" * 64 + ".com",
            "x" * 250 + ".com",
            # A valid domain long enough that a short local part takes the address past
            # 254 characters.
            ".".join(["d" * 61] * 4),
        ]
    ),
)


@PROPERTY
@given(local=_EDGY_LOCAL | _LOCAL, host=_EDGY_HOST)
@example(local=".jo", host="acme.com")
@example(local="jo.", host="acme.com")
@example(local="j..o", host="acme.com")
@example(local="j o", host="acme.com")
@example(local="jo@x", host="acme.com")
@example(local='"jo"', host="acme.com")
@example(local="a" * 65, host="acme.com")
@example(local="ab", host=".".join(["d" * 61] * 4))
@example(local="{jo}|~'=?^`", host="acme.com")
def test_the_plain_path_settles_an_address_as_email_validator_does(local: str, host: str) -> None:
    current = emails._lower_nfc(f"{local}@{host}")
    assert emails._settled_address(current) == emails._settled_by_library(current)


def test_a_plain_address_at_a_known_domain_is_settled_without_email_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert emails.email("first@plain-path.example").value == "first@plain-path.example"
    calls: list[str] = []

    def counted(address: str, **options: Any) -> ValidatedEmail:
        calls.append(address)
        return validate_email(address, **options)

    monkeypatch.setattr(emails, "validate_email", counted)
    assert (
        emails.email("Second.One+x@Plain-Path.example").value == "second.one+x@plain-path.example"
    )
    assert calls == []
    assert emails.email("jö@plain-path.example").value == "jö@plain-path.example"
    assert calls == ["jö@plain-path.example"]  # not plain: email_validator decides


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("030 1234567", "de", "+49301234567"),
        ("030 1234567", "Germany", "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671 ext. 12", "us", "+14155552671"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("0049 30 1234567", None, "+49301234567"),
        ("0049 30 1234567", "US", "+49301234567"),
        ("0011 49 30 1234567", "AU", "+49301234567"),
        ("tel:+1-415-555-2671", None, "+14155552671"),
        ("+1 415 555 2671", "not a country", "+14155552671"),
        # Bare digits (a JSON number holds no "+" and no leading 0): the country code is there.
        ("4915112345678", None, "+4915112345678"),
        ("4915112345678", "DE", "+4915112345678"),
        ("442079460958", "US", "+442079460958"),
        ("2079460958", "GB", "+442079460958"),
        ("4155552671", "US", "+14155552671"),
    ],
)
def test_phone_examples(raw: str, hint: str | None, expected: str) -> None:
    assert phones.phone(raw, hint) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("12", None),
        ("12", "DE"),
        ("030 1234567", None),
        ("030 1234567", "XX"),
        ("call me maybe", "US"),
        ("+999 1234567", None),
        ("555-2671", "US"),
        ("1" * 300, "US"),
    ],
)
def test_unusable_phone_has_a_problem(raw: str, hint: str | None) -> None:
    value, problem = phones.phone(raw, hint)
    assert value is None
    assert problem


@pytest.mark.parametrize(
    ("raw", "hint"),
    [("+49 00522116", None), ("004623565908728590", "JP"), ("094161", "CC"), ("0039183", "AU")],
)
def test_numbers_phonenumbers_re_reads_differently_are_never_returned_unsettled(
    raw: str, hint: str | None
) -> None:
    """phonenumbers 9.0 formats these to an E.164 that parses to a different E.164 (it strips
    one more national prefix each time); phone() must only ever return a fixed point."""
    value, problem = phones.phone(raw, hint)
    assert (value is None) != (problem is None)
    if value is not None:
        assert phones.phone(value, None) == (value, None)


def test_phone_problems_say_what_is_wrong() -> None:
    assert phones.phone("12", None) == (
        None,
        "no international prefix (+ or 00) and no known country to read it by",
    )
    assert phones.phone("12", "DE") == (
        None,
        "too short: at most a local +49 number, without its area code",
    )
    assert phones.phone("+49 1", None) == (None, "too short to be a phone number")
    assert phones.phone("+1 415 555 26719", None) == (None, "too long for a +1 number")
    assert phones.phone("n/a", "US") == (None, "not a phone number")


def test_missing_phone_is_not_a_problem() -> None:
    assert phones.phone(None, "DE") == (None, None)
    assert phones.phone(" \n", "DE") == (None, None)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("   ", None),
        ("mcdonald", "McDonald"),
        ("MACDONALD", "Macdonald"),
        ("O'BRIEN", "O'Brien"),
        ("d'angelo", "D'Angelo"),
        ("o\u2019neil", "O\u2019Neil"),
        ("jean-luc", "Jean-Luc"),
        ("SMITH-JONES", "Smith-Jones"),
        ("Jean-luc", "Jean-luc"),
        ("DeShawn", "DeShawn"),
        ("ludwig van beethoven", "Ludwig van Beethoven"),
        ("MARIA DE LA CRUZ", "Maria de la Cruz"),
        ("van gogh", "Van Gogh"),
        ("thanh le", "Thanh Le"),
        ("martin luther king jr", "Martin Luther King Jr"),
        ("henry ford iii", "Henry Ford III"),
        ("\u00e9MILE ZOLA".upper(), "\u00c9mile Zola"),
        ("  Jo   Smith ", "Jo Smith"),
        ("\u0391\u039b\u0388\u039e\u0391\u039d\u0394\u03a1\u039f\u03a3", None),
        ("\u5c71\u7530\u592a\u90ce", None),
        ("\u0430\u043d\u043d\u0430 \u043a\u0430\u0440\u0435\u043d\u0438\u043d\u0430", None),
    ],
)
def test_person_name(raw: str | None, expected: str | None) -> None:
    """None as expected for a non-Latin name means: returned as typed, only cleaned."""
    assert names.person_name(raw) == (expected if expected else normalise.text(raw))


@pytest.mark.parametrize(
    ("first", "last", "full", "expected"),
    [
        (None, None, None, (None, None, None)),
        ("jo", "SMITH", None, ("Jo", "Smith", "Jo Smith")),
        ("Jo", None, None, ("Jo", None, "Jo")),
        (None, None, "  Jo   Smith ", ("Jo", "Smith", "Jo Smith")),
        (None, None, "ludwig van beethoven", ("Ludwig", "van Beethoven", "Ludwig van Beethoven")),
        (None, None, "Vincent Van Gogh", ("Vincent", "Van Gogh", "Vincent Van Gogh")),
        (None, None, "Smith, Jo", ("Jo", "Smith", "Smith, Jo")),
        (None, None, "SMITH, JO", ("Jo", "Smith", "Smith, Jo")),
        (None, None, "Madonna", ("Madonna", None, "Madonna")),
        (None, None, "Jo SMITH", ("Jo", "Smith", "Jo SMITH")),
        (None, None, "Martin Luther King Jr.", ("Martin Luther", "King Jr.", None)),
        (None, None, "\u5c71\u7530\u592a\u90ce", (None, None, "\u5c71\u7530\u592a\u90ce")),
        (None, None, "\u5c71\u7530 \u592a\u90ce", (None, None, "\u5c71\u7530 \u592a\u90ce")),
        ("Jo", None, "Jo Smith", ("Jo", None, "Jo Smith")),
    ],
)
def test_names(
    first: str | None,
    last: str | None,
    full: str | None,
    expected: tuple[str | None, str | None, str | None],
) -> None:
    got = names.names(first, last, full)
    assert got[:2] == expected[:2]
    assert got[2] == (expected[2] or normalise.text(full))


# --------------------------------------------------------------------------- country


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de", "DE"),
        ("DE", "DE"),
        (" deu ", "DE"),
        ("Germany", "DE"),
        ("GERMANY", "DE"),
        ("Deutschland", "DE"),
        ("united states", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("u.s.a.", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("gbr", "GB"),
        ("Espa\u00f1a", "ES"),
        ("espana", "ES"),
        ("Brasil", "BR"),
        ("The Netherlands", "NL"),
        ("Holland", "NL"),
        ("C\u00f4te d'Ivoire", "CI"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Russia", "RU"),
        ("Viet Nam", "VN"),
        ("Bosnia & Herzegovina", "BA"),
        (None, None),
        ("", None),
        ("xx", None),
        ("Atlantis", None),
        ("n/a", None),
        ("N.A.", None),
        ("NA", "NA"),
        ("-", None),
        ("\u0420\u043e\u0441\u0441\u0438\u044f", None),
    ],
)
def test_country(raw: str | None, expected: str | None) -> None:
    assert countries.country(raw) == expected


def test_every_iso_country_reads_from_each_of_its_forms() -> None:
    for alpha2, alpha3, country_names in COUNTRIES:
        for spelling in (alpha2, alpha2.lower(), alpha3, *country_names):
            assert countries.country(spelling) == alpha2, spelling


def test_every_alias_reads_as_its_country() -> None:
    """Also catches an alias that an ISO code or name silently shadows."""
    for alias, alpha2 in COUNTRY_ALIASES.items():
        assert countries.country(alias) == alpha2, alias


# --------------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    ("website", "email_address", "expected"),
    [
        ("acme.com", None, "acme.com"),
        ("https://user:pw@WWW.Acme.com:8080/path?q=1#top", None, "acme.com"),
        ("http://www.acme.co.uk/", None, "acme.co.uk"),
        ("www.www.acme.io", None, "acme.io"),
        ("//acme.io/about", None, "acme.io"),
        ("acme.com.", None, "acme.com"),
        ("www.com", None, "www.com"),
        ("xn--mnchen-3ya.de", None, "xn--mnchen-3ya.de"),
        (None, "jo@acme.com", "acme.com"),
        ("", "jo@Acme.COM", "acme.com"),
        ("n/a", "jo@acme.com", "acme.com"),
        (None, "jo@gmail.com", None),
        (None, "jo@yahoo.co.uk", None),
        ("https://www.linkedin.com/company/acme", "jo@acme.com", "acme.com"),
        ("linkedin.com", None, "linkedin.com"),
        ("n/a", None, None),
        ("-", None, None),
        ("none", None, None),
        ("http://", None, None),
        ("localhost", None, None),
        ("192.168.0.1", None, None),
        ("acme", None, None),
        ("acme..com", None, None),
        ("acme.com, acme.de", None, "acme.com"),
        (None, "Jo <jo@acme.com>", "acme.com"),
        (None, "not an email", None),
        (None, None, None),
    ],
)
def test_domain(website: str | None, email_address: str | None, expected: str | None) -> None:
    assert domains.domain(website, email_address) == expected


# --------------------------------------------------------------------------- source class


@pytest.mark.parametrize(
    ("explicit", "utm", "expected"),
    [
        ("events", {}, "events"),
        ("Rep_Prospecting", {"utm_medium": "cpc"}, "rep_prospecting"),
        ("marketing programs", {}, "marketing"),
        ("MARKETING_PROGRAMS", {}, "marketing"),
        ("Trade Show", {}, "events"),
        ("webinar", {}, "events"),
        ("Customer Referral", {}, "referrals"),
        ("partner", {}, "referrals"),
        ("outbound", {}, "rep_prospecting"),
        ("something else", {"utm_medium": "cpc"}, "marketing"),
        (None, {"utm_medium": "partner-portal"}, "referrals"),
        (None, {"utm_source": "referral"}, "referrals"),
        (None, {"utm_medium": "trade-show"}, "events"),
        (None, {"UTM_Medium": "Conference_Booth"}, "events"),
        (None, {"utm_medium": "paid_social"}, "marketing"),
        (None, {"utm_source": "newsletter"}, "marketing"),
        (None, {"utm_medium": "partner", "utm_source": "webinar"}, "referrals"),
        (None, {"utm_medium": "leads"}, "rep_prospecting"),
        (None, {"utm_campaign": "webinar"}, "rep_prospecting"),
        (None, {}, "rep_prospecting"),
    ],
)
def test_source_class(explicit: str | None, utm: dict[str, str], expected: SourceClass) -> None:
    assert source_classes.source_class(explicit, utm, "rep_prospecting") == expected


# --------------------------------------------------------------------------- totality


def test_huge_input_is_refused_quickly_not_raised() -> None:
    huge = "a" * 1_000_000 + "@acme.com"
    assert emails.email(huge).problem
    assert phones.phone("1" * 1_000_000, "US")[1]
    assert normalise.text(" x " * 100_000) is not None
    assert names.person_name("jo " * 100_000) is not None
    assert countries.country("Germany" * 100_000) is None
    assert domains.domain("acme.com/" + "x" * 1_000_000, None) is None
    assert source_classes.source_class("x" * 1_000_000, {"utm_medium": "y" * 10**6}, "events")


@PROPERTY
@given(raw=maybe_text, hint=maybe_text)
def test_no_string_makes_a_normaliser_raise(raw: str | None, hint: str | None) -> None:
    normalise.text(raw)
    emails.email(raw)
    phones.phone(raw, hint)
    names.person_name(raw)
    names.names(raw, hint, raw)
    names.names(None, None, raw)
    countries.country(raw)
    domains.domain(raw, hint)
    source_classes.source_class(raw, {"utm_medium": hint or "", "utm_source": raw or ""}, "events")


# --------------------------------------------------------------------------- idempotence


@PROPERTY
@given(raw=maybe_text)
def test_text_is_idempotent(raw: str | None) -> None:
    once = normalise.text(raw)
    assert normalise.text(once) == once


@PROPERTY
@given(raw=st.none() | email_inputs | hostile_text)
def test_email_is_idempotent(raw: str | None) -> None:
    once = emails.email(raw)
    assert (once.value is None) or (once.problem is None)
    if once.value is not None:
        assert emails.email(once.value) == once


@PROPERTY
@given(written=phone_inputs())
def test_phone_is_idempotent_on_plausible_numbers(written: tuple[str, str | None]) -> None:
    raw, hint = written
    once, problem = phones.phone(raw, hint)
    assert (once is None) != (problem is None)
    if once is not None:
        assert once.startswith("+")
        assert phones.phone(once, hint) == (once, None)
        assert phones.phone(once, None) == (once, None)


@PROPERTY
@given(raw=maybe_text, hint=st.none() | st.sampled_from(REGIONS) | hostile_text)
def test_phone_is_idempotent(raw: str | None, hint: str | None) -> None:
    once, _ = phones.phone(raw, hint)
    if once is not None:
        assert phones.phone(once, hint) == (once, None)


@PROPERTY
@given(raw=name_inputs)
def test_person_name_is_idempotent(raw: str | None) -> None:
    once = names.person_name(raw)
    assert names.person_name(once) == once


@PROPERTY
@given(first=name_inputs, last=name_inputs, full=name_inputs)
def test_names_is_idempotent(first: str | None, last: str | None, full: str | None) -> None:
    once = names.names(first, last, full)
    assert names.names(*once) == once


@PROPERTY
@given(full=name_inputs)
def test_names_splits_full_names_idempotently(full: str | None) -> None:
    once = names.names(None, None, full)
    assert names.names(*once) == once


@PROPERTY
@given(raw=st.none() | country_inputs)
def test_country_is_idempotent(raw: str | None) -> None:
    once = countries.country(raw)
    assert once is None or (len(once) == 2 and once.isupper())
    assert countries.country(once) == once


@PROPERTY
@given(website=st.none() | websites, address=st.none() | email_inputs | hostile_text)
def test_domain_is_idempotent(website: str | None, address: str | None) -> None:
    once = domains.domain(website, address)
    assert domains.domain(once, None) == once
    assert domains.domain(once, address) == once


@PROPERTY
@given(
    explicit=st.none() | source_words | hostile_text,
    utm=utm_maps,
    default=st.sampled_from(SOURCE_CLASSES),
)
def test_source_class_is_idempotent(
    explicit: str | None, utm: dict[str, str], default: SourceClass
) -> None:
    once = source_classes.source_class(explicit, utm, default)
    assert once in SOURCE_CLASSES
    assert source_classes.source_class(once, utm, default) == once
    assert source_classes.source_class(once, {}, "marketing") == once


def test_the_reference_tables_are_a_data_file_the_package_ships() -> None:
    """The tables live in ingest/data/ and pyproject's package-data installs them with
    ingest (a wheel without them would fail at import)."""
    package = Path(__file__).parents[3] / "ingest"
    shipped = tomllib.loads((package.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    patterns = [*shipped.get("*", []), *shipped.get("ingest", [])]
    data = sorted((package / "data").iterdir())
    assert data == [package / "data" / "reference.json"]
    installed = {path for pattern in patterns for path in package.glob(pattern)}
    assert set(data) <= installed, patterns
    assert len(COUNTRIES) == 249
    assert COUNTRY_ALIASES["Vereinigtes Königreich"] == "GB"
