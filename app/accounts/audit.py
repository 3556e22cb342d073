"""The audit log in words ("Tom scheduled ‘GCSE Maths’ weekly on Mon and Thu"), for the admin's
pages. Entries keep ids and codes (they must survive renames and deletions); this module turns
a page of them into sentences, loading every name it needs in one query per kind of thing, so a
page costs the same whatever it shows.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from app.accounts.models import AuditLog, Course, User
from app.extensions import db
from app.timezones import when

WEEKDAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat",
            "SU": "Sun"}


def _and(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _quoted(text) -> str:
    return f"‘{text}’" if text else "a deleted item"


def describe_rrule(rrule: str | None) -> str:
    """'FREQ=WEEKLY;BYDAY=MO,TH;COUNT=10' -> 'weekly on Mon and Thu, 10 times'."""
    if not rrule:
        return "once"
    parts = dict(p.split("=", 1) for p in rrule.split(";") if "=" in p)
    interval = int(parts.get("INTERVAL", "1") or 1) if parts.get("INTERVAL", "1").isdigit() else 1
    freq = parts.get("FREQ", "")
    if freq == "WEEKLY":
        text = "weekly" if interval == 1 else f"every {interval} weeks"
        days = [WEEKDAYS.get(d, d) for d in parts.get("BYDAY", "").split(",") if d]
        if days:
            text += " on " + _and(days)
    elif freq == "DAILY":
        text = "daily" if interval == 1 else f"every {interval} days"
    else:
        text = freq.lower() or "repeating"
    if parts.get("COUNT"):
        text += f", {parts['COUNT']} times"
    elif parts.get("UNTIL"):
        until = parts["UNTIL"]
        try:
            text += " until " + datetime.strptime(until[:8], "%Y%m%d").strftime("%-d %b %Y")
        except ValueError:
            pass
    return text


def _local(iso: str | None) -> str:
    try:
        # A session's wall-clock time (naive), shown as it stands: no zone to convert to.
        return when(datetime.fromisoformat(iso), None, "%a %-d %b %Y, %H:%M")
    except (TypeError, ValueError):
        return str(iso or "")


class _Names:
    """Names of the users, courses, sessions and threads a page of entries mentions."""

    def __init__(self, entries: list[AuditLog]):
        wanted: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            details = entry.details or {}
            if entry.target_id is not None:
                wanted[entry.target_type].add(entry.target_id)
            for key in ("user_id", "invited_by", "proposer_id", "student_id"):
                if isinstance(details.get(key), int):
                    wanted["user"].add(details[key])
            for key in ("user_ids", "members"):
                wanted["user"].update(i for i in details.get(key) or () if isinstance(i, int))
            for change in details.get("changes") or ():  # attendance: one per person
                if isinstance(change, dict) and isinstance(change.get("user_id"), int):
                    wanted["user"].add(change["user_id"])
        self.users = self._load(User.id, User.name, wanted["user"])
        self.courses = self._load(Course.id, Course.name, wanted["course"])
        self.sessions: dict[int, str] = {}
        self.threads: dict[int, str] = {}
        if wanted["session"]:
            from app.scheduling.models import VideoSession

            self.sessions = self._load(VideoSession.id, VideoSession.title, wanted["session"])
        if wanted["thread"]:
            from app.chat.models import Thread

            self.threads = self._load(Thread.id, Thread.name, wanted["thread"])

    @staticmethod
    def _load(id_column, name_column, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        return dict(db.session.execute(select(id_column, name_column)
                                       .where(id_column.in_(sorted(ids)))).all())

    def people(self, ids) -> str:
        names = [self.users.get(i, "a deleted person") for i in ids or ()]
        if len(names) > 4:
            return _and(names[:3] + [f"{len(names) - 3} more"])
        return _and(names) or "nobody"


def _sentence(entry: AuditLog, names: _Names) -> str:
    d = entry.details or {}
    action, target = entry.action, entry.target_id
    session = _quoted(names.sessions.get(target) or d.get("title"))
    course = _quoted(names.courses.get(target) or d.get("name"))
    group = _quoted(names.threads.get(target) or d.get("name"))
    person = names.users.get(target, d.get("email") or "a deleted person")
    reason = f" (reason: {d['reason']})" if d.get("reason") else ""
    count = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    sentences = {
        "user.created": lambda: f"added {person}" + (f" as {d['role'].lower()}" if d.get("role") else ""),
        "user.profile_updated": lambda: "updated their profile",
        "user.password_changed": lambda: "changed their password",
        "user.activated": lambda: f"reactivated {person}",
        "user.deactivated": lambda: f"deactivated {person}",
        "user.csv_import": lambda: (f"imported people from a CSV file: {d.get('created', 0)} created, "
                                    f"{count(d.get('duplicates', 0), 'duplicate')} and "
                                    f"{count(d.get('errors', 0), 'row')} with errors skipped"),
        "course.created": lambda: f"created the course {course}",
        "course.enrolled": lambda: (f"enrolled {names.people(d.get('user_ids'))} in {course} as "
                                    f"{(d.get('role') or 'student').lower()}"
                                    f"{'s' if len(d.get('user_ids') or ()) != 1 else ''}"),
        "course.unenrolled": lambda: f"removed {names.people([d.get('user_id')])} from {course}",
        "session.scheduled": lambda: f"scheduled {session} {describe_rrule(d.get('rrule'))}",
        "session.updated": lambda: (f"changed {session}" + (
            f" to run {describe_rrule(d.get('rrule'))}" if d.get("schedule_changed") else "")),
        "session.occurrence_moved": lambda: (f"moved {session} of {_local(d.get('original'))} to "
                                             f"{_local(d.get('new'))}{reason}"),
        "session.occurrence_cancelled": lambda: (f"cancelled {session} of "
                                                 f"{_local(d.get('original'))}{reason}"),
        "session.cancelled": lambda: f"cancelled every occurrence of {session}{reason}",
        "session.split": lambda: f"changed {session} from {_local(d.get('at'))} on (a new series)",
        "session.participants_added": lambda: f"added {names.people(d.get('user_ids'))} to {session}",
        "session.participant_removed": lambda: f"removed {names.people([d.get('user_id')])} from {session}",
        "session.status": lambda: f"marked {session} as {(d.get('status') or '').lower()}",
        "session.rsvp": lambda: (f"{'accepted' if d.get('answer') == 'ACCEPTED' else 'declined'} "
                                 f"the invitation to {session}"),
        "session.proposed": lambda: f"proposed {session} {describe_rrule(d.get('rrule'))}",
        "session.proposal_approved": lambda: (f"approved {names.people([d.get('proposer_id')])}"
                                              f"’s proposal {session}"),
        "session.proposal_declined": lambda: (f"declined {names.people([d.get('proposer_id')])}"
                                              f"’s proposal {session}{reason}"),
        "session.occurrence_restored": lambda: (f"restored {session} of "
                                                f"{_local(d.get('original'))}"),
        "group.session_rules_updated": lambda: f"changed the session rules of the group {group}",
        "user.updated": lambda: f"changed {person}’s " + _and([
            f"{field} from {old} to {new}" for field, (old, new) in (d.get("changes") or {}).items()
        ]) if d.get("changes") else f"edited {person}",
        "user.password_reset_sent": lambda: f"sent {person} a link to set a new password",
        "user.password_reset_requested": lambda: "asked for a link to set a new password",
        "user.password_reset": lambda: "set a new password from an emailed link",
        "calendar.feed_reset": lambda: "reset their calendar feed address",
        "chat.group_created": lambda: f"created the group {group} with {names.people(d.get('members'))}",
        "chat.group_updated": lambda: f"renamed or described the group {group}",
        "chat.members_added": lambda: f"added {names.people(d.get('user_ids'))} to the group {group}",
        "chat.member_joined": lambda: f"joined the group {group}",
        "chat.member_removed": lambda: f"removed {names.people([d.get('user_id')])} from the group {group}",
        "chat.group_archived": lambda: f"archived the group {group}",
        "chat.group_unarchived": lambda: f"restored the group {group}",
        "chat.group_deleted": lambda: f"deleted the group {group}",
        "live.mute_audio": lambda: f"muted {names.people(d.get('user_ids'))} in a call",
        "live.mute_all": lambda: "muted everyone in a call",
        "live.mute_video": lambda: f"turned off {names.people(d.get('user_ids'))}’s camera in a call",
        "live.remove": lambda: f"removed {names.people(d.get('user_ids'))} from a call",
        "live.set_role": lambda: (f"made {names.people(d.get('user_ids'))} "
                                  f"{(d.get('role') or 'learner').lower()} in a call"),
        "invitation.sent": lambda: (f"invited {_and(list(d.get('emails') or [])) or 'people'}"
                                    + (f" as {str(d['role']).lower()}" if d.get("role") else "")),
        "invitation.resent": lambda: f"sent the invitation to {d.get('email', 'someone')} again",
        "invitation.revoked": lambda: f"revoked the invitation to {d.get('email', 'someone')}",
        "invitation.accepted": lambda: "accepted an invitation",
        "invitation.declined": lambda: "declined an invitation",
        "invitation.renewal_requested": lambda: "asked for a new invitation",
        "live.call_started": lambda: f"started a call in {group}",
        "live.call_ended": lambda: "ended a call for everyone",
        "live.session_started": lambda: f"started the call of {session}",
        "attendance.statuses_changed": lambda: (
            ("marked attendance" if d.get("source") == "manual" else "took attendance at the call's end")
            + (": " + _and([f"{names.people([c.get('user_id')])} "
                            f"{(c.get('to') or 'unmarked').lower().replace('_', ' ')}"
                            for c in d.get("changes") or [] if isinstance(c, dict)])
               if d.get("changes") else "")
            + (f" ({d['note']})" if d.get("note") else "")),
        "attendance.settings_changed": lambda: (
            "changed the attendance settings: late after "
            f"{(d.get('late_grace_minutes') or [None, '?'])[1]} minutes' grace, left early "
            f"below {(d.get('left_early_percent') or [None, '?'])[1]} %"),
        "attendance.note_changed": lambda: (
            f"wrote an attendance note on {names.people([d.get('user_id')])}: "
            f"{_quoted(d.get('note'))}" if d.get("note")
            else f"cleared the attendance note on {names.people([d.get('user_id')])}"),
        "control_center.reports_drafted": lambda: (
            f"drafted the lesson reports of {session} ({d.get('students', 0)} "
            f"student{'s' if d.get('students') != 1 else ''})"),
        "control_center.report_sent": lambda: (
            f"sent {names.people([d.get('student_id')])} their lesson report"),
        "attendance.catch_up_updated": lambda: (
            f"changed the catch-up of {names.people([d.get('user_id')])} for "
            f"{_quoted(d.get('title'))}: "
            + _and([what for what, changed in (("the work", d.get("work_changed")),
                                               ("the link", d.get("link_changed")),
                                               (f"due {_local(d.get('due_to'))} UTC",
                                                d.get("due_from") != d.get("due_to")))
                    if changed] or ["nothing"])),
    }
    describe = sentences.get(action)
    if describe is None:
        # An action this module does not know yet still reads as words, not a code.
        what = action.replace(".", " ").replace("_", " ")
        return f"{what} ({entry.target_type} {target})" if target is not None else what
    return describe()


def _who(entry: AuditLog, names: _Names) -> str:
    if entry.actor is not None:
        return entry.actor.name
    if entry.action == "user.password_reset_requested":  # "Forgot password": not signed in
        return names.users.get(entry.target_id, "Someone")
    # No account acted: someone answering an invitation by email, or the system itself.
    return (entry.details or {}).get("email") or "The system"


def describe_entries(entries: list[AuditLog]) -> dict[int, tuple[str, str]]:
    """Each entry's (who, what), by entry id: ("Tom Baker", "scheduled ‘GCSE Maths’ weekly on
    Mon and Thu"). Entries come with their actor loaded (joinedload)."""
    names = _Names(entries)
    return {entry.id: (_who(entry, names), _sentence(entry, names)) for entry in entries}
