"""What a calendar client ends up with, applying the invitations it received in order, is what
the app itself says: the same occurrences at the same instants over a year (moves, cancelled
occurrences, a series edit, "this and following", people added late or taken off).

The client model follows RFC 5546 the way common clients do: per UID, a REQUEST that carries the
master replaces the whole event (master and instances); a REQUEST with only an instance replaces
that instance; a CANCEL with the master deletes the event, with an instance deletes that one;
anything with a lower SEQUENCE than what the client already has for the UID is ignored as stale.
The stored event is expanded with recurring-ical-events."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

import recurring_ical_events
from icalendar import Calendar

from app.accounts.models import Role
from app.db_types import utcnow
from app.scheduling import services
from app.scheduling.models import ParticipantRole
from tests.invites.conftest import (calendar_of, monday_before_next_london_dst_change,
                                    originals, vevents, weekly_input)

UTC = timezone.utc


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


@dataclass
class Stored:
    master: object
    instances: dict = field(default_factory=dict)  # RECURRENCE-ID (UTC) -> VEVENT
    cancelled: set = field(default_factory=set)  # RECURRENCE-IDs (UTC) cancelled one by one
    sequence: int = 0


class CalendarClient:
    def __init__(self):
        self.events: dict[str, Stored] = {}
        self.timezones: dict[str, object] = {}
        self.sequences: dict[str, list[int]] = {}  # what arrived, per UID, in order
        self.ignored: list[tuple[str, int]] = []

    def receive(self, calendar: Calendar) -> None:
        method = str(calendar["METHOD"])
        for tz in calendar.walk("VTIMEZONE"):
            self.timezones[str(tz["TZID"])] = tz
        events = vevents(calendar)
        uids = {str(e["UID"]) for e in events}
        assert len(uids) == 1, "one iTIP message, one UID"
        [uid] = uids
        sequence = max(int(e.get("SEQUENCE", 0)) for e in events)
        self.sequences.setdefault(uid, []).append(sequence)
        stored = self.events.get(uid)
        if stored is not None and sequence < stored.sequence:
            self.ignored.append((uid, sequence))
            return
        master = next((e for e in events if "RECURRENCE-ID" not in e), None)
        instances = {utc(e["RECURRENCE-ID"].dt): e for e in events if "RECURRENCE-ID" in e}
        if method == "REQUEST":
            if master is not None:
                self.events[uid] = Stored(master, instances, set(), sequence)
            else:
                assert stored is not None, "an instance of an event the client never got"
                stored.instances.update(instances)
                stored.cancelled -= set(instances)
                stored.sequence = sequence
        elif method == "CANCEL":
            if master is not None:
                self.events.pop(uid, None)
            elif stored is not None:
                for rid in instances:
                    stored.instances.pop(rid, None)
                    stored.cancelled.add(rid)
                stored.sequence = sequence
        else:
            raise AssertionError(f"unexpected METHOD {method}")

    def occurrences(self, window_start: datetime, window_end: datetime) -> set:
        found = set()
        for stored in self.events.values():
            calendar = Calendar()
            calendar.add("prodid", "-//test calendar client//EN")
            calendar.add("version", "2.0")
            for tz in self.timezones.values():
                calendar.add_component(tz)
            calendar.add_component(stored.master)
            for instance in stored.instances.values():
                calendar.add_component(instance)
            for occ in recurring_ical_events.of(calendar).between(
                    window_start - timedelta(days=1), window_end):
                if str(occ.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                if "RECURRENCE-ID" in occ and utc(occ["RECURRENCE-ID"].dt) in stored.cancelled:
                    continue
                start = utc(occ.start)
                if window_start <= start < window_end:
                    found.add((start, utc(occ.end)))
        return found


def app_occurrences(sessions, window_start, window_end) -> set:
    return {(occ.start, occ.end)
            for occ in services.occurrences_between(sessions, window_start, window_end)
            if not occ.cancelled}


class Mailboxes:
    """One calendar client per address, fed with every message the SMTP server received."""

    def __init__(self, smtp):
        self.smtp = smtp
        self.clients: dict[str, CalendarClient] = {}
        self.seen = 0

    def sync(self) -> None:
        for received in self.smtp.received[self.seen:]:
            [address] = received.rcpt_tos
            self.clients.setdefault(address, CalendarClient()).receive(
                calendar_of(received.message))
        self.seen = len(self.smtp.received)

    def of(self, user) -> CalendarClient:
        return self.clients[user.email]


def year_ahead():
    start = utcnow().replace(microsecond=0)
    return start, start + timedelta(days=365)


def check_sequences(client: CalendarClient, uids) -> None:
    assert set(client.sequences) == set(uids), "UIDs stay the same across updates"
    for uid, sequences in client.sequences.items():
        assert sequences == sorted(sequences), f"SEQUENCE went down for {uid}: {sequences}"
    assert client.ignored == []


def test_a_clients_calendar_matches_the_app_after_moves_cancellations_and_edits(
        school, make, smtp, run_worker):
    teacher, (sara, ben) = school.teacher, school.students
    mail = Mailboxes(smtp)

    def settle():
        run_worker()
        mail.sync()

    # Weekly across the next DST change (London's and New York's).
    session = services.schedule_session(teacher, weekly_input(
        school.students, date=monday_before_next_london_dst_change(), count=16))
    settle()
    first = originals(session)
    services.move_occurrence(teacher, session, first[1],
                             datetime.combine(first[1].date() + timedelta(days=1), time(9)),
                             new_duration_minutes=45, reason="Mock exam")
    services.cancel_occurrence(teacher, session, first[3], reason="Holiday")
    settle()

    # A new time for the series: those overrides no longer name an occurrence and go.
    data = services.input_from_session(session)
    data.start_time = time(17, 0)
    services.update_series(teacher, session, data)
    settle()
    later = originals(session)
    services.move_occurrence(teacher, session, later[5], later[5] + timedelta(hours=2))
    services.cancel_occurrence(teacher, session, later[8])
    services.move_occurrence(teacher, session, later[10], later[10] - timedelta(hours=3))
    services.cancel_occurrence(teacher, session, later[10])  # moved, then cancelled
    settle()

    # A new title only (no new SEQUENCE): the full series goes out, overrides included.
    data = services.input_from_session(session)
    data.title = "Algebra (revision)"
    services.update_series(teacher, session, data)
    settle()

    # Someone added late gets the series as it is now; someone taken off loses it.
    observer = make.user(school.center, Role.TEACHER, name="Olive Observer")
    services.add_participants(teacher, session, [observer.id], role=ParticipantRole.OBSERVER)
    services.remove_participant(teacher, session, ben.id)
    settle()

    window = year_ahead()
    expected = app_occurrences([session], *window)
    occurrences = services.occurrences_between([session], *window)
    assert len([o for o in occurrences if o.moved and not o.cancelled]) == 1
    assert len([o for o in occurrences if o.cancelled]) == 2  # one of them moved first
    assert len(expected) == 16 - 2
    for user in (teacher, sara, observer):
        client = mail.of(user)
        assert client.occurrences(*window) == expected, user.name
        check_sequences(client, [session.ical_uid])
    assert mail.of(ben).occurrences(*window) == set()
    check_sequences(mail.of(ben), [session.ical_uid])
    assert max(mail.of(sara).sequences[session.ical_uid]) == session.sequence


def test_a_clients_calendar_matches_the_app_after_this_and_following(school, smtp, run_worker):
    teacher = school.teacher
    mail = Mailboxes(smtp)

    def settle():
        run_worker()
        mail.sync()

    session = services.schedule_session(teacher, weekly_input(
        school.students, date=monday_before_next_london_dst_change(), count=12))
    settle()
    starts = originals(session)
    services.cancel_occurrence(teacher, session, starts[2])
    services.move_occurrence(teacher, session, starts[8],
                             datetime.combine(starts[8].date(), time(12, 15)))
    settle()

    # From the 6th on: a new title and length, same time (the move after it carries over).
    data = services.input_from_session(session)
    data.date, data.title, data.duration_minutes, data.count = \
        starts[5].date(), "Algebra II", 45, None
    new = services.split_series(teacher, session, starts[5], data)
    settle()
    services.cancel_occurrence(teacher, new, originals(new)[1])
    settle()

    window = year_ahead()
    expected = app_occurrences([session, new], *window)
    assert len(expected) == 12 - 2
    assert any(o.moved for o in services.occurrences_between([new], *window))
    for user in (teacher, *school.students):
        client = mail.of(user)
        assert client.occurrences(*window) == expected, user.name
        check_sequences(client, [session.ical_uid, new.ical_uid])
