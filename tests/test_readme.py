"""The README's promises: the two commands first, and a settings table in step with the code."""

from pathlib import Path

from kohaweb.commands.info import all_settings
from kohaweb.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_settings_table_matches_declarations():
    text = README.read_text(encoding="utf-8")
    assert settings_table(all_settings()) in text, \
        "README settings table is stale: run `kohaweb settings --readme README.md`"


def test_two_commands_come_first():
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ", 2)[1]
    assert "make run" in first_section and "make test" in first_section
