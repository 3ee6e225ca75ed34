"""The fast paths of sim.domain.tpm_wire give exactly what the field-by-field code gives.

Quotes are marshalled and parsed once per attestation, so the well-formed case runs on
precompiled ``struct`` layouts, a TPM's fixed quote bytes are marshalled once
(``QuoteLayout``) and signatures go between DER and TPMT_SIGNATURE without Python
integers. Each is checked here against the general code on arbitrary and corrupted
input: the same bytes, the same parse, and ValueError exactly where the general code
raises it.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.pki import CertificateAuthority, sign
from sim.domain.tpm import EventType, VirtualTPM
from sim.domain.tpm_wire import (
    TPM_ALG_SHA256,
    AttestInfo,
    QuoteLayout,
    _marshal_attest_fields,
    _parse_attest_fields,
    marshal_attest,
    marshal_signature,
    normalize_selection,
    parse_attest,
    parse_signature,
    signature_der,
    signature_from_der,
)

T = TypeVar("T")
U256 = st.integers(1, 2**256 - 1)
pcr_sets = st.lists(st.integers(0, 23), min_size=1, max_size=24, unique=True).map(
    lambda pcrs: tuple(sorted(pcrs))
)


@cache
def _tpm() -> VirtualTPM:
    tpm = VirtualTPM(b"fast-path", CertificateAuthority.create(b"ca", "CA"), "TPM-fast")
    tpm.measure(0, EventType.EV_S_CRTM_VERSION, b"crtm", "CRTM version")
    tpm.measure(7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, b"SecureBoot=1", "Secure Boot")
    tpm.set_clock(987_654)
    return tpm


def _same_outcome(fast: Callable[[T], object], slow: Callable[[T], object], arg: T) -> None:
    """``fast(arg)`` equals ``slow(arg)``, or both raise ValueError."""
    try:
        expected = slow(arg)
    except ValueError:
        with pytest.raises(ValueError):
            fast(arg)
        return
    assert fast(arg) == expected


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with one byte changed, cut short, grown or with bytes inserted."""
    n = len(data)
    return st.one_of(
        st.tuples(st.integers(0, n - 1), st.integers(0, 255)).map(
            lambda p: data[: p[0]] + bytes((p[1],)) + data[p[0] + 1 :]
        ),
        st.integers(0, n).map(lambda k: data[:k]),
        st.binary(min_size=1, max_size=4).map(lambda tail: data + tail),
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=3)).map(
            lambda p: data[: p[0]] + p[1] + data[p[0] :]
        ),
    )


QUOTE = _tpm().quote(b"a fresh 32-byte nonce of a verif", (0, 1, 2, 3, 4, 5, 6, 7))


@settings(max_examples=400)
@given(_mutations(QUOTE.attest) | st.binary(max_size=140))
def test_parse_attest_fast_path_agrees_with_the_reader(data: bytes) -> None:
    """On a genuine quote corrupted in any one way (or any bytes), parse_attest returns
    what the field-by-field reader returns, or raises where it raises."""
    _same_outcome(parse_attest, _parse_attest_fields, data)


def test_parse_attest_agrees_on_every_byte_set_to_edge_values() -> None:
    """Every byte of a genuine quote set in turn to 0, 1, 2, 3, 4, 0x7F, 0x80 and 0xFF
    (tags, sizes, counts, the safe flag): the same outcome as the reader, every time."""
    data = QUOTE.attest
    for at in range(len(data)):
        for value in (0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF):
            bad = data[:at] + bytes((value,)) + data[at + 1 :]
            _same_outcome(parse_attest, _parse_attest_fields, bad)


def test_parse_attest_makes_the_same_instance_as_the_constructor() -> None:
    """The parsed AttestInfo (filled in without the frozen __init__) has the same fields,
    hash, repr and pickle as the one the dataclass constructor makes."""
    fast, slow = parse_attest(QUOTE.attest), _parse_attest_fields(QUOTE.attest)
    assert type(fast) is AttestInfo and vars(fast) == vars(slow)
    assert list(vars(fast)) == list(vars(slow))
    assert hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.clock = 1  # type: ignore[misc]


def test_parse_attest_keeps_the_reader_s_error_messages() -> None:
    """A rejected quote is worded by the reader: the message says what is wrong."""
    with pytest.raises(ValueError, match="truncated at byte"):
        parse_attest(QUOTE.attest[:-1])
    with pytest.raises(ValueError, match="trailing bytes"):
        parse_attest(QUOTE.attest + b"\0")
    with pytest.raises(ValueError, match="not a quote"):
        parse_attest(QUOTE.attest[:4] + b"\x80\x17" + QUOTE.attest[6:])


fields = st.builds(
    AttestInfo,
    qualified_signer=st.binary(max_size=34),
    extra_data=st.binary(max_size=64) | st.just(bytes(0x10000)),
    clock=st.integers(-1, 2**64),
    reset_count=st.integers(-1, 2**32),
    restart_count=st.integers(0, 2**32 - 1),
    safe=st.booleans(),
    firmware_version=st.integers(0, 2**64),
    pcr_selection=st.lists(
        st.tuples(st.integers(0, 0x10000), st.lists(st.integers(-1, 24), max_size=6)),
        max_size=3,
    ).map(lambda banks: tuple((alg, tuple(pcrs)) for alg, pcrs in banks)),
    pcr_digest=st.binary(max_size=48),
)


