"""devpi-twisted: a PyPI caching mirror and private package index on Twisted."""

__version__ = "0.1.0"
