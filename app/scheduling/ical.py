"""iCalendar (RFC 5545) documents for sessions, built with the icalendar library.

The VEVENT builders are shared by the personal calendar feed (a published calendar) and, later,
the emailed invitations (iTIP METHOD:REQUEST / CANCEL): a series is always the same set of
VEVENTs, one master plus one per occurrence that has its own time, whatever carries them.

How a session maps to VEVENTs:

* master: UID = ``session.ical_uid``, DTSTART with the session's TZID (its local wall-clock time
  and IANA zone, so clients keep a weekly 16:00 at 16:00 across DST), DTEND, RRULE from
  ``recurrence.rrule_string`` (UNTIL in UTC), one EXDATE per cancelled occurrence at its
  *original* start, STATUS:CANCELLED when the whole series is cancelled.
* one VEVENT per moved occurrence (new time and/or new duration): same UID, RECURRENCE-ID = the
  original start with the TZID, its own DTSTART/DTEND. A cancelled occurrence that had been moved
  is only an EXDATE: it no longer exists, so it has no instance of its own.

SEQUENCE: every VEVENT of a series carries the *series'* SEQUENCE (``session.sequence``), which
the services bump on every change of the series or of any one occurrence. An override's own
counter restarts at 0 for each occurrence (and for overrides carried into a split series), so it
can be lower than what the master already told a client; clients such as Outlook then ignore the
instance as stale. The series' counter never goes backwards for any instance.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vDuration, vRecur

from app.db_types import utcnow
from app.scheduling import recurrence
from app.scheduling.models import ParticipantRole, Rsvp, VideoSession
from app.scheduling.services import schedule_of

PRODID = "-//Classhub//Classhub sessions//EN"
# How often subscribed clients should fetch the feed again (RFC 7986 and the de-facto X- form).
FEED_REFRESH = timedelta(hours=1)

_PARTSTAT = {Rsvp.NEEDS_ACTION: "NEEDS-ACTION", Rsvp.ACCEPTED: "ACCEPTED",
             Rsvp.DECLINED: "DECLINED", Rsvp.TENTATIVE: "TENTATIVE"}
_ROLE = {ParticipantRole.INSTRUCTOR: "CHAIR", ParticipantRole.LEARNER: "REQ-PARTICIPANT",
         ParticipantRole.OBSERVER: "OPT-PARTICIPANT"}


def session_url(session: VideoSession, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/sessions/{session.id}"


def _local(local: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in the session's zone, written with its TZID. A time in the
    spring-forward gap or the fall-back overlap is read with fold=0 by RFC 5545 clients too
    (the offset before the transition), so it names the same instant as ``local_to_utc``."""
    return local.replace(tzinfo=tz, fold=0)


