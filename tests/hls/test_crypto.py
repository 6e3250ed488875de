"""AES-128-CBC helpers against ciphertext that the openssl command made."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toutvfs.hls.crypto import (
    CryptoError,
    decrypt_part,
    padding_length,
    plain_size_from_tail,
)

KEY = bytes(range(16))
IV = bytes(range(16, 32))


def openssl_encrypt(data: bytes) -> bytes:
    result = subprocess.run(
        ["openssl", "enc", "-e", "-aes-128-cbc", "-K", KEY.hex(), "-iv", IV.hex()],
        input=data,
        check=True,
        capture_output=True,
    )
    return result.stdout


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 1000])
def test_size_and_plaintext_from_openssl(length):
    plaintext = bytes((i * 7) % 256 for i in range(length))
    ciphertext = openssl_encrypt(plaintext)
    assert len(ciphertext) % 16 == 0
    assert plain_size_from_tail(len(ciphertext), ciphertext[-32:], KEY, IV) == length
    assert decrypt_part(ciphertext, KEY, IV) == plaintext


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=300))
def test_size_from_tail_any_length(plaintext):
    ciphertext = openssl_encrypt(plaintext)
    assert plain_size_from_tail(len(ciphertext), ciphertext[-32:], KEY, IV) == len(
        plaintext
    )


def test_wrong_key_fails_padding():
    ciphertext = openssl_encrypt(b"x" * 100)
    wrong = bytes(16)
    with pytest.raises(CryptoError, match="padding is invalid"):
        decrypt_part(ciphertext, wrong, IV)


@pytest.mark.parametrize(
    "block",
    [
        bytes(15) + b"\x00",
        bytes(15) + b"\x11",
        bytes(14) + b"\x01\x02",
        bytes(13) + b"\x02\x03\x03",
    ],
    ids=["zero", "over-16", "mismatch", "short-run"],
)
def test_invalid_padding_rejected(block):
    with pytest.raises(CryptoError):
        padding_length(block)


def test_valid_paddings():
    assert padding_length(bytes(15) + b"\x01") == 1
    assert padding_length(b"\x10" * 16) == 16


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(17), bytes(32)])
def test_key_length_checked(key):
    with pytest.raises(CryptoError, match="expected 16"):
        decrypt_part(bytes(32), key, IV)


def test_unaligned_ciphertext_rejected():
    with pytest.raises(CryptoError, match="33 bytes long, not a positive multiple"):
        decrypt_part(bytes(33), KEY, IV)
    with pytest.raises(CryptoError, match="33 bytes long, not a positive multiple"):
        plain_size_from_tail(33, bytes(32), KEY, IV)
    with pytest.raises(CryptoError, match="0 bytes long, not a positive multiple"):
        decrypt_part(b"", KEY, IV)
