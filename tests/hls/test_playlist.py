"""Playlist parsing: variants, parts, IVs, byte ranges and rejections."""

from __future__ import annotations

import pytest

from toutvfs.errors import PlaylistError, UnsupportedMedia
from toutvfs.hls.playlist import parse_master, parse_media, redact

BASE = "https://cdn.test/path/media.m3u8?sig=secret"

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=2816000,RESOLUTION=1280x720,CODECS="avc1.4d401f"
hi.m3u8?sig=1
#EXT-X-STREAM-INF:BANDWIDTH=528000,AVERAGE-BANDWIDTH=480000,RESOLUTION=480x270
lo.m3u8?sig=1
#EXT-X-STREAM-INF:BANDWIDTH=528000,RESOLUTION=480x270
lo2.m3u8?sig=1
#EXT-X-STREAM-INF:BANDWIDTH=64000
audio.m3u8
"""


def media(*body: str, header: str = "#EXT-X-MEDIA-SEQUENCE:7") -> str:
    return "\n".join(
        ["#EXTM3U", "#EXT-X-TARGETDURATION:4", header, *body, "#EXT-X-ENDLIST", ""]
    )


def test_master_sorted_by_bandwidth():
    variants = parse_master(MASTER, "https://cdn.test/m/master.m3u8?sig=1")
    assert [v.bandwidth for v in variants] == [64000, 528000, 528000, 2816000]
    assert [v.key for v in variants] == [
        "64k",
        "270p-528k",
        "270p-528k-2",
        "720p-2816k",
    ]
    assert variants[1].uri == "https://cdn.test/m/lo.m3u8?sig=1"
    assert variants[1].average_bandwidth == 480000
    assert variants[1].resolution == (480, 270)
    assert variants[3].codecs == "avc1.4d401f"
    assert variants[0].resolution is None
    assert variants[0].codecs is None


def test_media_playlist_as_master():
    variants = parse_master(media("#EXTINF:4,", "a.ts"), BASE)
    assert len(variants) == 1
    assert variants[0].uri == BASE
    assert variants[0].key == "media"


def test_master_session_key_sample_aes():
    text = MASTER + '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://k"\n'
    with pytest.raises(UnsupportedMedia) as caught:
        parse_master(text, BASE)
    assert caught.value.signal == "SAMPLE-AES"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<!DOCTYPE html><html><body>Access denied</body></html>",
        '{"error": "not found"}',
        "\n\n",
    ],
)
def test_non_playlists_rejected(text):
    with pytest.raises(PlaylistError, match="not an HLS playlist"):
        parse_master(text, BASE)
    with pytest.raises(PlaylistError, match="not an HLS playlist"):
        parse_media(text, BASE)


def test_master_without_variants():
    with pytest.raises(PlaylistError, match="no variants"):
        parse_master("#EXTM3U\n#EXT-X-VERSION:3\n", BASE)


def test_media_without_segments():
    with pytest.raises(PlaylistError, match="no segments"):
        parse_media(media(), BASE)


def test_live_playlist_rejected():
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n"
    with pytest.raises(PlaylistError, match="live"):
        parse_media(text, BASE)


def test_vod_type_without_endlist_accepted():
    text = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:4,\na.ts\n"
    assert len(parse_media(text, BASE)) == 1


def test_master_given_as_media():
    with pytest.raises(PlaylistError, match="master playlist"):
        parse_media(MASTER, BASE)


def test_implicit_iv_is_sequence_number():
    text = media(
        '#EXT-X-KEY:METHOD=AES-128,URI="k.bin?t=1"',
        "#EXTINF:4,",
        "a.ts",
        "#EXTINF:4,",
        "b.ts",
    )
    parts = parse_media(text, BASE)
    assert [p.encryption.iv for p in parts] == [
        (7).to_bytes(16, "big"),
        (8).to_bytes(16, "big"),
    ]
    assert parts[0].encryption.key_uri == "https://cdn.test/path/k.bin?t=1"
    assert parts[1].uri == "https://cdn.test/path/b.ts"


def test_explicit_iv_rotation_and_none():
    text = media(
        '#EXT-X-KEY:METHOD=AES-128,URI="k1",IV=0X000102030405060708090A0B0C0D0E0F',
        "#EXTINF:4,",
        "a.ts",
        "#EXT-X-KEY:METHOD=NONE",
        "#EXTINF:4,",
        "b.ts",
        '#EXT-X-KEY:METHOD=AES-128,URI="k2",IV=0x1',
        "#EXTINF:4,",
        "c.ts",
    )
    first, second, third = parse_media(text, BASE)
    assert first.encryption.iv == bytes(range(16))
    assert first.encryption.key_uri.endswith("/k1")
    assert second.encryption is None
    assert third.encryption.iv == (1).to_bytes(16, "big")
    assert third.encryption.key_uri.endswith("/k2")


def test_byterange_offsets_follow_previous():
    text = media(
        "#EXTINF:4,",
        "#EXT-X-BYTERANGE:100@50",
        "all.ts",
        "#EXTINF:4,",
        "#EXT-X-BYTERANGE:200",
        "all.ts",
        "#EXTINF:4,",
        "#EXT-X-BYTERANGE:300@0",
        "other.ts",
        "#EXTINF:4,",
        "#EXT-X-BYTERANGE:10",
        "all.ts",
    )
    assert [p.byterange for p in parse_media(text, BASE)] == [
        (50, 100),
        (150, 200),
        (0, 300),
        (350, 10),
    ]


def test_byterange_without_any_offset():
    text = media("#EXTINF:4,", "#EXT-X-BYTERANGE:100", "all.ts")
    with pytest.raises(PlaylistError, match="no offset"):
        parse_media(text, BASE)


def test_init_section_once_and_encrypted():
    text = media(
        '#EXT-X-KEY:METHOD=AES-128,URI="init.key",IV=0x2',
        '#EXT-X-MAP:URI="init.mp4"',
        '#EXT-X-KEY:METHOD=AES-128,URI="seg.key",IV=0x3',
        "#EXTINF:4,",
        "a.m4s",
        "#EXTINF:4,",
        "b.m4s",
        '#EXT-X-MAP:URI="init2.mp4",BYTERANGE="500@0"',
        "#EXTINF:4,",
        "c.m4s",
    )
    parts = parse_media(text, BASE)
    assert [(p.kind, p.index, p.uri.rsplit("/", 1)[1]) for p in parts] == [
        ("init", 0, "init.mp4"),
        ("segment", 0, "a.m4s"),
        ("segment", 1, "b.m4s"),
        ("init", 2, "init2.mp4"),
        ("segment", 2, "c.m4s"),
    ]
    assert parts[0].encryption.key_uri.endswith("/init.key")
    assert parts[0].encryption.iv == (2).to_bytes(16, "big")
    assert parts[3].encryption.key_uri.endswith("/seg.key")
    assert parts[3].encryption.iv == (3).to_bytes(16, "big")
    assert parts[3].byterange == (0, 500)
    assert parts[0].label == "init section of segment 0"
    assert parts[4].label == "segment 2"


def test_encrypted_init_without_iv():
    text = media(
        '#EXT-X-KEY:METHOD=AES-128,URI="k"', '#EXT-X-MAP:URI="i.mp4"', "#EXTINF:4,", "a"
    )
    with pytest.raises(PlaylistError, match="EXT-X-MAP"):
        parse_media(text, BASE)


@pytest.mark.parametrize(
    ("key", "signal"),
    [
        ('METHOD=SAMPLE-AES,URI="skd://x"', "SAMPLE-AES"),
        ('METHOD=SAMPLE-AES-CTR,URI="k"', "SAMPLE-AES"),
        (
            'METHOD=AES-128,URI="k",KEYFORMAT="com.apple.streamingkeydelivery"',
            "KEYFORMAT",
        ),
        ('METHOD=AES-128,URI="k",KEYFORMAT="urn:uuid:edef8ba9"', "KEYFORMAT"),
    ],
)
def test_drm_keys_rejected(key, signal):
    text = media(f"#EXT-X-KEY:{key}", "#EXTINF:4,", "a.ts")
    with pytest.raises(UnsupportedMedia) as caught:
        parse_media(text, BASE)
    assert caught.value.signal == signal


def test_identity_keyformat_accepted():
    text = media(
        '#EXT-X-KEY:METHOD=AES-128,URI="k",KEYFORMAT="identity"', "#EXTINF:4,", "a"
    )
    assert parse_media(text, BASE)[0].encryption is not None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ('METHOD=AES-256,URI="k"', "unknown key method"),
        ("METHOD=AES-128", "no URI"),
        ('METHOD=AES-128,URI="k",IV=0xZZ', "not 128 bits"),
        ('METHOD=AES-128,URI="k",IV=0x' + "1" * 34, "not 128 bits"),
    ],
)
def test_bad_keys_rejected(key, message):
    text = media(f"#EXT-X-KEY:{key}", "#EXTINF:4,", "a.ts")
    with pytest.raises(PlaylistError, match=message):
        parse_media(text, BASE)


def test_identity_ignores_query():
    one = parse_media(
        media('#EXT-X-KEY:METHOD=AES-128,URI="k?a=1"', "#EXTINF:4,", "s?a=1"), BASE
    )
    two = parse_media(
        media('#EXT-X-KEY:METHOD=AES-128,URI="k?a=2"', "#EXTINF:4,", "s?a=2"), BASE
    )
    assert one[0].identity() == two[0].identity()
    assert one[0].uri != two[0].uri


def test_redact_drops_query():
    assert redact(BASE) == "https://cdn.test/path/media.m3u8"
    assert "secret" not in redact(BASE)
