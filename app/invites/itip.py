"""iTIP (RFC 5546) messages for sessions: one calendar object (one UID) per message.

* a series: METHOD:REQUEST with the master VEVENT and one VEVENT per moved occurrence;
* one moved occurrence: METHOD:REQUEST with that instance (RECURRENCE-ID = its original start);
* one cancelled occurrence: METHOD:CANCEL with that instance, STATUS:CANCELLED;
* a cancelled series (or a participant taken off it): METHOD:CANCEL with the master,
  STATUS:CANCELLED.
The VEVENTs come from the same builders as the calendar feed (app.scheduling.ical); here they
get the invitation's parts: ORGANIZER at the reply mailbox, ATTENDEEs with RSVP=TRUE,
LOCATION/CONFERENCE pointing at the session page."""
from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr

from icalendar import vCalAddress, vUri

from app.db_types import utcnow
from app.scheduling import ical, recurrence
from app.scheduling.models import ParticipantRole, VideoSession

ROLE = {ParticipantRole.INSTRUCTOR: "CHAIR", ParticipantRole.LEARNER: "REQ-PARTICIPANT",
        ParticipantRole.OBSERVER: "OPT-PARTICIPANT"}


def _organizer(session: VideoSession, mail_from: str) -> vCalAddress:
    # Replies go to a mailbox that exists (MAIL_FROM); the teacher's name is the CN.
    address = parseaddr(mail_from)[1] or "classhub@localhost"
    organizer = vCalAddress(f"mailto:{address}")
    organizer.params["CN"] = session.teacher.name
    return organizer


def _attendee(user, role: str) -> vCalAddress:
    attendee = vCalAddress(f"mailto:{user.email}")
    attendee.params["CN"] = user.name
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    attendee.params["ROLE"] = role
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    attendee.params["RSVP"] = "TRUE"
    return attendee


def visible_attendee_ids(session: VideoSession, participant) -> set[int] | None:
    """Whose ATTENDEE lines ``participant``'s copy of an invitation carries: None (everyone)
    for staff (instructor, observers); for a learner, the session's instructor (the CHAIR,
    who runs it) and the learner, so a student never receives classmates' addresses."""
    if participant.role != ParticipantRole.LEARNER:
        return None
    return {participant.user_id} | {p.user_id for p in session.participants
                                    if p.role == ParticipantRole.INSTRUCTOR}


def _attendees(session: VideoSession, only_user_ids=None, extra_users=()) -> list[vCalAddress]:
    found = [_attendee(user, "REQ-PARTICIPANT") for user in extra_users]
    for participant in sorted(session.participants, key=lambda p: p.user.email):
        if only_user_ids is not None and participant.user_id not in only_user_ids:
            continue
        found.append(_attendee(participant.user, ROLE[participant.role]))
    return found


def _dress(event, session: VideoSession, base_url: str, mail_from: str, attendees) -> None:
    url = ical.session_url(session, base_url)
    for key in ("organizer", "attendee", "location", "conference"):
        while key in event:
            del event[key]
    event.add("organizer", _organizer(session, mail_from))
    for attendee in attendees:
        event.add("attendee", attendee, encode=0)
    event.add("location", f"Classhub: {url}")
    conference = vUri(url)
    event.add("conference", conference, parameters={"VALUE": "URI", "FEATURE": "VIDEO",
                                                     "LABEL": "Join in Classhub"})
    description = event.get("description", "")
    join = f"Join: {url}"
    if join not in str(description):
        event["description"] = f"{description}\n\n{join}".strip()


def build(session: VideoSession, base_url: str, mail_from: str, *, method: str,
          original_start_local: datetime | None = None, attendee_ids=None, extra_users=(),
          stamp: datetime | None = None):
    """The VCALENDAR for one iTIP message. ``original_start_local`` narrows it to one
    occurrence (RECURRENCE-ID); ``attendee_ids`` limits the ATTENDEE list and ``extra_users``
    adds people no longer participants (a CANCEL to a removed participant names only them)."""
    stamp = (stamp or utcnow()).replace(microsecond=0)
    events = ical.series_events(session, base_url, stamp=stamp)
    attendees = _attendees(session, attendee_ids, extra_users)
    if original_start_local is not None:
        tz = session.tz
        wanted = original_start_local.replace(tzinfo=tz)
        instance = next((e for e in events[1:]
                         if e.get("recurrence-id") and e["recurrence-id"].dt.replace(tzinfo=None)
                         == original_start_local), None)
        if instance is None:
            # An instance with no VEVENT of its own (a cancelled one): name it at its original
            # time, as the series defined it.
            instance = ical.session_event(session, base_url, start=wanted,
                                   end=ical.local_end(original_start_local,
                                                      session.duration_minutes, tz),
                                   stamp=stamp, description=ical.event_description(session),
                                   with_attendees=False, recurrence_id=wanted)
        events = [instance]
    if method == "CANCEL":
        for event in events:
            event["status"] = "CANCELLED"
    calendar = ical.new_calendar(method=method)
    if "uid" in calendar:
        del calendar["uid"]  # an iTIP message is about the event's UID, not a calendar's
    for event in events:
        _dress(event, session, base_url, mail_from, attendees)
        calendar.add_component(event)
    ical.add_timezones(calendar, [session])
    return calendar
