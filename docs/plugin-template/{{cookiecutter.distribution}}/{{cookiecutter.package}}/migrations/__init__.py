"""The plugin's Alembic branch (``versions/``), found by ``kohaweb db upgrade`` through the
``kohaweb.migrations`` entry point of this distribution."""
