"""Tests for KMS_AUTH attestation reports (ES256 JWTs)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.report import (
    REPORT_BAD_SIGNATURE,
    REPORT_EXPIRED,
    REPORT_GROUP_NOT_ACCEPTED,
    REPORT_MALFORMED,
    REPORT_NOT_YET_VALID,
    REPORT_REVOKED,
    REPORT_UNKNOWN_ISSUER,
    REPORT_WRONG_AUDIENCE,
    ReportClaims,
    ReportSigner,
    TrustedIssuer,
    b64url_decode,
    b64url_encode,
    canonical_json,
    decode_unverified,
    jwk_thumbprint,
    verify_report,
)

AUDIENCE = "kmxd"
GROUP = "vta-cluster-1"


def _key(n: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(0x1000 + n, ec.SECP256R1())


SIGNER = ReportSigner("attestd-1", GROUP, _key(1))
ISSUERS = {SIGNER.service_id: SIGNER.trusted_issuer()}


def _issue(signer: ReportSigner = SIGNER, **overrides: object) -> str:
    args: dict[str, object] = {
        "host_id": "esx-01",
        "image_id": "esxi-8.0u2-22380479",
        "audience": AUDIENCE,
        "issued_at": 100.0,
        "lifetime": 3600.0,
        "jti": "report-0001",
    }
    args.update(overrides)
    return signer.issue(**args)  # type: ignore[arg-type]


def _verify(token: str, now: float = 200.0, **kwargs: object) -> tuple[str, ...]:
    params: dict[str, object] = {
        "issuers": ISSUERS,
        "accepted_groups": {GROUP},
        "audience": AUDIENCE,
        "now": now,
    }
    params.update(kwargs)
    check = verify_report(token, **params)  # type: ignore[arg-type]
    assert check.ok == (not check.reasons)
    return check.reasons


def _segments(token: str) -> tuple[dict[str, object], dict[str, object], bytes]:
    head, body, sig = token.split(".")
    header = json.loads(b64url_decode(head) or b"")
    claims = json.loads(b64url_decode(body) or b"")
    return header, claims, b64url_decode(sig) or b""


def test_round_trip_returns_the_issued_claims() -> None:
    """A freshly issued report verifies and carries every claim it was issued with."""
    check = verify_report(_issue(), ISSUERS, {GROUP}, AUDIENCE, now=200.0)
    assert check.ok and check.reasons == ()
    claims = check.claims
    assert claims is not None
    assert (claims.issuer, claims.host_id, claims.audience) == ("attestd-1", "esx-01", ("kmxd",))
    assert (claims.issued_at, claims.not_before, claims.expires_at) == (100.0, 100.0, 3700.0)
    assert (claims.attested_at, claims.attested_until) == (100.0, 3700.0)
    assert (claims.jti, claims.group, claims.image_id) == (
        "report-0001",
        GROUP,
        "esxi-8.0u2-22380479",
    )


def test_token_has_standard_es256_shape() -> None:
    """Header is canonical {"alg","kid","typ"}, kid is the RFC 7638 thumbprint, sig is r||s."""
    token = _issue(issued_at=10.5, lifetime=0.25)
    head, body, _ = token.split(".")
    header, claims, signature = _segments(token)
    assert header == {"alg": "ES256", "kid": jwk_thumbprint(SIGNER.public_key), "typ": "JWT"}
    assert b64url_decode(head) == canonical_json(header)
    assert b64url_decode(body) == canonical_json(claims)
    assert "=" not in token and len(signature) == 64
    assert claims["iat"] == 10.5 and claims["exp"] == 10.75
    assert claims["attestedUntil"] == claims["exp"] and claims["attestedAt"] == claims["iat"]


def test_same_inputs_give_byte_identical_tokens() -> None:
    """Signing is deterministic (RFC 6979): same key and claims, same token string."""
    again = ReportSigner("attestd-1", GROUP, _key(1))
    assert _issue() == _issue() == _issue(again)
    assert _issue() != _issue(jti="report-0002")


def test_expired_at_and_after_exp() -> None:
    """A report is expired from exp on (now >= exp), and leeway extends it."""
    token = _issue()
    assert _verify(token, now=3699.999) == ()
    assert _verify(token, now=3700.0) == (REPORT_EXPIRED,)
    assert _verify(token, now=3705.0, leeway=10.0) == ()


def test_not_yet_valid_before_nbf() -> None:
    """A report used before its nbf is refused, unless within the leeway."""
    token = _issue(issued_at=500.0)
    assert _verify(token, now=499.0) == (REPORT_NOT_YET_VALID,)
    assert _verify(token, now=499.0, leeway=2.0) == ()
    assert _verify(token, now=500.0) == ()


def test_foreign_key_with_same_service_id_is_bad_signature() -> None:
    """An impostor signing as a trusted service id fails the signature check."""
    impostor = ReportSigner("attestd-1", GROUP, _key(2))
    check = verify_report(_issue(impostor), ISSUERS, {GROUP}, AUDIENCE, now=200.0)
    assert check.reasons == (REPORT_BAD_SIGNATURE,) and check.claims is None


def test_unknown_service_id_is_unknown_issuer() -> None:
    """A report from a service that is not trusted names an unknown issuer."""
    stranger = ReportSigner("attestd-9", GROUP, _key(3))
    assert _verify(_issue(stranger)) == (REPORT_UNKNOWN_ISSUER,)


def test_issuer_entry_must_name_the_same_service() -> None:
    """A trusted-issuer entry filed under another service id does not vouch for it."""
    misfiled = {"attestd-1": TrustedIssuer("attestd-2", GROUP, SIGNER.public_key)}
    assert _verify(_issue(), issuers=misfiled) == (REPORT_UNKNOWN_ISSUER,)


def test_group_must_be_accepted_and_match_the_issuer() -> None:
    """A report of a group the verifier does not accept, or not the issuer's group, fails."""
    assert _verify(_issue(), accepted_groups={"other-group"}) == (REPORT_GROUP_NOT_ACCEPTED,)
    wrong_group = ReportSigner("attestd-1", "other-group", _key(1))
    both = {GROUP, "other-group"}
    assert _verify(_issue(wrong_group), accepted_groups=both) == (REPORT_GROUP_NOT_ACCEPTED,)


