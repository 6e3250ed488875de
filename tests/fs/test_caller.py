"""Tests of telling a creating system call from a lookup, by /proc fields."""

from __future__ import annotations

import os

import pytest

from toutvfs.fs.caller import caller_creates, is_creating_call

X86_CREATING = frozenset({83, 133, 88, 86, 85, 258, 259, 266, 265})
X86_OPENING = {2: 1, 257: 2}


def fields(number: int, *arguments: int) -> list[str]:
    padded = [*arguments, *([0] * (6 - len(arguments)))]
    return [str(number), *(hex(value) for value in padded), "0x7ffd0000", "0x7f00"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (fields(83, 0x1000, 0o755), True),  # mkdir
        (fields(258, 0xFFFFFF9C, 0x1000, 0o755), True),  # mkdirat
        (fields(259, 0xFFFFFF9C, 0x1000, 0o10644), True),  # mknodat
        (fields(266, 0x1000, 0xFFFFFF9C, 0x2000), True),  # symlinkat
        (fields(265, 0xFFFFFF9C, 0x1000, 0xFFFFFF9C, 0x2000), True),  # linkat
        (fields(85, 0x1000, 0o644), True),  # creat
        (fields(257, 0xFFFFFF9C, 0x1000, os.O_WRONLY | os.O_CREAT), True),
        (fields(2, 0x1000, os.O_CREAT | os.O_EXCL), True),  # open
        (fields(257, 0xFFFFFF9C, 0x1000, os.O_RDONLY), False),  # openat
        (fields(262, 0xFFFFFF9C, 0x1000, 0x2000, 0), False),  # newfstatat
        (fields(84, 0x1000), False),  # rmdir
        (["running"], False),
        ([], False),
        (["257", "0x1"], False),
    ],
)
def test_creating_call_cases(line: list[str], expected: bool) -> None:
    assert is_creating_call(line, X86_CREATING, X86_OPENING) is expected


def test_unknown_machine_is_lookup() -> None:
    assert caller_creates(os.getpid(), machine="vax") is False


def test_missing_thread_is_lookup() -> None:
    assert caller_creates(2**22 + 1) is False
