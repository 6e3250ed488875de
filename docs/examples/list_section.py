from toutvfs.client import toutv3
import sys


# create client
client = toutv3.client.Client(sys.argv[1], sys.argv[2])

# get the specific section
section = client.get_section(sys.argv[3])

# print section's title
print('Title: {}'.format(section.title))

# list subsection lineups
for subsection in section.subsection_lineups:
    print()
    print('Subsection: {}'.format(subsection.title))

    # list show items in subsection lineup
    for show_item in subsection.items:
        print('  {}'.format(show_item.title))
        print('    URL name: {}'.format(show_item.url))
        print('    Is free?: {}'.format(show_item.is_free))

# release the cache
client.release_cache()
