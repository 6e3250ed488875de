from toutvfs.client import toutv3
import sys


# create client
client = toutv3.client.Client(sys.argv[1], sys.argv[2])

# get the list of section summaries
section_summaries = client.section_summaries

# list them
for section_summary_name, section_summary in section_summaries.items():
    print('{}:'.format(section_summary.title))
    print('  Name: {}'.format(section_summary_name))

# release the cache
client.release_cache()
