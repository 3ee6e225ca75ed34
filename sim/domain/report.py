"""KMS_AUTH attestation reports as signed JSON Web Tokens (RFC 7519, JWS ES256).

When the Attestation Service has verified a host's quote it signs a report that the Key
Provider Service later checks before releasing a key. The report is a JWT in JWS compact
serialisation (RFC 7515) with the ES256 algorithm (RFC 7518 §3.4: ECDSA P-256 with SHA-256,
the signature being the raw ``r || s`` pair, 64 bytes, base64url without padding).

This is a small implementation on ``cryptography`` rather than a JOSE library because the
simulator needs byte-identical output from one seed: signing uses deterministic ECDSA
(RFC 6979, ``ec.ECDSA(hashes.SHA256(), deterministic_signing=True)``) and every JSON part is
serialised canonically (sorted keys, compact separators, ASCII). The tokens are ordinary
ES256 JWTs; any standard JOSE library verifies them.

Times are simulation seconds. RFC 7519 NumericDate values may be non-integer, so ``iat``,
``nbf`` and ``exp`` are JSON numbers that can carry fractions; integral values are written
as integers. ``attestedAt``/``attestedUntil`` mirror ``iat``/``exp`` under the names vSphere
Trust Authority uses.

``verify_report`` never raises on a bad token: it returns a ``ReportCheck`` whose reasons
are dotted ids (``report.*``). Structure, signature and issuer problems stop the check
(claims that are not authentic are not worth judging); the claim checks after a good
signature are all collected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
from collections.abc import Collection, Container, Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sim.domain.opcount import count
from sim.domain.reasons import Reason

ALGORITHM = "ES256"
_COORDINATE_BYTES = 32
_SIGNATURE_BYTES = 2 * _COORDINATE_BYTES
_ES256 = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
"""ECDSA over SHA-256; RFC 6979 nonces when signing (verification is the same either way)."""
_B64URL_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")

REPORT_MALFORMED = Reason.REPORT_MALFORMED.text
REPORT_UNKNOWN_ISSUER = Reason.REPORT_UNKNOWN_ISSUER.text
REPORT_BAD_SIGNATURE = Reason.REPORT_BAD_SIGNATURE.text
REPORT_GROUP_NOT_ACCEPTED = Reason.REPORT_GROUP_NOT_ACCEPTED.text
REPORT_WRONG_AUDIENCE = Reason.REPORT_WRONG_AUDIENCE.text
REPORT_NOT_YET_VALID = Reason.REPORT_NOT_YET_VALID.text
REPORT_EXPIRED = Reason.REPORT_EXPIRED.text
REPORT_REVOKED = Reason.REPORT_REVOKED.text


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes | None:
    """Strict base64url decoding: only the URL-safe alphabet, no padding, and the canonical
    encoding of its bytes (unused trailing bits zero); ``None`` otherwise."""
    if not _B64URL_ALPHABET.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64url_encode(data) == segment else None


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """JSON with sorted keys, compact separators, ASCII only and no NaN/Infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _parse_object(data: bytes) -> dict[str, Any] | None:
    """A JSON object from UTF-8 bytes, rejecting duplicate names and NaN/Infinity."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _numeric_date(value: float) -> int | float:
    """A NumericDate for JSON: integral values as integers, others as floats."""
    if not math.isfinite(value):
        raise ValueError("report times must be finite")
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(value)


_json_text = json.encoder.encode_basestring_ascii
"""A text as ``json.dumps(..., ensure_ascii=True)`` writes it, quotes included."""


def _json_date(value: float) -> str:
    """A NumericDate as ``json.dumps`` writes :func:`_numeric_date`'s value."""
    number = _numeric_date(value)
    return int.__repr__(number) if type(number) is int else float.__repr__(number)