def test_wrong_audience() -> None:
    """A report addressed to another verifier is refused."""
    assert _verify(_issue(audience="vcenter-7")) == (REPORT_WRONG_AUDIENCE,)


def test_revoked_report_and_reasons_are_collected() -> None:
    """A revoked jti is refused, and several claim failures are all reported."""
    assert _verify(_issue(), revoked={"report-0001"}) == (REPORT_REVOKED,)
    reasons = _verify(_issue(audience="x"), now=5000.0, revoked={"report-0001"}, accepted_groups=())
    assert reasons == (
        REPORT_GROUP_NOT_ACCEPTED,
        REPORT_WRONG_AUDIENCE,
        REPORT_EXPIRED,
        REPORT_REVOKED,
    )


def _forge(header: Mapping[str, object], token: str, signature: str = "") -> str:
    body = token.split(".")[1]
    return f"{b64url_encode(canonical_json(header))}.{body}.{signature}"


def test_alg_none_and_algorithm_confusion_are_malformed() -> None:
    """alg=none (unsigned) and alg=HS256 tokens are rejected before any key is used."""
    token = _issue()
    sig = token.split(".")[2]
    assert _verify(_forge({"alg": "none", "typ": "JWT"}, token)) == (REPORT_MALFORMED,)
    assert _verify(_forge({"alg": "none"}, token, sig)) == (REPORT_MALFORMED,)
    assert _verify(_forge({"alg": "HS256", "typ": "JWT"}, token, sig)) == (REPORT_MALFORMED,)
    crit = {"alg": "ES256", "crit": ["exp"], "typ": "JWT"}
    assert _verify(_forge(crit, token, sig)) == (REPORT_MALFORMED,)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "....", "not a token", "é.é.é", "e30.e30.", "e30=.e30.AA"],
)
def test_garbage_is_malformed_without_raising(token: str) -> None:
    """Structurally broken tokens give report.malformed and no exception."""
    assert _verify(token) == (REPORT_MALFORMED,)
    assert decode_unverified(token) is None


