"""Stored listing records: the codec, the store and the catalogue fallback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from toutvfs.errors import ConnectionError, UnexpectedHttpStatusCode
from toutvfs.fs.offline import (
    LISTING_RECORDS,
    ListingStore,
    OfflineCatalogue,
    decode,
    encode,
)
from toutvfs.fs.source import (
    EpisodeEntry,
    PlayableMedia,
    SeasonEntry,
    ShowDetail,
    ShowEntry,
    VariantEntry,
)

SHOW = ShowDetail(
    slug="s",
    title="Série",
    seasons=(
        SeasonEntry(
            "Saison 1",
            1,
            (EpisodeEntry("m1", "Un", aired=dt.datetime(2024, 1, 2, tzinfo=dt.UTC)),),
        ),
    ),
    genres=("Drame",),
)
MEDIA = PlayableMedia(
    variants=[VariantEntry("180p-264k", 264000, (320, 180), "avc1", None)],
    caption_url="http://h/c.vtt",
)


def test_codec_round_trip() -> None:
    for hint, value in ((ShowDetail, SHOW), (PlayableMedia, MEDIA)):
        assert decode(hint, json.loads(json.dumps(encode(value)))) == value


def test_codec_rejects_wrong_types() -> None:
    data = encode(MEDIA)
    data["variants"][0]["bandwidth"] = True
    with pytest.raises(ValueError, match="expected int, got bool"):
        decode(PlayableMedia, data)
    data = encode(MEDIA)
    data["variants"][0]["resolution"] = [320]
    with pytest.raises(ValueError, match="expected 2 items, got 1"):
        decode(PlayableMedia, data)


def test_store_find_and_remove(tmp_path: Path) -> None:
    store = ListingStore(tmp_path)
    store.save(
        "toutv-m1", "a", "/shows/Série/x.ts", {"show:s": SHOW, "media:m1": MEDIA}
    )
    assert store.find("show:s") == SHOW
    assert store.find("media:m1") == MEDIA
    assert store.find("media:m2") is None
    assert store.find("sections") is None
    assert store.remove("toutv-m1", "a") is True
    assert store.find("show:s") is None
    assert list(tmp_path.iterdir()) == []


class Failing:
    """A catalogue whose show pages fail with *error*."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def show(self, slug: str) -> ShowDetail:
        raise self.error

    async def shows(self) -> list[ShowEntry]:
        return [ShowEntry("s", "Série")]


async def test_fallback_only_without_network(tmp_path: Path) -> None:
    store = ListingStore(tmp_path)
    store.save("toutv-m1", "a", "/x", {"show:s": SHOW})
    offline = OfflineCatalogue(Failing(ConnectionError("refused")), store)  # type: ignore[arg-type]
    records: dict[str, object] = {}
    token = LISTING_RECORDS.set(records)
    try:
        assert await offline.show("s") == SHOW
        assert await offline.shows() == [ShowEntry("s", "Série")]
    finally:
        LISTING_RECORDS.reset(token)
    assert records == {"show:s": SHOW, "shows": [ShowEntry("s", "Série")]}

    refused = UnexpectedHttpStatusCode("HTTP 404", status_code=404)
    offline = OfflineCatalogue(Failing(refused), store)  # type: ignore[arg-type]
    with pytest.raises(UnexpectedHttpStatusCode):
        await offline.show("s")
    with pytest.raises(ConnectionError):
        await OfflineCatalogue(Failing(ConnectionError("x")), store).show("t")  # type: ignore[arg-type]
