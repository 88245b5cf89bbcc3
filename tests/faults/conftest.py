"""Fault drills reuse the AT-wired gateway fixtures of the messages tests; ``rig`` puts workers on them."""
import pytest

from tests.faults import drills
from tests.messages.conftest import at, gateway  # noqa: F401

CAP = 10  # recipients per AT request in the CI drills: the most one cut request can double


@pytest.fixture
def rig(gateway, at, settings, tmp_path):  # noqa: F811
    """The suite's database and Redis (SQLite + embedded Redis, or PostgreSQL + Redis), the fake AT, workers' logs."""
    gateway.config["SETTINGS"] = gateway.config["SETTINGS"].replace(at_max_recipients=CAP)
    at.configure(delivery_url=None)  # delivery reports have a drill of their own; here they would only cost CPU
    logdir = tmp_path / "logs"
    logdir.mkdir()
    return drills.Rig(app=gateway, at=at, database_url=settings.database_url, redis_url=settings.redis_url,
                      cap=CAP, logdir=logdir)


def pytest_terminal_summary(terminalreporter):
    """The drills' numbers (duplicates at AT among them), whether the drills passed or not."""
    if drills.REPORTED:
        terminalreporter.section("fault drills")
        for line in drills.REPORTED:
            terminalreporter.write_line(line)