def test_non_string_and_duplicate_claims_are_malformed() -> None:
    """A non-str token and a payload with a duplicated claim name are malformed."""
    assert _verify(b"abc") == (REPORT_MALFORMED,)  # type: ignore[arg-type]
    head, body, sig = _issue().split(".")
    raw = (b64url_decode(body) or b"")[:-1] + b',"sub":"esx-99"}'
    assert _verify(f"{head}.{b64url_encode(raw)}.{sig}") == (REPORT_MALFORMED,)


def test_edited_claims_break_the_signature() -> None:
    """Re-encoding the payload with a longer lifetime keeps the form but fails the signature."""
    head, _, sig = _issue().split(".")
    _, claims, _ = _segments(_issue())
    claims["exp"] = 99999
    forged = f"{head}.{b64url_encode(canonical_json(claims))}.{sig}"
    assert _verify(forged) == (REPORT_BAD_SIGNATURE,)
    shown = decode_unverified(forged)
    assert shown is not None and shown.expires_at == 99999


_TAMPER_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_changed_character_is_rejected(data: st.DataObject) -> None:
    """Changing any single character of a token never yields an accepted report."""
    token = _issue()
    pos = data.draw(st.integers(0, len(token) - 1))
    new = data.draw(st.sampled_from(_TAMPER_CHARS).filter(lambda c: c != token[pos]))
    tampered = token[:pos] + new + token[pos + 1 :]
    reasons = _verify(tampered)
    assert reasons in ((REPORT_BAD_SIGNATURE,), (REPORT_MALFORMED,), (REPORT_UNKNOWN_ISSUER,))
    if reasons == (REPORT_UNKNOWN_ISSUER,):
        # Only possible when the edit rewrote the (signed) iss claim itself.
        shown = decode_unverified(tampered)
        assert shown is not None and shown.issuer != SIGNER.service_id


def test_strict_base64url_rejects_non_canonical_forms() -> None:
    """Padding, the standard alphabet and non-zero trailing bits are not accepted."""
    assert b64url_decode("AQ") == b"\x01"
    assert b64url_decode("AR") is None
    assert b64url_decode("AQ==") is None
    assert b64url_decode("+/8") is None and b64url_decode("-_8") == b"\xfb\xff"


def test_joserfc_verifies_our_tokens_and_we_verify_joserfc_tokens() -> None:
    """A standard JOSE library accepts our ES256 form and kid, and we accept its tokens
    (joserfc is in the test extra: this test runs, never skips)."""
    import joserfc as jose
    from joserfc import jwt
    from joserfc.jwk import ECKey

    public = ECKey.import_key(SIGNER.public_key)
    decoded = jwt.decode(_issue(), public, algorithms=["ES256"])
    assert decoded.header["kid"] == public.thumbprint() == SIGNER.key_id
    assert decoded.claims["sub"] == "esx-01" and decoded.claims["exp"] == 3700

    _, claims, _ = _segments(_issue())
    private = ECKey.import_key(_key(1))
    theirs = jwt.encode({"alg": "ES256", "kid": SIGNER.key_id}, claims, private)
    assert _verify(theirs) == ()
    assert jose.__name__ == "joserfc"


_dates = st.one_of(
    st.floats(-1e18, 1e18, allow_nan=False),
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([0.0, -0.0, 1.5, 2.0**53, 2.0**53 + 2, 1e-300, 1.7e9 + 0.25]),
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(max_size=12), min_size=5, max_size=5),
    audience=st.lists(st.text(max_size=6), min_size=1, max_size=3),
    dates=st.lists(_dates, min_size=5, max_size=5),
)
def test_claims_written_out_equal_the_canonical_json(
    texts: list[str], audience: list[str], dates: list[float]
) -> None:
    """The claims' direct JSON writer gives exactly canonical_json's bytes (sorted keys,
    ASCII escapes, integral dates as integers), for any texts, audiences and dates."""
    issuer, host, jti, group, image = texts
    claims = ReportClaims(
        issuer,
        host,
        tuple(audience),
        dates[0],
        dates[1],
        dates[2],
        jti,
        group,
        image,
        dates[3],
        dates[4],
    )
    assert claims.to_json() == canonical_json(claims.to_json_dict())


