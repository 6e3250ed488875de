"""Client tests: properties of the parsers and redaction, over generated input."""

from __future__ import annotations

import copy
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from toutvfs.client import parse
from toutvfs.client.redact import SAFE_QUERY_KEYS, redact_text, redact_url

from . import payloads

json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
unknown_keys = st.dictionaries(
    st.text(alphabet=string.ascii_letters, min_size=3, max_size=12).map(
        lambda key: "zz" + key
    ),
    json_value,
    max_size=4,
)

OPTIONAL_ITEM_FIELDS = (
    "infoTitle",
    "description",
    "tier",
    "images",
    "url",
    "episodeNumber",
    "mediaType",
    "metadata",
    "links",
)


@settings(max_examples=60, deadline=None)
@given(extra=unknown_keys, nulls=st.sets(st.sampled_from(OPTIONAL_ITEM_FIELDS)))
def test_show_unknown_fields_and_nulls(extra, nulls):
    data = payloads.show()
    reference = parse.parse_show(copy.deepcopy(data), "show/x", "x")
    item = data["content"][0]["lineups"][1]["items"][0]
    item.update(extra)
    data.update(extra)
    for name in nulls:
        item[name] = None
    show = parse.parse_show(data, "show/x", "x")
    assert [i.id_media for i in show.items] == [i.id_media for i in reference.items]
    assert show.title == reference.title
    parsed = show.lineups[1].items[0]
    if "description" in nulls:
        assert parsed.description is None
    if "metadata" in nulls:
        assert parsed.duration is None


@settings(max_examples=60, deadline=None)
@given(extra=unknown_keys)
def test_browse_unknown_fields(extra):
    data = payloads.browse()
    reference = parse.parse_browse(copy.deepcopy(data), "browse")
    data.update(extra)
    for entry in data["formats"]:
        entry.update(extra)
    assert parse.parse_browse(data, "browse") == reference


# Lower case and digits, so that an upper-case key is never part of a secret.
secret_values = st.text(
    alphabet=string.ascii_lowercase + string.digits + "~=*-_.", min_size=6, max_size=30
)


@settings(max_examples=100, deadline=None)
@given(
    key=st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=10),
    secret=secret_values,
)
def test_redact_url_hides_unsafe_values(key, secret):
    url = f"https://cdn.test/a/b.m3u8?{key}={secret}&device=web"
    redacted = redact_url(url)
    assert "device=web" in redacted
    if key not in SAFE_QUERY_KEYS:
        assert secret not in redacted


@settings(max_examples=100, deadline=None)
@given(claims=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_redact_text_hides_any_jwt(claims):
    token = payloads.jwt(claims)
    assert token not in redact_text(f"header value {token} end")
