"""sqlglot has no MariaDB dialect; its MySQL one writes some MySQL 8 forms MariaDB lacks.
This subclass writes those the MariaDB way (imported only for MariaDB sites)."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL


class MariaDB(MySQL):
    class Generator(MySQL.Generator):
        TRANSFORMS = {
            **MySQL.Generator.TRANSFORMS,
            # MariaDB has no REGEXP_LIKE(); `a REGEXP b` means the same in both
            exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP"),
        }
