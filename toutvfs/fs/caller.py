"""Detection of a FUSE request whose thread is creating a name, from /proc.

FUSE sends the same LOOKUP for ``stat search/x`` and for ``mkdir search/x``,
and the kernel reports EEXIST, not EROFS, for a creating call whose lookup
finds the name. Lookups in ``search/``, where every name can be found, use
this module to tell the two apart. Linux shows the system call that a
blocked thread is in, and its arguments, in ``/proc/<tid>/syscall``.
"""

from __future__ import annotations

import os
import platform

# System calls that create a name, by machine and Linux system call number.
# NOTE: the end-to-end tests exercise the x86_64 numbers only; the aarch64
# ones (the generic table) have not run on a real mount.
_CREATING_CALLS: dict[str, frozenset[int]] = {
    # mkdir, mknod, symlink, link, creat, mkdirat, mknodat, symlinkat, linkat
    "x86_64": frozenset({83, 133, 88, 86, 85, 258, 259, 266, 265}),
    # mkdirat, mknodat, symlinkat, linkat
    "aarch64": frozenset({34, 33, 36, 37}),
}
# Open calls, by machine: system call number -> index of the flags argument.
_OPEN_CALLS: dict[str, dict[int, int]] = {
    # open, openat
    "x86_64": {2: 1, 257: 2},
    # openat
    "aarch64": {56: 2},
}


def caller_creates(pid: int, machine: str | None = None) -> bool:
    """Return whether thread *pid* is in a system call that creates a name.

    Returns False when that cannot be read: a machine missing from the
    tables above, a thread that has exited, or a ``/proc`` entry that the
    daemon may not read (another user's process under ``allow_other``).

    NOTE: openat2 passes its flags in a structure that this cannot read, so
    ``openat2(O_CREAT)`` counts as a lookup.
    """
    machine = machine or platform.machine()
    creating = _CREATING_CALLS.get(machine)
    opening = _OPEN_CALLS.get(machine)
    if creating is None or opening is None:
        return False
    try:
        with open(f"/proc/{pid}/syscall", encoding="ascii") as file:
            fields = file.read().split()
    except (OSError, ValueError):
        return False
    return is_creating_call(fields, creating, opening)


def is_creating_call(
    fields: list[str], creating: frozenset[int], opening: dict[int, int]
) -> bool:
    """Return whether the fields of a ``/proc/<tid>/syscall`` line create a name.

    The line is the call number in decimal, then its six arguments in hex,
    or ``running`` for a thread outside any call.
    """
    try:
        number = int(fields[0])
    except (IndexError, ValueError):
        return False
    if number in creating:
        return True
    flags_index = opening.get(number)
    if flags_index is None:
        return False
    try:
        flags = int(fields[1 + flags_index], 16)
    except (IndexError, ValueError):
        return False
    return bool(flags & os.O_CREAT)
