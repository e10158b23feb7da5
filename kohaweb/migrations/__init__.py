"""The core's Alembic branch (``versions/``) and the environment every branch runs in.

Each installed distribution may ship its own branch: a package with a ``versions/`` directory,
named by an entry point in the ``kohaweb.migrations`` group (this package is the core's). See
:mod:`kohaweb.migrate`.
"""
