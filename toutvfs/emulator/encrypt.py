"""Emulator layer: AES-128 segment encryption as HLS defines it.

HLS AES-128 encrypts each whole segment with AES-128-CBC and PKCS#7 padding.
When a playlist's ``EXT-X-KEY`` has no ``IV`` attribute, the IV of a segment
is its media sequence number as a 128-bit big-endian integer (RFC 8216,
section 5.2).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sequence_iv(sequence: int) -> bytes:
    """Return the implicit IV of the segment with media sequence *sequence*."""
    return sequence.to_bytes(16, "big")


def aes128_cbc(data: bytes, key: bytes, iv: bytes) -> bytes:
    """Encrypt *data* with AES-128-CBC after PKCS#7 padding."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes128_cbc_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """Decrypt AES-128-CBC *data* and remove its PKCS#7 padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()
