"""HLS engine: AES-128-CBC decryption of parts and PKCS#7 padding.

HLS encrypts each segment (or each ``EXT-X-BYTERANGE`` sub-range) on its own
with AES-128-CBC and PKCS#7 padding. In CBC any block can be decrypted with
the ciphertext block before it as IV. So the last 32 bytes of a part give
its padding, and a read in the middle needs only the ciphertext from one
block before it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
KEY_LENGTH = 16

# Part contents: bodies and plaintexts are built in place as bytearrays.
Data = bytes | bytearray


class CryptoError(ValueError):
    """A key, a ciphertext length or a padding is invalid."""


def check_key(key: bytes) -> None:
    """Raise `CryptoError` unless *key* is an AES-128 key."""
    if len(key) != KEY_LENGTH:
        raise CryptoError(f"the key is {len(key)} bytes long, expected {KEY_LENGTH}")


def decrypt_blocks(ciphertext: Data, key: bytes, iv: bytes) -> bytes:
    """Decrypt whole blocks of AES-128-CBC ciphertext, padding left in place."""
    check_key(key)
    if len(ciphertext) % BLOCK:
        raise CryptoError(
            f"the ciphertext is {len(ciphertext)} bytes long, not a multiple of {BLOCK}"
        )
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def padding_length(last_block: bytes) -> int:
    """Return the PKCS#7 padding length of a decrypted last block.

    Raises:
        CryptoError: the padding is not valid PKCS#7, which means a wrong key
            or IV or a damaged part.
    """
    if len(last_block) != BLOCK:
        raise CryptoError(f"the last block is {len(last_block)} bytes long")
    pad = last_block[-1]
    if not 1 <= pad <= BLOCK or last_block[-pad:] != bytes([pad]) * pad:
        raise CryptoError("the PKCS#7 padding is invalid (wrong key or IV?)")
    return pad


def decrypt_part(ciphertext: Data, key: bytes, iv: bytes) -> bytearray:
    """Decrypt a whole part and remove its padding.

    The result is a `bytearray` decrypted in place of one allocation, so a
    part of several megabytes costs one plaintext copy and no more.
    """
    check_key(key)
    if not ciphertext or len(ciphertext) % BLOCK:
        raise CryptoError(
            f"the ciphertext is {len(ciphertext)} bytes long, "
            f"not a positive multiple of {BLOCK}"
        )
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    # update_into needs room for one block more than it writes.
    plaintext = bytearray(len(ciphertext) + BLOCK - 1)
    written = decryptor.update_into(ciphertext, plaintext)
    decryptor.finalize()
    del plaintext[written:]
    pad = padding_length(bytes(plaintext[-BLOCK:]))
    del plaintext[len(plaintext) - pad :]
    return plaintext


def plain_size_from_tail(cipher_length: int, tail: Data, key: bytes, iv: bytes) -> int:
    """Return the plaintext size of a part from its last ciphertext bytes.

    Args:
        cipher_length: the length of the whole part's ciphertext.
        tail: the last 16 or more bytes of the ciphertext; 32 are needed
            unless the part is one block long.
        key, iv: the part's key and IV (the IV matters only for one block).
    """
    if cipher_length <= 0 or cipher_length % BLOCK:
        raise CryptoError(
            f"the ciphertext is {cipher_length} bytes long, "
            f"not a positive multiple of {BLOCK}"
        )
    if cipher_length == BLOCK:
        previous, last = iv, bytes(tail[-BLOCK:])
    else:
        if len(tail) < 2 * BLOCK:
            raise CryptoError(f"{len(tail)} tail bytes given, expected 32")
        previous, last = bytes(tail[-2 * BLOCK : -BLOCK]), bytes(tail[-BLOCK:])
    return cipher_length - padding_length(decrypt_blocks(last, key, previous))
