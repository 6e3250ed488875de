from toutvfs.client import toutv3
import sys


# create client
client = toutv3.client.Client(sys.argv[1], sys.argv[2])

# get the specific show
show = client.get_show(sys.argv[3])

# get the latest episode of the latest season
season = show.season_lineups[-1]
episode = season.items[-1]

# print show, season, and episode titles
print('Show:    {}'.format(show.title))
print('Season:  {}'.format(season.title))
print('Episode: {}'.format(episode.title))
print()

# get the list of media versions of this show
media_versions = episode.media_versions

# pick the media version with the lowest quality
media_version = media_versions[0]

# create a download object
download = media_version.create_download()

# download media version to "/tmp/episode.ts"
last_printed_dl_segments = None

for progress in download.iter_download('/tmp/episode.ts'):
    if progress.dl_segments != last_printed_dl_segments:
        print('{}/{}'.format(progress.dl_segments,
                             progress.total_segments))
        last_printed_dl_segments = progress.dl_segments

# release the cache
client.release_cache()
