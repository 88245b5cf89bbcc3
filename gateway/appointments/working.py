"""What planning reads of a client's appointments: her working set, one query, not her whole history."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm.attributes import set_committed_value

from gateway.adapters.database import db, unread
from gateway.core.models import Appointment, Client

# What planning reads of a client's appointments: every row of her infants' schedules (done and
# cancelled ones too, so a visit made is not planned again) and every row still due. Her done
# refills, one a pick-up, are history: the console and the API read them with queries of their own.
WORKING_APPOINTMENTS = or_(Appointment.kind != "art_refill", Appointment.status == "due")


def working_appointments(client: Client) -> list[Appointment]:
    """Her appointments as planning reads them (``WORKING_APPOINTMENTS``), as her ``appointments`` collection.

    A collection already read (a batch loaded with ``appointments.planning_options``,
    or read earlier in the session) is used as it is. An unread one is
    filled with her working rows only, one query, instead of every refill
    she ever collected; rows planning adds are appended to it as usual. In
    such a session the collection holds no done refills: only planning code
    reads it (``schedule_json`` and the console query her history themselves).
    """
    if unread(client, "appointments"):
        set_committed_value(client, "appointments", db.session.scalars(
            select(Appointment).where(Appointment.client_id == client.id, WORKING_APPOINTMENTS)
            .order_by(Appointment.id)).all())
    return client.appointments