def _read_back(value: float) -> float:
    """The float a time written by :func:`_numeric_date` reads back as."""
    return float(_numeric_date(value))


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 7517/7518 §6.2) with only its required members."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")
    numbers = public_key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
    }


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) used as the ``kid``."""
    return b64url_encode(hashlib.sha256(canonical_json(public_jwk(public_key))).digest())


@dataclass(frozen=True)
class ReportClaims:
    """The claims of a KMS_AUTH report; ``host_id`` is ``sub``, ``jti`` names the report."""

    issuer: str
    host_id: str
    audience: tuple[str, ...]
    issued_at: float
    not_before: float
    expires_at: float
    jti: str
    group: str
    image_id: str
    attested_at: float
    attested_until: float

    def to_json_dict(self) -> dict[str, Any]:
        """The JWT claims set (one audience is written as a string, several as a list)."""
        return {
            "iss": self.issuer,
            "sub": self.host_id,
            "aud": self.audience[0] if len(self.audience) == 1 else list(self.audience),
            "iat": _numeric_date(self.issued_at),
            "nbf": _numeric_date(self.not_before),
            "exp": _numeric_date(self.expires_at),
            "jti": self.jti,
            "group": self.group,
            "image_id": self.image_id,
            "attestedAt": _numeric_date(self.attested_at),
            "attestedUntil": _numeric_date(self.attested_until),
        }

    def to_json(self) -> bytes:
        """The claims set as :func:`canonical_json` writes it, written out directly: an
        Attestation Service signs a report per attestation, and a general JSON encoder
        sorting eleven keys each time costs a few percent of a run. Anything but one
        audience and texts falls back to :func:`canonical_json` (a property test checks
        the two agree)."""
        texts = (self.issuer, self.host_id, self.jti, self.group, self.image_id)
        if len(self.audience) != 1 or not all(type(t) is str for t in (*texts, *self.audience)):
            return canonical_json(self.to_json_dict())
        q, n = _json_text, _json_date
        return (
            f'{{"attestedAt":{n(self.attested_at)},"attestedUntil":{n(self.attested_until)},'
            f'"aud":{q(self.audience[0])},"exp":{n(self.expires_at)},"group":{q(self.group)},'
            f'"iat":{n(self.issued_at)},"image_id":{q(self.image_id)},"iss":{q(self.issuer)},'
            f'"jti":{q(self.jti)},"nbf":{n(self.not_before)},"sub":{q(self.host_id)}}}'
        ).encode("ascii")

    @classmethod
    def from_json_dict(cls, claims: Mapping[str, Any]) -> ReportClaims | None:
        """Typed claims, or ``None`` if one is missing or has the wrong JSON type."""
        texts = [claims.get(name) for name in ("iss", "sub", "jti", "group", "image_id")]
        numbers = [
            _as_number(claims.get(name))
            for name in ("iat", "nbf", "exp", "attestedAt", "attestedUntil")
        ]
        aud = claims.get("aud")
        audience: tuple[str, ...] | None = None
        if isinstance(aud, str):
            audience = (aud,)
        elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
            audience = tuple(aud)
        if audience is None or not all(isinstance(t, str) for t in texts):
            return None
        iat, nbf, exp, attested_at, attested_until = numbers
        if iat is None or nbf is None or exp is None:
            return None
        if attested_at is None or attested_until is None:
            return None
        iss, sub, jti, group, image_id = (str(t) for t in texts)
        return cls(
            issuer=iss,
            host_id=sub,
            audience=audience,
            issued_at=iat,
            not_before=nbf,
            expires_at=exp,
            jti=jti,
            group=group,
            image_id=image_id,
            attested_at=attested_at,
            attested_until=attested_until,
        )


@dataclass(frozen=True)
class ReportCheck:
    """The verdict on one report. ``claims`` is set only when the signature verified under
    a trusted issuer's key (whether or not the claim checks passed)."""

    ok: bool
    reasons: tuple[str, ...]
    claims: ReportClaims | None


@dataclass(frozen=True)
class TrustedIssuer:
    """An Attestation Service whose reports the verifier accepts, and its group."""

    service_id: str
    group: str
    public_key: ec.EllipticCurvePublicKey


class ReportSigner:
    """Signs KMS_AUTH reports for one Attestation Service with its P-256 key."""

    def __init__(
        self, service_id: str, group: str, private_key: ec.EllipticCurvePrivateKey
    ) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("ES256 needs a P-256 private key")
        if not service_id or not group:
            raise ValueError("service_id and group must be non-empty")
        self.service_id = service_id
        self.group = group
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = jwk_thumbprint(self.public_key)
        self._header = {"alg": ALGORITHM, "kid": self.key_id, "typ": "JWT"}
        self._header_segment = b64url_encode(canonical_json(self._header))

    def trusted_issuer(self) -> TrustedIssuer:
        """The verifier-side description of this signer."""
        return TrustedIssuer(self.service_id, self.group, self.public_key)

    def issue(
        self,
        host_id: str,
        image_id: str,
        audience: str,
        issued_at: float,
        lifetime: float,
        jti: str,
    ) -> str:
        """A signed report for ``host_id``, valid from ``issued_at`` for ``lifetime`` s."""
        return self.prepare(host_id, image_id, audience, issued_at, lifetime, jti).token

    def prepare(
        self,
        host_id: str,
        image_id: str,
        audience: str,
        issued_at: float,
        lifetime: float,
        jti: str,
    ) -> SignedOnUse:
        """The report :meth:`issue` signs, with its signature computed when the token is
        first read (:class:`SignedOnUse`)."""
        if not (math.isfinite(issued_at) and math.isfinite(lifetime)) or lifetime <= 0:
            raise ValueError("issued_at must be finite and lifetime positive")
        fields = (
            self.service_id,
            self.group,
            host_id,
            image_id,
            audience,
            issued_at,
            lifetime,
            jti,
        )
        return SignedOnUse(self._private_key, (self._header, self._header_segment), fields)