@settings(max_examples=300)
@given(fields)
def test_marshal_attest_fast_path_agrees_with_the_fields(info: AttestInfo) -> None:
    """marshal_attest gives the field-by-field bytes, and raises ValueError for exactly
    the values that do not fit (negative, too wide, PCR index out of range)."""
    _same_outcome(marshal_attest, _marshal_attest_fields, info)


@given(
    st.binary(max_size=64),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    pcr_sets,
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**64 - 1),
)
def test_quote_layout_is_marshal_attest(
    nonce: bytes, clock: int, resets: int, restarts: int, pcrs: tuple[int, ...], digest: bytes,
    firmware: int,
) -> None:  # fmt: skip
    """The spliced quote is byte for byte marshal_attest of the same fields."""
    signer = _tpm().ak_qualified_name
    layout = QuoteLayout(signer, firmware)
    info = AttestInfo(
        signer, nonce, clock, resets, restarts, True, firmware, ((TPM_ALG_SHA256, pcrs),), digest
    )
    assert layout.attest(nonce, clock, resets, restarts, pcrs, digest) == marshal_attest(info)
    assert layout.attest(nonce, clock, resets, restarts, pcrs, digest) == marshal_attest(info)


def test_quote_layout_refuses_what_does_not_fit() -> None:
    """Fields too wide, an unsorted selection or a short digest raise ValueError."""
    layout = QuoteLayout(_tpm().ak_qualified_name, 1)
    digest = bytes(32)
    for bad in (
        lambda: layout.attest(b"n", 2**64, 0, 0, (0,), digest),
        lambda: layout.attest(b"n", 0, -1, 0, (0,), digest),
        lambda: layout.attest(bytes(0x10000), 0, 0, 0, (0,), digest),
        lambda: layout.attest(b"n", 0, 0, 0, (1, 0), digest),
        lambda: layout.attest(b"n", 0, 0, 0, (0, 24), digest),
        lambda: layout.attest(b"n", 0, 0, 0, (0,), digest[:31]),
        lambda: QuoteLayout(b"x", 2**64),
    ):
        with pytest.raises(ValueError):
            bad()


@given(st.binary(max_size=64), st.integers(0, 2**40), pcr_sets)
def test_a_tpm_quote_is_the_general_marshalling_signed(
    nonce: bytes, clock: int, pcrs: tuple[int, ...]
) -> None:
    """A quote's bytes are marshal_attest of its fields and marshal_signature of the
    deterministic ECDSA signature over them, as before the fast paths."""
    tpm = _tpm()
    tpm.set_clock(clock)
    quote = tpm.quote(nonce, pcrs)
    info = AttestInfo(
        tpm.ak_qualified_name,
        nonce,
        tpm.clock,
        tpm.reset_count,
        tpm.restart_count,
        True,
        tpm.firmware_version,
        ((TPM_ALG_SHA256, normalize_selection(pcrs)),),
        tpm._bank.composite_digest(pcrs),
    )
    assert quote.attest == _marshal_attest_fields(info)
    der = sign(tpm._ak, quote.attest)
    assert quote.signature == marshal_signature(*decode_dss_signature(der))


@given(U256, U256)
def test_signature_from_der_is_decode_then_marshal(r: int, s: int) -> None:
    """The TPMT_SIGNATURE read from DER is marshal_signature of the decoded integers."""
    der = encode_dss_signature(r, s)
    assert signature_from_der(der) == marshal_signature(r, s)


@settings(max_examples=300)
@given(_mutations(encode_dss_signature(2**255 + 12345, 77)) | st.binary(max_size=80))
def test_signature_from_der_accepts_only_what_decodes_the_same(der: bytes) -> None:
    """Whatever signature_from_der accepts decodes to the same r and s; what it refuses
    raises ValueError (the quote then falls back to decoding it the long way)."""
    try:
        fast = signature_from_der(der)
    except ValueError:
        return
    r, s = decode_dss_signature(der)
    assert fast == marshal_signature(r, s)


def test_signature_from_der_refuses_zero_negative_and_non_minimal_integers() -> None:
    """r or s zero, negative, padded with a needless zero or wider than 256 bits: refused."""
    good = encode_dss_signature(5, 7)
    assert signature_from_der(good) == marshal_signature(5, 7)
    for bad in (
        bytes.fromhex("3006020100020107"),  # r = 0
        bytes.fromhex("3006020180020107"),  # r negative
        bytes.fromhex("300702020005020107"),  # r with a needless leading zero
        encode_dss_signature(2**256, 7),  # r wider than P-256
        good[:-1],
        good + b"\0",
    ):
        with pytest.raises(ValueError):
            signature_from_der(bad)


@settings(max_examples=300)
@given(
    st.builds(marshal_signature, U256, U256).flatmap(_mutations)
    | st.builds(marshal_signature, U256, U256)
    | st.binary(max_size=80)
)
def test_signature_der_is_parse_then_encode(data: bytes) -> None:
    """The DER of a TPMT_SIGNATURE is encode_dss_signature of its parsed r and s (small
    values, leading zeros and all), or ValueError where parse_signature raises."""
    _same_outcome(signature_der, lambda d: encode_dss_signature(*parse_signature(d)), data)


def test_signature_der_of_zero_and_high_bit_values() -> None:
    """r = 0 (never valid, but well-formed), a high bit needing a zero byte, a 1-byte r."""
    for r, s in ((1, 2**256 - 1), (2**255, 1), (0x80, 0x7F)):
        assert signature_der(marshal_signature(r, s)) == encode_dss_signature(r, s)
    zero_r = marshal_signature(1, 1)[:6] + bytes(32) + marshal_signature(1, 1)[38:]
    assert signature_der(zero_r) == encode_dss_signature(0, 1)
