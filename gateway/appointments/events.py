"""Care events as typed values: what happened to a client or her infant, already read and checked for shape.

The web skin reads a request (JSON, a form, a USSD answer) into one of these
(``gateway.interfaces.events.parse``); ``appointments.record_event`` applies
it and checks what only the domain knows (her today, her infants, her
country's schedule). Field names are the contract's (docs/api.md).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Union


@dataclass(frozen=True)
class ArtDispensed:
    """A pick-up of ART: ``days_supply`` days of medicine given on ``date``; ``next_visit``: the date the
    clinic booked for the next pick-up (the refill is due then, not at date + supply)."""

    type: ClassVar[str] = "art_dispensed"
    date: dt.date
    days_supply: int
    infant_id: int | None = None  # a child's own ART (a child whose HIV test was positive)
    next_visit: dt.date | None = None


@dataclass(frozen=True)
class InfantBorn:
    """A baby born to the client (``hiv_exposed``: her HIV tests are reminded)."""

    type: ClassVar[str] = "infant_born"
    date_of_birth: dt.date
    hiv_exposed: bool = True
    name: str | None = None


@dataclass(frozen=True)
class DoseGiven:
    """A dose or test of the infant's schedule, given on ``date`` (a name from the country's schedule)."""

    type: ClassVar[str] = "dose_given"
    infant_id: int
    dose: str
    date: dt.date


@dataclass(frozen=True)
class BreastfeedingEnded:
    """The infant stopped breastfeeding on ``date`` (it moves the final HIV test)."""

    type: ClassVar[str] = "breastfeeding_ended"
    infant_id: int
    date: dt.date


@dataclass(frozen=True)
class ClientClosed:
    """She leaves the programme on ``date`` (``reason``: models.CLIENT_CLOSE_REASONS): nothing is sent to her."""

    type: ClassVar[str] = "client_closed"
    date: dt.date
    reason: str


@dataclass(frozen=True)
class ClientReopened:
    """She is followed again from ``date``: her schedule is planned afresh from today."""

    type: ClassVar[str] = "client_reopened"
    date: dt.date


@dataclass(frozen=True)
class InfantClosed:
    """The infant leaves the programme (``reason``: models.INFANT_CLOSE_REASONS): its visits are cancelled."""

    type: ClassVar[str] = "infant_closed"
    infant_id: int
    date: dt.date
    reason: str


@dataclass(frozen=True)
class InfantReopened:
    """The infant is followed again: its schedule is planned afresh."""

    type: ClassVar[str] = "infant_reopened"
    infant_id: int
    date: dt.date


@dataclass(frozen=True)
class InfantTestResult:
    """The result of one of the infant's HIV tests (``test``: a name from its schedule), taken on ``date``."""

    type: ClassVar[str] = "infant_test_result"
    infant_id: int
    test: str
    date: dt.date
    result: str  # models.INFANT_HIV_RESULTS


Event = Union[ArtDispensed, InfantBorn, DoseGiven, BreastfeedingEnded, ClientClosed, ClientReopened,
              InfantClosed, InfantReopened, InfantTestResult]
EVENTS: dict[str, type] = {e.type: e for e in (ArtDispensed, InfantBorn, DoseGiven, BreastfeedingEnded, ClientClosed,
                                                ClientReopened, InfantClosed, InfantReopened, InfantTestResult)}
EVENT_TYPES = tuple(EVENTS)
