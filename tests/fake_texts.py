"""Fake texts for tests of languages under translation, kept in the test database only.

No real translation is ever written in tests: a "translated" text is a clearly
fake marker, the English in capitals with its ``{placeholders}`` as they are.
"""
from __future__ import annotations

import re

import pytest

from gateway import i18n, translations
from gateway.adapters.database import db
from gateway.core.models import Translation


def fake(text: str) -> str:
    """A marker no one could take for a translation: the English in capitals, placeholders as they are."""
    return re.sub(r"[^{}]+(?=\{|$)|(?<=\})[^{}]+", lambda m: m.group(0).upper(), text)


def fake_all(lang: str, leave_out: tuple[str, ...] = (), state: str = "reviewed") -> None:
    """Fake-marker rows for every text of ``lang`` but ``leave_out``, written straight to the test database."""
    for key in i18n.keys():
        if key not in leave_out:
            db.session.add(Translation(language=lang, key=key, state=state, updated_by="test",
                                       text=fake(translations.as_text(translations.english(key)))))
    db.session.commit()
    translations.changed()


@pytest.fixture
def fresh_texts(app):
    """The test starts and ends with the shipped texts only in this process (the installed copy is per process)."""
    translations.forget()
    yield
    db.session.rollback()
    translations.forget()  # not read again now: the test's rows are still there until the app fixture empties them
