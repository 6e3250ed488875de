"""What each directory of the filesystem layer contains.

Layout::

    shows/<Show>/tvshow.nfo, poster.jpg, fanart.jpg
    shows/<Show>/<Season>/<SxxEyy Title>/<WxH>.ts, <WxH>.fr.vtt,
                                        <SxxEyy Title>.nfo, thumb.jpg
    shows/<Film>/<WxH>.ts, ...
    sections/<Section>/<Subsection>/<Show> -> ../../../shows/<Show>
    search/<query>/<Show> -> ../../shows/<Show>

Each loader lists one directory with the fewest catalogue calls: ``shows``
needs the show index only, a show directory its show page, an episode
directory the validation of its media.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from toutvfs.fs import names, nfo
from toutvfs.fs.nodes import DirectoryNode, Kind, MediaNode, Node
from toutvfs.fs.searches import Searches
from toutvfs.fs.source import EpisodeEntry, PlayableMedia, ShowEntry, VariantEntry

if TYPE_CHECKING:
    from toutvfs.fs.tree import Tree

log = logging.getLogger(__name__)

MEDIA_EXTENSION = ".ts"
CAPTIONS_EXTENSION = ".fr.vtt"
UNAVAILABLE_NAME = "UNAVAILABLE.txt"

# Widths asked of the image service for its ``(_Size_)`` placeholder.
POSTER_WIDTH = 600
FANART_WIDTH = 1920
THUMB_WIDTH = 640


def captions_identity(id_media: str, variant_key: str) -> str:
    """Return the identity of the captions file beside one media version."""
    return f"captions:{id_media}:{variant_key}"


def _ns(moment: dt.datetime | None) -> int:
    if moment is None:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000_000)


def sized_image(url: str, width: int) -> str:
    """Return an image URL with the service's size placeholder filled in."""
    return url.replace("(_Size_)", str(width))


def episode_dir_name(episode: EpisodeEntry) -> str:
    """Return the directory name of an episode: ``S01E02 Title``."""
    stem = names.clean_stem(episode.title)
    if episode.kind == "Episode":
        return f"S{episode.season:02d}E{episode.number:02d} {stem}"
    return stem


def variant_stems(variants: list[VariantEntry]) -> list[str]:
    """Name variants by resolution, adding the bit rate where two share one."""
    labels = [
        f"{v.resolution[0]}x{v.resolution[1]}" if v.resolution else "audio"
        for v in variants
    ]
    stems = []
    for label, variant in zip(labels, variants, strict=True):
        if labels.count(label) > 1:
            label = f"{label} {round(variant.bandwidth / 1000)}k"
        stems.append(label)
    return stems


def estimate_size(variant: VariantEntry, duration: int) -> int:
    """Estimate a media version's size from its bit rate and duration."""
    rate = variant.average_bandwidth or variant.bandwidth
    return rate * duration // 8


