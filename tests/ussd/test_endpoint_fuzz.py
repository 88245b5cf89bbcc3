"""Property test of ``POST /ussd``: random callers, networks and answer sequences, with AT's retries and lost records.

Whatever is typed: a 200 every time, ``CON ``/``END `` with a body after it,
never over the network's limit, a retry answered with the very same screen,
and never an END where the session should go on (an END never carries the
reason for a refused answer, and never says the service failed).
"""
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlalchemy import select

from gateway import i18n
from gateway.adapters.database import db
from gateway.core.models import User
from tests.ussd.conftest import CLIENT_PHONE, COORDINATOR_PHONE, OTHER_PHONE, UNKNOWN_PHONE, AtSession

LIKELY = ["", "0", "1", "2", "3", "4", "5", "6", "9", "98", "99", "1357", "2468", "0000", "01102025", "31022025",
          "01062026", "0821234567", "+27831234567", " 1 ", "😀", "1*2", "#", "*", "9" * 250]
answers = st.one_of(st.sampled_from(LIKELY), st.text(max_size=90), st.from_regex(r"[0-9]{1,10}", fullmatch=True))
# What a request may do besides answering: AT retries it, or Redis loses every record first.
moves = st.lists(st.tuples(answers, st.sampled_from(["answer", "answer", "answer", "retry", "flush"])), max_size=8)
LIMITS = {"63902": 160, "63903": 184, "99999": 160}
REASONS = {i18n.render(key, lang) for lang in i18n.catalogues() for key in i18n.keys()
           if key.startswith("ussd.error.") or key in ("ussd.pin.wrong",)}
FAILED = {i18n.render(key, lang) for lang in i18n.catalogues() for key in ("ussd.unavailable", "ussd.failed")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phone=st.sampled_from([CLIENT_PHONE, OTHER_PHONE, UNKNOWN_PHONE, COORDINATOR_PHONE]),
       network=st.sampled_from(sorted(LIMITS)), plan=moves)
def test_any_sequence_of_answers_gets_well_formed_screens(app, client, make_client, make_coordinator, phone,
                                                          network, plan):
    if db.session.scalar(select(User.id)) is None:  # the people calling, once for all examples
        make_client(language="en", art={"last_dispensed": "2025-11-01", "days_supply": 30}, pin="1357")
        make_client(phone=OTHER_PHONE, language="sw", infants=[{"date_of_birth": "2025-10-01"}])
        make_coordinator()
    session = AtSession(client, phone, network=network, limit=LIMITS[network])
    screen = session.dial()
    for answer, move in plan:
        if screen.startswith("END"):
            break
        if move == "retry":
            assert session.repeat() == screen
            continue
        if move == "flush":
            redis.Redis.from_url(app.config["SETTINGS"].redis_url).flushdb()
        screen = session.send(answer)
        if screen.startswith("END"):
            body = screen[4:]
            assert body not in FAILED, (session.text, screen)
            assert not any(body.startswith(reason) for reason in REASONS), (session.text, screen)
