"""Kodi ``.nfo`` metadata files for shows and episodes, in the filesystem layer.

Kodi reads ``tvshow.nfo`` in a show directory and an ``episodedetails``
document beside each episode; both are UTF-8 XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from toutvfs.fs.source import EpisodeEntry, ShowDetail


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{body}\n'.encode()


def _add(parent: ET.Element, tag: str, text: str | int) -> None:
    ET.SubElement(parent, tag).text = str(text)


def episode_nfo(show_title: str, episode: EpisodeEntry) -> bytes:
    """Return the ``episodedetails`` document of *episode*."""
    root = ET.Element("episodedetails")
    _add(root, "title", episode.title)
    _add(root, "showtitle", show_title)
    _add(root, "season", episode.season)
    _add(root, "episode", episode.number)
    _add(root, "plot", episode.description)
    if episode.aired is not None:
        _add(root, "aired", episode.aired.date().isoformat())
    # Kodi's runtime is in minutes.
    _add(root, "runtime", round(episode.duration / 60))
    if episode.rating:
        _add(root, "mpaa", episode.rating)
    uniqueid = ET.SubElement(root, "uniqueid", type="toutv", default="true")
    uniqueid.text = episode.id_media
    return _document(root)


def show_nfo(show: ShowDetail) -> bytes:
    """Return the ``tvshow`` document of *show*."""
    root = ET.Element("tvshow")
    _add(root, "title", show.title)
    _add(root, "plot", show.description)
    for genre in show.genres:
        _add(root, "genre", genre)
    uniqueid = ET.SubElement(root, "uniqueid", type="toutv", default="true")
    uniqueid.text = show.slug
    return _document(root)