class SignedOnUse:
    """A report whose ES256 signature is computed when its token is first read.

    ES256 here is deterministic (RFC 6979: the signature is a function of the key and the
    signing input alone, no random draw), so a token signed when first presented is, byte
    for byte, the token signed at issue; most reports are never presented (a host presents
    its report only with a key request), and those are never signed, nor are their
    claims built. The key is the signer's at issue, so a rotation of the signing key
    meanwhile changes nothing."""

    __slots__ = ("_claims", "_fields", "_header", "_header_segment", "_key", "_token")

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        header: tuple[dict[str, Any], str],
        fields: tuple[str, str, str, str, str, float, float, str],
    ) -> None:
        """``header``: the header and its base64url segment; ``fields``: issuer, group,
        host, image id, audience, issue time, lifetime, jti."""
        self._key = key
        self._header, self._header_segment = header
        self._fields = fields
        self._claims: ReportClaims | None = None
        self._token: str | None = None

    @property
    def claims(self) -> ReportClaims:
        """The report's claims (built on first use)."""
        if self._claims is None:
            issuer, group, host_id, image_id, audience, issued_at, lifetime, jti = self._fields
            expires_at = issued_at + lifetime
            self._claims = ReportClaims(
                issuer=issuer,
                host_id=host_id,
                audience=(audience,),
                issued_at=issued_at,
                not_before=issued_at,
                expires_at=expires_at,
                jti=jti,
                group=group,
                image_id=image_id,
                attested_at=issued_at,
                attested_until=expires_at,
            )
        return self._claims

    @property
    def token(self) -> str:
        """The compact JWS (``header.payload.signature``), encoded and signed on the first
        read."""
        if self._token is None:
            signing_input = f"{self._header_segment}.{b64url_encode(self.claims.to_json())}"
            count("ecdsa_sign")
            der = self._key.sign(signing_input.encode("ascii"), _ES256)
            r, s = decode_dss_signature(der)
            raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
            self._token = f"{signing_input}.{b64url_encode(raw)}"
            _remember_signed(self._token, self._as_parsed(signing_input, raw))
        return self._token

    def _as_parsed(self, signing_input: str, signature: bytes) -> _Parsed:
        """What :func:`_parse_text` makes of this report's token, built from what signed it:
        the header is the signer's, and every time is the float its NumericDate's text
        reads back as (:func:`_as_number`; -0.0 is written ``0`` and reads back 0.0), so
        the two are equal field by field, type by type and sign by sign (a property test
        checks it)."""
        c = self.claims
        back = _read_back
        claims = ReportClaims(
            issuer=c.issuer,
            host_id=c.host_id,
            audience=c.audience,
            issued_at=back(c.issued_at),
            not_before=back(c.not_before),
            expires_at=back(c.expires_at),
            jti=c.jti,
            group=c.group,
            image_id=c.image_id,
            attested_at=back(c.attested_at),
            attested_until=back(c.attested_until),
        )
        return _Parsed(dict(self._header), claims, signing_input.encode("ascii"), signature)


@dataclass(frozen=True)
class _Parsed:
    header: dict[str, Any]
    claims: ReportClaims
    signing_input: bytes
    signature: bytes


_SIGNED: dict[str, _Parsed] = {}
"""The decoded form of the tokens signed last (:meth:`SignedOnUse.token`), by token text.
A report is signed when a host first presents it with a key request, and the Key Provider
Service decodes it at once: the signer knows what the decoding will give, so the decoding
is skipped (22 us of base64 and JSON per new report, for about 5 us of building the kept
form; ``tests/domain/test_report.py`` holds every entry equal to :func:`_parse_text` of
its token). Any other text, a tampered token say, is decoded as usual."""

_SIGNED_KEPT = 4096
"""How many signed tokens :data:`_SIGNED` keeps (the oldest is forgotten first)."""


