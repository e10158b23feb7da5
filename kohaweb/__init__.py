"""kohaweb: the web services of an integrated library system.

The core (this package) owns the catalogue, the metadata-format registry, authentication,
settings and the CLI; every web service is a plugin found through entry points.
"""

__version__ = "0.2.0"
