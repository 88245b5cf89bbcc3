"""Privacy tests use the console's fixtures (sites, people, signed-in sessions, enrolment)."""
from tests.interfaces.console.conftest import as_role, enrol, people, sites, web  # noqa: F401  (fixtures)
