"""The words of a reminder: discreet labels for the visits, joined, in the client's language."""
from __future__ import annotations

import datetime as dt

from gateway.i18n import format_date, render
from gateway.core.models import Appointment, Client

# Own visits first, then the child's; each label once.
_ORDER = ("art_refill", "immunisation", "infant_hiv_test", "child_art_refill")
# A child's medicine due the day of its clinic visit is named by the visit alone: one SMS part.
_COVERED_BY = {"child_art_refill": ("immunisation", "infant_hiv_test")}


def label_kind(kind: str, infant_id: int | None) -> str:
    """The label a visit is worded by: a child's own ART refill is "your child's medicine", not "your medicine"."""
    return "child_art_refill" if kind == "art_refill" and infant_id is not None else kind


def what(client: Client, appointments: list[Appointment]) -> str:
    """"pick up your medicine and your child's clinic visit": every visit named once, discreetly.

    Explicit labels (naming the medicine or the test) only for a client who asked for them.
    """
    prefix = "sms.explicit.label." if client.explicit_wording else "label."
    labels: list[str] = []
    kinds = {label_kind(a.kind, getattr(a, "infant_id", None)) for a in appointments}
    for kind in _ORDER:
        if kind in kinds and not kinds & set(_COVERED_BY.get(kind, ())):
            label = render(prefix + kind, client.language)
            if label not in labels:
                labels.append(label)
    joiner = f" {render('label.join_and', client.language)} "
    return joiner.join(labels)


def reminder_text(client: Client, template: str, appointments: list[Appointment], due_date: dt.date) -> str:
    """The SMS for a reminder: template before / today / missed, rendered in the client's language."""
    return render(f"sms.reminder.{template}", client.language, what=what(client, appointments),
                  date=format_date(due_date, client.language))
