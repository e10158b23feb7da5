"""The core's own CLI sub-commands, registered through the ``kohaweb.commands`` entry points."""
