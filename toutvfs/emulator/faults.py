"""Emulator layer: scripted faults and when they fire.

A `Fault` names what goes wrong (its kind), which requests it applies to (an
endpoint name and optionally a media id) and when it fires: on every matching
request, on the first N, or with a probability drawn from a generator seeded
with a fixed seed, so a run repeats exactly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

FAULT_KINDS = (
    "drop",  # send the headers and after_bytes of the body, then close
    "stall",  # send the headers, then nothing for stall_seconds, then close
    "trickle",  # send the body at trickle_rate bytes/s for at most stall_seconds
    "status",  # answer with the HTTP status `status` (a 5xx by default)
    "rate-limit",  # answer 429 with a Retry-After of retry_after seconds
    "not-found",  # answer 404
    "empty-body",  # keep the status and headers, send an empty body
    "malformed-json",  # send the first half of the body, cut inside the JSON
    "html-page",  # answer 200 with an HTML error page in place of the body
    "truncate",  # send a shorter body (truncate_to bytes, default half)
    "bad-key",  # send a key of key_length bytes in place of 16
)

# Endpoint names that faults and shaping match, besides "*" for any.
ENDPOINTS = (
    "browse",
    "category",
    "search",
    "search-index",
    "show",
    "meta",
    "validation",
    "profile",
    "account",
    "authorize",
    "self-asserted",
    "confirmed",
    "token",
    "auth-changed",
    "master",
    "playlist",
    "key",
    "segment",
    "dash",
    "image",
    "caption",
    "retired",
)


@dataclass
class Fault:
    """One scripted fault.

    Attributes:
        kind: what happens, one of `FAULT_KINDS`.
        endpoint: the endpoint name it applies to, or ``*`` for any.
        id_media: when set, only requests about this media id match.
        first: when set, fire on the first *first* matching requests only.
        probability: when set, fire on each matching request with this
            probability, drawn from a generator seeded with *seed*.
        seed: seed of that generator.
        status: the status of a ``status`` fault.
        retry_after: the Retry-After seconds of a ``rate-limit`` fault.
        after_bytes: body bytes a ``drop`` fault sends before closing.
        stall_seconds: how long a ``stall`` or ``trickle`` fault lasts.
        trickle_rate: bytes per second of a ``trickle`` fault.
        truncate_to: body bytes a ``truncate`` fault keeps; None keeps half.
        key_length: bytes of the key a ``bad-key`` fault sends.
        matched, fired: how many requests matched and how many it fired on.
    """

    kind: str
    endpoint: str = "*"
    id_media: int | None = None
    first: int | None = None
    probability: float | None = None
    seed: int = 0
    status: int = 503
    retry_after: int = 1
    after_bytes: int = 0
    stall_seconds: float = 10.0
    trickle_rate: int = 1000
    truncate_to: int | None = None
    key_length: int = 8
    matched: int = 0
    fired: int = 0
    _random: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"invalid fault kind {self.kind!r}: expected one of "
                + ", ".join(FAULT_KINDS)
            )
        if self.endpoint != "*" and self.endpoint not in ENDPOINTS:
            raise ValueError(
                f"invalid fault endpoint {self.endpoint!r}: expected * or one of "
                + ", ".join(ENDPOINTS)
            )
        if self.first is not None and self.probability is not None:
            raise ValueError("a fault takes first or probability, not both")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"invalid fault probability {self.probability}")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def matches(self, endpoint: str, id_media: int | None) -> bool:
        """Return whether a request to *endpoint* about *id_media* matches."""
        if self.endpoint not in ("*", endpoint):
            return False
        return self.id_media is None or self.id_media == id_media

    def trigger(self) -> bool:
        """Count one matching request and return whether the fault fires."""
        with self._lock:
            self.matched += 1
            if self.first is not None:
                fires = self.matched <= self.first
            elif self.probability is not None:
                fires = self._random.random() < self.probability
            else:
                fires = True
            if fires:
                self.fired += 1
            return fires


def select_fault(
    faults: list[Fault], endpoint: str, id_media: int | None
) -> Fault | None:
    """Return the first fault of *faults* that matches and fires, or None.

    Every matching fault up to the one that fires counts the request, so
    the triggers of faults listed later see only requests that the earlier
    ones let through.
    """
    for fault in faults:
        if fault.matches(endpoint, id_media) and fault.trigger():
            return fault
    return None