_SIGNED_LOCK = threading.Lock()
"""Runs in threads of one process share :data:`_SIGNED`; one forgets its oldest at a time."""


def _remember_signed(token: str, parsed: _Parsed) -> None:
    """Keep ``parsed`` as the decoding of ``token``, forgetting the oldest beyond the bound."""
    with _SIGNED_LOCK:
        if len(_SIGNED) >= _SIGNED_KEPT:
            del _SIGNED[next(iter(_SIGNED))]
        _SIGNED[token] = parsed


def _parse(token: object) -> _Parsed | None:
    """Split and decode a compact JWS; ``None`` for anything but a well-formed ES256 JWT."""
    if not isinstance(token, str):
        return None
    signed = _SIGNED.get(token)
    if signed is not None:
        return signed
    return _parse_text(token)


@lru_cache(maxsize=4096)
def _parse_text(token: str) -> _Parsed | None:
    """:func:`_parse` of a string, memoised: a host presents the same report with each key
    request until its next attestation, and a release checks it twice. Buys: ~60 us of
    base64 and JSON decoding per check (the signature and the claims are checked every
    time)."""
    if not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header_raw, payload_raw, signature = (b64url_decode(p) for p in parts)
    if header_raw is None or payload_raw is None or signature is None:
        return None
    header = _parse_object(header_raw)
    payload = _parse_object(payload_raw)
    if header is None or payload is None:
        return None
    if header.get("alg") != ALGORITHM or "crit" in header:
        return None
    if header.get("typ", "JWT") != "JWT" or not isinstance(header.get("kid", ""), str):
        return None
    claims = ReportClaims.from_json_dict(payload)
    if claims is None or len(signature) != _SIGNATURE_BYTES:
        return None
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return _Parsed(header, claims, signing_input, signature)


def _signature_valid(
    public_key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes
) -> bool:
    r = int.from_bytes(signature[:_COORDINATE_BYTES], "big")
    s = int.from_bytes(signature[_COORDINATE_BYTES:], "big")
    count("ecdsa_verify")
    try:
        public_key.verify(encode_dss_signature(r, s), signing_input, _ES256)
    except InvalidSignature:
        return False
    return True


def decode_unverified(token: str) -> ReportClaims | None:
    """The claims of a well-formed report without checking its signature (for display)."""
    parsed = _parse(token)
    return parsed.claims if parsed is not None else None


def verify_report(
    token: str,
    issuers: Mapping[str, TrustedIssuer],
    accepted_groups: Collection[str],
    audience: str,
    now: float,
    revoked: Container[str] = (),
    leeway: float = 0.0,
    verified: MutableMapping[tuple[bytes, bytes], object] | None = None,
) -> ReportCheck:
    """Check a report for the verifier ``audience`` at simulation time ``now``.

    ``issuers`` maps service ids (the ``iss`` claim) to trusted issuers. A report is valid
    from ``nbf`` and expired once ``now >= exp``; ``leeway`` widens both bounds.
    ``verified``, the caller's memory of good signatures (signing input and signature to
    the public key that verified them), spares checking again a signature found good
    under the same key: ECDSA verification is a function of key, input and signature.
    """
    if leeway < 0 or not math.isfinite(leeway):
        raise ValueError("leeway must be a finite non-negative number")
    parsed = _parse(token)
    if parsed is None:
        return ReportCheck(False, (REPORT_MALFORMED,), None)
    claims = parsed.claims
    issuer = issuers.get(claims.issuer)
    if issuer is None or issuer.service_id != claims.issuer:
        return ReportCheck(False, (REPORT_UNKNOWN_ISSUER,), None)
    seen = (parsed.signing_input, parsed.signature)
    if verified is None or verified.get(seen) is not issuer.public_key:
        if not _signature_valid(issuer.public_key, parsed.signing_input, parsed.signature):
            return ReportCheck(False, (REPORT_BAD_SIGNATURE,), None)
        if verified is not None:
            verified[seen] = issuer.public_key
    reasons: list[str] = []
    if claims.group != issuer.group or claims.group not in accepted_groups:
        reasons.append(REPORT_GROUP_NOT_ACCEPTED)
    if audience not in claims.audience:
        reasons.append(REPORT_WRONG_AUDIENCE)
    if now + leeway < claims.not_before:
        reasons.append(REPORT_NOT_YET_VALID)
    if now - leeway >= claims.expires_at:
        reasons.append(REPORT_EXPIRED)
    if claims.jti in revoked:
        reasons.append(REPORT_REVOKED)
    return ReportCheck(not reasons, tuple(reasons), claims)