def instance_end(start_utc: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """DTEND of an instance that lasts exactly ``minutes``. Written in the session's zone unless
    that wall-clock time does not name the end instant unambiguously (it falls in the second
    pass of a fall-back hour): then in UTC, which RFC 5545 allows for DTEND."""
    end = recurrence.shifted(start_utc, timedelta(minutes=minutes))
    local = recurrence.utc_to_local(end, tz)
    if recurrence.local_to_utc(local, tz) == end:
        return _local(local, tz)
    return end


def local_end(local: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """DTEND of an instance starting at the wall-clock time ``local``: ``instance_end`` of its
    instant, or, for a row from before dates were bounded whose instant is past what datetime
    holds (9999-12-31 in New York is year 10000 in UTC), the wall-clock end."""
    try:
        start_utc = local.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    except OverflowError:
        return _local(recurrence.shifted(local, timedelta(minutes=minutes)), tz)
    return instance_end(start_utc, minutes, tz)


def _organizer(session: VideoSession) -> vCalAddress:
    organizer = vCalAddress(f"mailto:{session.teacher.email}")
    organizer.params["CN"] = session.teacher.name
    return organizer


def _attendees(session: VideoSession) -> list[vCalAddress]:
    found = []
    for participant in session.participants:
        if participant.user_id == session.teacher_id:
            continue  # the teacher is the ORGANIZER
        attendee = vCalAddress(f"mailto:{participant.user.email}")
        attendee.params["CN"] = participant.user.name
        attendee.params["ROLE"] = _ROLE[participant.role]
        attendee.params["PARTSTAT"] = _PARTSTAT[participant.rsvp]
        attendee.params["CUTYPE"] = "INDIVIDUAL"
        found.append(attendee)
    return found


def event_description(session: VideoSession, extra: str = "") -> str:
    parts = [session.description.strip()] if session.description else []
    if session.is_cancelled:
        parts.append("Cancelled" + (f": {session.cancel_reason}" if session.cancel_reason else "."))
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


def session_event(session: VideoSession, base_url: str, *, start: datetime, end: datetime,
           stamp: datetime, description: str, with_attendees: bool,
           recurrence_id: datetime | None = None) -> Event:
    event = Event.new(
        uid=session.ical_uid, sequence=session.sequence, stamp=stamp, start=start, end=end,
        summary=session.title, description=description or None,
        url=session_url(session, base_url),
        status="CANCELLED" if session.is_cancelled else "CONFIRMED",
        organizer=_organizer(session), recurrence_id=recurrence_id,
        attendees=_attendees(session) if with_attendees else None)
    if session.type is not None:
        event.add("categories", [session.type.label])
    return event


def series_events(session: VideoSession, base_url: str, *, stamp: datetime | None = None,
                  with_attendees: bool = False) -> list[Event]:
    """The VEVENTs of one session: the master, then one per moved occurrence (by original
    start).

    ``with_attendees`` adds an ATTENDEE per participant (invitations need them; the feed leaves
    them out so a student's calendar does not list classmates' addresses).
    """
    stamp = stamp or utcnow()
    tz = session.tz
    schedule = schedule_of(session)
    master = session_event(session, base_url, start=_local(session.start_local, tz),
                    end=local_end(session.start_local, session.duration_minutes, tz), stamp=stamp,
                    description=event_description(session), with_attendees=with_attendees)
    if not session.is_recurring:
        return [master]
    master.add("rrule", vRecur.from_ical(recurrence.rrule_string(schedule)))

    # Only overrides that still name an occurrence of the rule count (a changed rule drops the
    # others); the same test recurrence.expand applies.
    overrides = sorted((o for o in session.overrides
                        if recurrence.is_original_start(schedule, o.original_start_local)),
                       key=lambda o: o.original_start_local)
    cancelled = [o.original_start_local for o in overrides if o.cancelled]
    if cancelled:
        master.add("exdate", [_local(original, tz) for original in cancelled])

    events = [master]
    for override in overrides:
        if override.cancelled or (override.new_start_local is None
                                  and override.new_duration_minutes is None):
            continue
        local = override.new_start_local or override.original_start_local
        minutes = override.new_duration_minutes or session.duration_minutes
        note = f"Moved: {override.reason}" if override.reason else ""
        events.append(session_event(
            session, base_url, start=_local(local, tz),
            end=local_end(local, minutes, tz), stamp=stamp,
            description=event_description(session, note), with_attendees=with_attendees,
            recurrence_id=_local(override.original_start_local, tz)))
    return events


def new_calendar(*, name: str | None = None, method: str | None = None,
                 uid: str | None = None) -> Calendar:
    """An empty VCALENDAR (VERSION, PRODID, CALSCALE; METHOD for iTIP messages such as the
    emailed invitations' REQUEST/CANCEL; NAME and X-WR-CALNAME when named; a calendar UID only
    when given: icalendar would invent a new random one for every document otherwise)."""
    calendar = Calendar.new(prodid=PRODID, calscale="GREGORIAN", method=method, name=name,
                            uid=uid)
    if uid is None:
        del calendar["UID"]
    return calendar


def add_timezones(calendar: Calendar, sessions) -> None:
    """The VTIMEZONE of every TZID the calendar uses, with transitions from a year before the
    earliest session (a full history since 1970 would triple the size of a small feed)."""
    starts = [s.start_local.date() for s in sessions]
    first = date(max(min(starts).year - 1, 1970), 1, 1) if starts else date(1970, 1, 1)
    calendar.add_missing_timezones(first_date=first)


def feed_calendar(user, sessions, base_url: str) -> Calendar:
    """The personal feed of ``user``: every session given, cancelled series included (marked
    STATUS:CANCELLED, so subscribed clients drop their copy rather than keep a stale one)."""
    base_url = base_url.rstrip("/")
    # A stable calendar UID per user (RFC 7986), derived so that it reveals nothing of the token.
    calendar_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/calendar/feed/user/{user.id}"))
    calendar = new_calendar(name=f"Classhub: {user.name}", method="PUBLISH", uid=calendar_uid)
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
    stamp = utcnow().replace(microsecond=0)
    sessions = list(sessions)
    for session in sessions:
        for event in series_events(session, base_url, stamp=stamp):
            calendar.add_component(event)
    add_timezones(calendar, sessions)
    return calendar
