from toutvfs.client import toutv3
import sys


# create client
client = toutv3.client.Client(sys.argv[1], sys.argv[2])

# get the specific show
show = client.get_show(sys.argv[3])

# print show's title
print('Title: {}'.format(show.title))

# list season lineups
for season in show.season_lineups:
    print()
    print('Season: {}'.format(season.title))

    # list episode items in season lineup
    for episode_item in season.items:
        print('  {}'.format(episode_item.title))
        print('    URL name: {}'.format(episode_item.url))
        print('    Is free?: {}'.format(episode_item.is_free))

# release the cache
client.release_cache()
