"""Properties of the pure DiscourseConnect functions (bridge/discourse_connect.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bridge.discourse_connect import InvalidPayload, InvalidSignature, sign, verify

SECRET = "a-shared-secret-of-some-length"
BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

# Field values: any unicode text without surrogates (not encodable) or NUL; with the
# characters that matter to a query string spelled out so they turn up often.
values = st.text(
    alphabet=st.one_of(
        st.sampled_from("+&=%?#/ ,;\n\r\t\"'<>ёЁйЙ😀"),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=40,
)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=20)
payloads = st.dictionaries(keys, values, min_size=1, max_size=8)
secrets_ = st.text(min_size=10, max_size=64).filter(lambda s: "\x00" not in s)


@given(payload=payloads, secret=secrets_)
@example(payload={"name": "a+b&c=d", "email": "x+y@example.org"}, secret=SECRET)
@example(payload={"add_groups": "", "nonce": "=&+"}, secret=SECRET)
def test_round_trip(payload, secret):
    sso, sig = sign(payload, secret)
    assert verify(sso, sig, secret) == payload


@given(payload=payloads)
def test_signature_is_the_hex_hmac_of_the_base64_text(payload):
    sso, sig = sign(payload, SECRET)
    assert sig == hmac.new(SECRET.encode(), sso.encode(), hashlib.sha256).hexdigest()
    assert dict(parse_qsl(base64.b64decode(sso).decode(), keep_blank_values=True)) == payload


@given(payload=payloads, data=st.data())
def test_any_change_to_the_payload_is_refused(payload, data):
    sso, sig = sign(payload, SECRET)
    position = data.draw(st.integers(0, len(sso) - 1))
    replacement = data.draw(st.sampled_from(BASE64_ALPHABET))
    assume(sso[position] != replacement)
    tampered = sso[:position] + replacement + sso[position + 1 :]
    with pytest.raises((InvalidSignature, InvalidPayload)):
        verify(tampered, sig, SECRET)


@given(payload=payloads, extra=st.text(min_size=1, max_size=8))
def test_appended_or_truncated_payload_is_refused(payload, extra):
    sso, sig = sign(payload, SECRET)
    for changed in (sso + extra, sso[:-1], extra + sso):
        with pytest.raises((InvalidSignature, InvalidPayload)):
            verify(changed, sig, SECRET)


@given(payload=payloads, data=st.data())
def test_any_change_to_the_signature_is_refused(payload, data):
    sso, sig = sign(payload, SECRET)
    position = data.draw(st.integers(0, len(sig) - 1))
    replacement = data.draw(st.sampled_from("0123456789abcdef"))
    assume(sig[position] != replacement)
    with pytest.raises(InvalidSignature):
        verify(sso, sig[:position] + replacement + sig[position + 1 :], SECRET)


@given(payload=payloads, sig=st.text(max_size=80))
def test_a_forged_signature_is_refused(payload, sig):
    sso, real = sign(payload, SECRET)
    assume(sig.lower() != real)
    with pytest.raises((InvalidSignature, InvalidPayload)):
        verify(sso, sig, SECRET)


@given(payload=payloads, other=secrets_)
def test_another_secret_is_refused(payload, other):
    assume(other != SECRET)
    sso, sig = sign(payload, other)
    with pytest.raises(InvalidSignature):
        verify(sso, sig, SECRET)


@given(text=st.text(min_size=1, max_size=60))
def test_non_base64_is_refused_even_when_signed(text):
    assume(any(c not in BASE64_ALPHABET + "\r\n" for c in text))
    sig = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(InvalidPayload):
        verify(text, sig, SECRET)


@given(raw=st.binary(min_size=1, max_size=200))
def test_url_safe_base64_is_refused_even_when_signed(raw):
    # 0xFB leads with the six bits 111110 (62): '-' in URL-safe base64, '+' in standard.
    # Built in, not filtered for: filtering starved Hypothesis's health check.
    url_safe = base64.urlsafe_b64encode(b"\xfb" + raw).decode()
    assert url_safe.startswith("-")
    sig = hmac.new(SECRET.encode(), url_safe.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(InvalidPayload):
        verify(url_safe, sig, SECRET)


@pytest.mark.parametrize("sso", [None, ""])
@pytest.mark.parametrize("sig", [None, ""])
def test_missing_parts_are_refused(sso, sig):
    with pytest.raises(InvalidPayload):
        verify(sso, sig, SECRET)


@given(flags=st.dictionaries(keys, st.booleans(), min_size=1, max_size=8))
def test_booleans_encode_only_as_true_or_false(flags):
    sso, sig = sign(flags, SECRET)
    decoded = verify(sso, sig, SECRET)
    assert decoded == {k: "true" if v else "false" for k, v in flags.items()}


@given(payload=payloads)
def test_none_values_are_left_out(payload):
    sso, sig = sign({**payload, "zz_absent": None}, SECRET)
    assert "zz_absent" not in verify(sso, sig, SECRET)
