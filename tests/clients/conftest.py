"""The welcome SMS goes through the real SDK to the local AT server: the messages tests' fixtures."""
from tests.messages.conftest import at, gateway  # noqa: F401  (fixtures)
