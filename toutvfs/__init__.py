"""toutvfs: the TOU.TV catalogue as a read-only FUSE filesystem."""

__version__ = "0.1.0"