def test_a_report_signed_on_use_is_the_report_signed_at_issue() -> None:
    """prepare() signs nothing until the token is read; the token then is byte for byte
    what issue() returns, read twice it is signed once, and a later key change of the
    signer does not reach it."""
    from sim.domain import opcount

    args = ("esx-01", "esxi-8.0u2-22380479", AUDIENCE, 100.0, 3600.0, "report-0001")
    opcount.reset()
    pending = SIGNER.prepare(*args)
    assert opcount.snapshot()["ecdsa_sign"] == 0
    token = pending.token
    assert token == SIGNER.issue(*args) == pending.token
    assert opcount.snapshot()["ecdsa_sign"] == 2  # one for pending (once), one for issue
    rotated = ReportSigner("attestd-1", GROUP, _key(1))
    late = rotated.prepare(*args)
    rotated._private_key = _key(2)  # the signer's key changes after the report was issued
    assert late.token == token
    assert _verify(token) == ()


def test_a_good_signature_is_remembered_only_under_its_key() -> None:
    """With a memory of good signatures the second check of a report verifies nothing
    again and gives the same answer; under another key of the same service the
    remembered signature does not count and the report is refused."""
    from sim.domain import opcount

    token = _issue()
    verified: dict[tuple[bytes, bytes], object] = {}
    opcount.reset()
    assert _verify(token, verified=verified) == ()
    assert _verify(token, verified=verified) == ()
    assert _verify(token, now=5000.0, verified=verified) == (REPORT_EXPIRED,)
    assert opcount.snapshot()["ecdsa_verify"] == 1
    impostor = {SIGNER.service_id: ReportSigner("attestd-1", GROUP, _key(2)).trusted_issuer()}
    assert _verify(token, issuers=impostor, verified=verified) == (REPORT_BAD_SIGNATURE,)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(max_size=12), min_size=4, max_size=4),
    audience=st.text(max_size=6),
    issued_at=_dates | st.integers(min_value=-(2**40), max_value=2**40) | st.just(-0.0),
    lifetime=st.floats(min_value=1e-3, max_value=1e9) | st.integers(1, 10**9),
)
def test_a_signed_token_is_remembered_as_its_parse(
    texts: list[str], audience: str, issued_at: float, lifetime: float
) -> None:
    """The decoding a signer keeps for a token it signed equals, field by field and type by
    type, what decoding the token's text gives; the kept one is what a check then reads."""
    from sim.domain import report

    host, image, jti, service = texts
    signer = ReportSigner(service or "s", GROUP, _key(3))
    token = signer.prepare(host, image, audience, issued_at, lifetime, jti).token
    kept = report._SIGNED[token]
    parsed = report._parse_text.__wrapped__(token)
    assert parsed is not None
    assert kept == parsed
    assert kept.header == parsed.header
    for name in ("issued_at", "not_before", "expires_at", "attested_at", "attested_until"):
        ours, theirs = getattr(kept.claims, name), getattr(parsed.claims, name)
        assert type(ours) is type(theirs) is float
        assert repr(ours) == repr(theirs)  # -0.0 is not 0.0 in a written table
    assert report._parse(token) is kept


def test_the_kept_decodings_are_bounded_and_a_tampered_token_is_decoded() -> None:
    """The memory of signed tokens keeps the newest ones up to its bound; a token changed
    by one character is not among them and is refused by its signature."""
    from sim.domain import report

    tokens = [_issue(jti=f"bounded-{i}") for i in range(report._SIGNED_KEPT + 3)]
    assert len(report._SIGNED) == report._SIGNED_KEPT
    assert tokens[0] not in report._SIGNED and tokens[-1] in report._SIGNED
    last = tokens[-1]
    head, body, sig = last.split(".")
    claims = json.loads(b64url_decode(body) or b"")
    claims["sub"] = "esx-02"
    forged = f"{head}.{b64url_encode(canonical_json(claims))}.{sig}"
    assert forged not in report._SIGNED
    assert _verify(forged) == (REPORT_BAD_SIGNATURE,)
    assert _verify(last) == ()
