"""Tests of file names made from catalogue titles."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from toutvfs.fs import names


def test_clean_name_keeps_accents_and_punctuation() -> None:
    assert names.clean_name("L'Île aux 3 pommes !") == "L'Île aux 3 pommes !"


def test_clean_name_replaces_slash() -> None:
    assert names.clean_name("Brume / Partie 1") == "Brume \u2215 Partie 1"


def test_clean_name_drops_control_characters() -> None:
    assert names.clean_name("a\x00b\x1fc\x7fd") == "abcd"


def test_clean_name_normalizes_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Épisodes perdus")
    assert decomposed != "Épisodes perdus"
    assert names.clean_name(decomposed) == "Épisodes perdus"


def test_clean_name_fallback_for_dots_and_empty() -> None:
    for title in ("", ".", "..", "\x00", "   "):
        assert names.clean_name(title, fallback="x") == "x"


def test_fit_name_keeps_extension_within_255_bytes() -> None:
    stem = "é" * 200  # 400 bytes
    name = names.fit_name(stem, ".fr.vtt")
    assert name.endswith(".fr.vtt")
    assert len(name.encode()) <= 255
    assert len(name.encode()) >= 254
    assert name == "é" * 124 + ".fr.vtt"


def test_dedupe_suffixes_only_colliding_names() -> None:
    result = names.dedupe(
        [("doublon-1", "Doublon", ""), ("doublon-2", "Doublon", ""), ("x", "X", "")]
    )
    assert result["x"] == "X"
    assert result["doublon-1"] != result["doublon-2"]
    assert result["doublon-1"].startswith("Doublon [")
    assert result["doublon-2"].startswith("Doublon [")


def test_dedupe_suffix_is_stable_across_listings() -> None:
    first = names.dedupe([("a", "Doublon", ""), ("b", "Doublon", "")])
    second = names.dedupe(
        [("c", "Doublon", ""), ("b", "Doublon", ""), ("a", "Doublon", "")]
    )
    assert first["a"] == second["a"]
    assert first["b"] == second["b"]


def test_dedupe_compares_case_insensitively() -> None:
    result = names.dedupe([("a", "Doublon", ""), ("b", "DOUBLON", "")])
    assert result["a"] != "Doublon"
    assert result["b"] != "DOUBLON"


@given(st.text(max_size=400))
def test_clean_name_is_always_valid(title: str) -> None:
    name = names.clean_name(title, ext=".ts")
    assert "/" not in name
    assert "\x00" not in name
    assert name != ".ts"
    assert len(name.encode()) <= 255
    assert name.endswith(".ts")
    assert unicodedata.is_normalized("NFC", name[:-3])
