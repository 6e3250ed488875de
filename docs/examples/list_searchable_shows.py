from toutvfs.client import toutv3
import sys


# create client
client = toutv3.client.Client(sys.argv[1], sys.argv[2])

# get the list of searchable shows
shows = client.search_show_summaries

# list them
for show in shows:
    print('{}:'.format(show.title))
    print('  URL name:        {}'.format(show.url))
    print('  Searchable text: {}'.format(show.searchable_text))
    print('  Is free?:        {}'.format(show.is_free))

# always release the cache when you're done!
client.release_cache()