class Listings:
    """The loaders of every kind of directory of one tree."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.shows_dir: DirectoryNode | None = None
        self.searches = Searches(tree, self.query)

    # The top

    async def root(self, root: DirectoryNode) -> list[Node]:
        tree = self.tree
        shows = tree.directory(root, "shows", "shows", self.shows)
        self.shows_dir = shows
        search = tree.directory(root, "search", "search", self.searches.listing)
        search.on_missing = self.searches.lookup
        return [
            shows,
            tree.directory(root, "sections", "sections", self.sections),
            search,
        ]

    async def shows(self, directory: DirectoryNode) -> list[Node]:
        shows = await self.tree.catalogue.shows()
        final = names.dedupe(
            (show.slug, names.clean_stem(show.title), "") for show in shows
        )
        nodes: list[Node] = []
        for show in shows:
            node = self.tree.directory(
                directory, f"show:{show.slug}", final[show.slug], self.show
            )
            node.slug = show.slug
            node.show_title = show.title
            node.xattrs["url"] = show.slug
            nodes.append(node)
        return nodes

    # Shows, seasons and episodes

    async def show(self, directory: DirectoryNode) -> list[Node]:
        tree = self.tree
        show = await tree.catalogue.show(directory.slug)
        nodes: list[Node] = [
            tree.text(
                directory, f"tvshow:{show.slug}", "tvshow.nfo", nfo.show_nfo(show)
            )
        ]
        if show.poster_url:
            url = sized_image(show.poster_url, POSTER_WIDTH)
            nodes.append(
                tree.remote(directory, f"poster:{show.slug}", "poster.jpg", url)
            )
        if show.fanart_url:
            url = sized_image(show.fanart_url, FANART_WIDTH)
            nodes.append(
                tree.remote(directory, f"fanart:{show.slug}", "fanart.jpg", url)
            )
        if show.film is not None:
            directory.episode = show.film
            return nodes + await self.episode(directory)
        identities = [f"{season.number}:{season.title}" for season in show.seasons]
        final = names.dedupe(
            (identity, names.clean_stem(season.title), "")
            for identity, season in zip(identities, show.seasons, strict=True)
        )
        for identity, season in zip(identities, show.seasons, strict=True):
            node = tree.directory(
                directory,
                f"season:{show.slug}:{identity}",
                final[identity],
                self.season,
            )
            node.slug = show.slug
            node.show_title = show.title
            node.season = season
            if season.episodes:
                node.mtime_ns = max(_ns(e.aired) for e in season.episodes)
            nodes.append(node)
        return nodes

    async def season(self, directory: DirectoryNode) -> list[Node]:
        season = directory.season
        assert season is not None
        final = names.dedupe(
            (episode.id_media, episode_dir_name(episode), "")
            for episode in season.episodes
        )
        nodes: list[Node] = []
        for episode in season.episodes:
            node = self.tree.directory(
                directory,
                f"episode:{episode.id_media}",
                final[episode.id_media],
                self.episode,
            )
            node.episode = episode
            node.show_title = directory.show_title
            node.mtime_ns = _ns(episode.aired)
            node.xattrs.update(
                {"id_media": episode.id_media, "url": episode.url, "tier": episode.tier}
            )
            nodes.append(node)
        return nodes

    async def episode(self, directory: DirectoryNode) -> list[Node]:
        tree = self.tree
        episode = directory.episode
        assert episode is not None
        media = await tree.catalogue.media(episode.id_media)
        if media.unavailable is not None:
            return [self._notice(directory, episode, media)]
        nodes: list[Node] = [
            tree.text(
                directory,
                f"nfo:{episode.id_media}",
                names.fit_name(directory.name, ".nfo"),
                nfo.episode_nfo(directory.show_title, episode),
            )
        ]
        if episode.image_url:
            url = sized_image(episode.image_url, THUMB_WIDTH)
            nodes.append(
                tree.remote(directory, f"thumb:{episode.id_media}", "thumb.jpg", url)
            )
        for variant_stem, variant in zip(
            variant_stems(media.variants), media.variants, strict=True
        ):
            nodes.append(self._media(directory, episode, variant, variant_stem))
            if media.caption_url:
                nodes.append(
                    tree.remote(
                        directory,
                        captions_identity(episode.id_media, variant.key),
                        names.fit_name(variant_stem, CAPTIONS_EXTENSION),
                        media.caption_url,
                    )
                )
        return nodes

    def _media(
        self,
        directory: DirectoryNode,
        episode: EpisodeEntry,
        variant: VariantEntry,
        stem: str,
    ) -> MediaNode:
        tree = self.tree
        identity = f"media:{episode.id_media}:{variant.key}"
        inode = tree.inode_for(identity)
        existing = tree.get(inode)
        if isinstance(existing, MediaNode) and existing.size_exact:
            return existing
        known = tree.streams.known_size(episode.id_media, variant.key)
        size = known if known is not None else estimate_size(variant, episode.duration)
        node = MediaNode(
            inode=inode,
            identity=identity,
            name=names.fit_name(stem, MEDIA_EXTENSION),
            kind=Kind.MEDIA,
            parent=directory.inode,
            mtime_ns=_ns(episode.aired),
            id_media=episode.id_media,
            variant=variant,
            size=size,
            size_exact=known is not None,
        )
        node.xattrs.update(
            {
                "id_media": episode.id_media,
                "url": episode.url,
                "bandwidth": str(variant.bandwidth),
                "codecs": variant.codecs,
                "duration": str(episode.duration),
                "tier": episode.tier,
            }
        )
        if variant.resolution:
            node.xattrs["resolution"] = "{}x{}".format(*variant.resolution)
        return node

    def _notice(
        self, directory: DirectoryNode, episode: EpisodeEntry, media: PlayableMedia
    ) -> Node:
        text = f"{episode.title}\n\nTOU.TV: {media.unavailable}\n"
        node = self.tree.text(
            directory, f"notice:{episode.id_media}", UNAVAILABLE_NAME, text.encode()
        )
        node.xattrs["reason"] = media.reason
        return node

    # Sections and search: links into shows/

    async def _show_names(self) -> dict[str, str]:
        """Return the directory name in ``shows/`` of every show, by slug."""
        assert self.shows_dir is not None
        nodes = await self.tree.entries(self.shows_dir)
        return {
            node.slug: node.name for node in nodes if isinstance(node, DirectoryNode)
        }

    async def _links(
        self, directory: DirectoryNode, shows: list[ShowEntry], up: str
    ) -> list[Node]:
        known = await self._show_names()
        nodes: list[Node] = []
        seen: set[str] = set()
        for show in shows:
            name = known.get(show.slug)
            if name is None or name in seen:
                log.debug("%s is not in the show index; no link", show.slug)
                continue
            seen.add(name)
            nodes.append(
                self.tree.link(
                    directory,
                    f"link:{directory.identity}:{show.slug}",
                    name,
                    f"{up}shows/{name}",
                )
            )
        return nodes

    async def sections(self, directory: DirectoryNode) -> list[Node]:
        sections = await self.tree.catalogue.sections()
        final = names.dedupe(
            (section.slug, names.clean_stem(section.title), "") for section in sections
        )
        nodes: list[Node] = []
        for section in sections:
            node = self.tree.directory(
                directory, f"section:{section.slug}", final[section.slug], self.section
            )
            node.slug = section.slug
            node.xattrs["kind"] = section.kind
            nodes.append(node)
        return nodes

    async def section(self, directory: DirectoryNode) -> list[Node]:
        subsections = await self.tree.catalogue.subsections(directory.slug)
        final = names.dedupe(
            (str(index), names.clean_stem(sub.title, fallback="Tout"), "")
            for index, sub in enumerate(subsections)
        )
        nodes: list[Node] = []
        for index, sub in enumerate(subsections):
            node = self.tree.directory(
                directory,
                f"subsection:{directory.slug}:{sub.title}",
                final[str(index)],
                self.subsection,
            )
            node.slug = directory.slug
            node.members = sub.shows
            nodes.append(node)
        return nodes

    async def subsection(self, directory: DirectoryNode) -> list[Node]:
        return await self._links(directory, list(directory.members), "../../../")

    async def query(self, directory: DirectoryNode) -> list[Node]:
        shows = await self.tree.catalogue.search(directory.slug)
        return await self._links(directory, shows, "../../")
