"""Rooms, runs, joining and leaving, moderation: the rules of live calls.

Services add and flush; the view (or job) commits once, and after commit the roster goes out on
``room:<id>`` (one event; each process renders it once per kind of viewer). The engine turns
decisions into media; in a mesh the browsers enforce the roster they are sent."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.accounts.services import PermissionDenied, ValidationError, record_audit
from app.chat import services as chat
from app.chat.models import Thread, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.transactions import commit_claim, savepoint
from app.live import signals
from app.live.engines import get_engine
from app.live.models import LiveRole, Room, Run, RunParticipant, Segment
from app.live.permissions import MODERATE, may
from app.realtime.events import publish, publish_to_users

# The id hub.Connection gives a socket (uuid4 hex, 12 characters).
CONNECTION_ID = re.compile(r"[0-9a-f]{12}")
# A connection not heard from for this long has gone (the page sends a heartbeat every 20 s).
HEARTBEAT_STALE = timedelta(seconds=60)
STAR_MAX_LEARNERS = 5
# A control center's star: the tutor and a co-teacher (each learner's page then holds at most
# two connections, each instructor's one per learner and one to the other instructor).
STAR_MAX_INSTRUCTORS = 2


class CallFull(PermissionDenied):
    """The run cannot take one more person with the engines this server has."""


# --- rooms and access (views, the websocket hub and jobs all use these) -----------------------

def room_thread(room: Room) -> Thread | None:
    if room.thread_id is not None:
        return db.session.get(Thread, room.thread_id)
    return db.session.scalar(select(Thread).where(Thread.session_id == room.session_id))


def can_use_room(user: User, room: Room) -> bool:
    """Members of the room's thread (tenancy included) may see it; joining is decided by
    ``join`` (a removed person still sees the thread)."""
    if room.center_id != user.center_id or not user.is_active:
        return False
    thread = room_thread(room)
    return thread is not None and chat.can_view_thread(user, thread)


def live_run(room: Room) -> Run | None:
    return db.session.scalar(select(Run).where(Run.live_room_id == room.id))


def is_removed(user_id: int, run: Run | None) -> bool:
    if run is None:
        return False
    return db.session.scalar(select(func.count(RunParticipant.id)).where(
        RunParticipant.run_id == run.id, RunParticipant.user_id == user_id,
        RunParticipant.removed_at.is_not(None))) > 0


def can_follow_room(user: User, room_id: int) -> bool:
    """The ``room:<id>`` topic: thread members, minus whoever was removed from the live run."""
    room = db.session.get(Room, room_id)
    return room is not None and can_use_room(user, room) and \
        not is_removed(user.id, live_run(room))


def room_followers(users, room_id: int) -> set[int]:
    """Which of ``users`` may still receive ``room:<id>``: one query for all of them."""
    ids = [u.id for u in users]
    room = db.session.get(Room, room_id)
    if room is None or not ids:
        return set()
    thread_ids = select(Thread.id).where(
        Thread.id == room.thread_id if room.thread_id is not None
        else Thread.session_id == room.session_id)
    members = set(db.session.scalars(select(ThreadMember.user_id).where(
        ThreadMember.thread_id.in_(thread_ids), ThreadMember.user_id.in_(ids),
        ThreadMember.center_id == room.center_id)))
    removed = set(db.session.scalars(
        select(RunParticipant.user_id).join(Run, Run.id == RunParticipant.run_id)
        .where(Run.live_room_id == room_id, RunParticipant.removed_at.is_not(None),
               RunParticipant.user_id.in_(ids))))
    return members - removed


def room_where(center_id: int, **owner) -> Room:
    """The room of one thread or one session (``thread_id=`` or ``session_id=``), made on
    first use. Two people starting or joining at once make one: the loser of the unique key
    reads the winner's."""
    [(column, value)] = owner.items()
    find = select(Room).where(getattr(Room, column) == value)
    room = db.session.scalar(find)
    if room is not None:
        return room
    try:
        with savepoint():
            room = Room(center_id=center_id, engine="mesh", **owner)
            db.session.add(room)
    except IntegrityError:  # made by a simultaneous Start or Join
        room = db.session.scalar(find)
    return room


def room_for_thread(thread: Thread) -> Room:
    return room_where(thread.center_id, thread_id=thread.id)


def participant_of(run: Run, user_id: int) -> RunParticipant | None:
    return db.session.scalar(select(RunParticipant).where(RunParticipant.run_id == run.id,
                                                          RunParticipant.user_id == user_id))


def _role_in(run: Run, user: User) -> LiveRole:
    if run.session_id is not None:  # a session: the role its participants have in it
        from app.live.session_runs import session_role
        from app.scheduling.models import VideoSession

        return session_role(db.session.get(VideoSession, run.session_id), user) \
            or LiveRole.OBSERVER
    # Instant calls: whoever started it leads; everyone else in the thread is a learner.
    return LiveRole.INSTRUCTOR if run.started_by_id == user.id else LiveRole.LEARNER


# --- which engine carries a room's next run -----------------------------------------------------

def engine_for(expected_people: int) -> str:
    """CALL_ENGINE "mesh" / "janus" force one; "auto": the built-in mesh for up to
    LIVE_MESH_LIMIT people, Janus above it when this server has one (JANUS_URL), else the mesh
    (whose join then says plainly that a larger call needs a media server)."""
    config = current_app.config
    wanted = config["CALL_ENGINE"]
    if wanted in ("mesh", "janus"):
        return wanted
    if expected_people > config["LIVE_MESH_LIMIT"] and config["JANUS_URL"]:
        return "janus"
    return "mesh"


def choose_engine(room: Room, expected_people: int) -> None:
    """Set the engine of the run about to start (between runs only: a live run keeps its own).
    A room on Janus is known there by a key of its own (``engine_room_key``)."""
    room.engine = engine_for(expected_people)
    if room.engine != "mesh" and not room.engine_room_key:
        room.engine_room_key = f"room{room.id}"


def call_capacity() -> dict:
    """What this server can carry, for the administrators' Calls page: the engine setting, the
    mesh limit, the media server (and whether it answers now) and TURN."""
    from app.live.janus import JanusClient, JanusError, JanusUnavailable

    config = current_app.config
    janus_url = config["JANUS_URL"]
    janus_answers = None
    if janus_url:
        try:
            JanusClient(janus_url, timeout=2).info()
            janus_answers = True
        except (JanusUnavailable, JanusError):
            janus_answers = False
    return {"call_engine": config["CALL_ENGINE"], "mesh_limit": config["LIVE_MESH_LIMIT"],
            "janus_url": janus_url, "janus_answers": janus_answers,
            "turn": bool(config["TURN_URLS"] and config["TURN_SECRET"]),
            "webhook_path": "/live/janus/events"}


# --- starting a call -------------------------------------------------------------------------

def start_call(user: User, thread: Thread) -> tuple[Run, bool]:
    """Start the thread's instant call, or return the one already live (a double Start, or two
    people pressing it at once, makes one run). ``(run, started)``."""
    refusal = chat.post_refusal(user, thread)
    if refusal:
        raise PermissionDenied(refusal)
    room = room_for_thread(thread)
    run = live_run(room)
    if run is not None:
        return run, False
    choose_engine(room, expected_people=len(thread.members))
    try:
        with savepoint():
            run = Run(center_id=room.center_id, room_id=room.id, live_room_id=room.id,
                      started_by_id=user.id, started_at=utcnow())
            db.session.add(run)
    except IntegrityError:
        run = live_run(room)
        if run is None:  # ended again in between: hardly possible, but never a 500
            raise ValidationError({"call": "The call could not be started; try again."})
        return run, False
    db.session.add(RunParticipant(center_id=run.center_id, run_id=run.id, user_id=user.id,
                                  role=LiveRole.INSTRUCTOR))
    db.session.flush()
    record_audit(user, "live.call_started", "thread", thread.id, run_id=run.id)
    signals.call_started.send(run, starter=user, thread=thread,
                              user_ids=frozenset(m.user_id for m in thread.members))
    # Ringing on every other member's open pages (the push comes from the notification).
    publish_to_users("user", [m.user_id for m in thread.members if m.user_id != user.id],
                     "live.ringing", run_id=run.id, room_id=room.id)
    _publish_roster(run)
    return run, True


# --- joining, heartbeats, leaving ------------------------------------------------------------

def _check_connection_id(connection_id) -> str:
    if not isinstance(connection_id, str) or not CONNECTION_ID.fullmatch(connection_id):
        raise ValidationError({"connection": "This page is not connected to the server yet; "
                                             "wait a moment and press Join again."})
    return connection_id


def open_segments(run: Run) -> list[Segment]:
    return list(db.session.scalars(select(Segment).where(Segment.run_id == run.id,
                                                         Segment.left_at.is_(None))
                                   .order_by(Segment.id)))


def is_star_run(run: Run) -> bool:
    """A run of a tutoring session (each student on their own work, in the Tutor Control
    Center): its learners connect to the instructors only, whatever their number, so that the
    tutor's Teach/Observe decides who hears them and the students never hear each other
    (app/control_center; the page routes the audio). Other small sessions (a class, a group
    meeting) stay a mesh: their students talk to each other."""
    if run.session_id is None:
        return False
    from app.control_center import services as control_center
    from app.scheduling.models import SessionType, VideoSession

    session = db.session.get(VideoSession, run.session_id)
    return session is not None and session.type == SessionType.TUTORING \
        and control_center.has_control_center(session)


def topology(run: Run, roles: dict[int, LiveRole], star: bool | None = None) -> str | None:
    """How the people in ``roles`` (user id -> role) connect: "mesh" (everyone with everyone)
    up to LIVE_MESH_LIMIT people, "star" (learners only with the instructor) for one
    instructor and up to five learners, None when the mesh cannot carry them. A control
    center's run (``star``: ``is_star_run``, looked up when not given) is a star at every size
    up to STAR_MAX_INSTRUCTORS and STAR_MAX_LEARNERS, one learner included: its instructors
    connect to every learner and the learners to the instructors only."""
    limit = current_app.config["LIVE_MESH_LIMIT"]
    instructors = sum(1 for r in roles.values() if r == LiveRole.INSTRUCTOR)
    learners = len(roles) - instructors
    if star is None:
        star = is_star_run(run)
    if star and learners <= STAR_MAX_LEARNERS and instructors <= STAR_MAX_INSTRUCTORS:
        return "star"
    if len(roles) <= limit:
        return "mesh"
    if instructors == 1 and learners <= STAR_MAX_LEARNERS:
        return "star"
    return None


def join(user: User, room: Room, connection_id) -> tuple[Run, RunParticipant, dict]:
    """Let ``user`` into the room's live run from the page whose socket is ``connection_id``;
    returns the run, their participant row and the engine's join config (JSON)."""
    if not can_use_room(user, room):
        raise PermissionDenied("You are not in this conversation.")
    connection_id = _check_connection_id(connection_id)
    run = live_run(room)
    if run is None:
        raise ValidationError({"call": "This call has ended."})
    participant = participant_of(run, user.id)
    if participant is not None and participant.is_removed:
        raise PermissionDenied("You were removed from this call and cannot join it again.")
    present = dict(db.session.execute(
        select(Segment.user_id, RunParticipant.role)
        .join(RunParticipant, RunParticipant.id == Segment.participant_id)
        .where(Segment.run_id == run.id, Segment.left_at.is_(None))).all())
    role = participant.role if participant is not None else _role_in(run, user)
    star = room.engine == "mesh" and is_star_run(run)
    if room.engine == "mesh" and user.id not in present \
            and topology(run, {**present, user.id: role}, star) is None:
        raise CallFull(_full_message(user, run, len(present)))
    now = utcnow()
    first_time = participant is None
    if participant is None:
        participant = RunParticipant(center_id=run.center_id, run_id=run.id, user_id=user.id,
                                     role=role)
        db.session.add(participant)
    if participant.first_joined_at is None:
        participant.first_joined_at = now
    db.session.flush()
    owner = db.session.scalar(select(Segment.user_id).where(
        Segment.run_id == run.id, Segment.connection_id == connection_id).limit(1))
    if owner is not None and owner != user.id:
        raise PermissionDenied("This connection belongs to someone else.")
    segment = db.session.scalar(select(Segment).where(
        Segment.run_id == run.id, Segment.connection_id == connection_id,
        Segment.left_at.is_(None)))
    if segment is None:
        # A first join, or a join again after Leave on the same page: a new stay (the time
        # away is not presence, and it counts as another join).
        db.session.add(Segment(center_id=run.center_id, run_id=run.id,
                               participant_id=participant.id, user_id=user.id,
                               connection_id=connection_id, joined_at=now, last_seen_at=now))
    else:  # the page's join repeated (a retry): its stay goes on
        segment.last_seen_at = now
    db.session.flush()
    if star and role == LiveRole.INSTRUCTOR:
        _replace_other_pages(run, user, connection_id, now)
    if user.id not in present:
        signals.participant_joined.send(run, user=user, participant=participant,
                                        user_ids=frozenset(present) | {user.id})
    _publish_roster(run)
    if room.engine != "mesh":
        # The media server is told about this person over HTTP. On SQLite a transaction that
        # has written holds the database's one write lock, and under gevent another writer's
        # busy wait stalls the whole process while this one waits for Janus (a deadlock until
        # the busy timeout): what this join wrote is made durable first.
        commit_claim()
    try:
        config = _join_config(room, run, participant, connection_id)
    except MediaServerUnavailable:
        if room.engine != "mesh":
            # Nothing joined: the page's segment goes again (the person may retry), and so does
            # the place this join made them in the run, or they would be on its roster and
            # attendance sheet as someone who took part.
            db.session.execute(delete(Segment).where(Segment.run_id == run.id,
                                                     Segment.connection_id == connection_id,
                                                     Segment.joined_at == now))
            if first_time:
                db.session.execute(delete(RunParticipant).where(
                    RunParticipant.id == participant.id,
                    ~select(Segment.id).where(Segment.participant_id == participant.id).exists()))
            if user.id not in present:
                signals.participant_left.send(run, user_id=user.id,
                                              user_ids=frozenset(present) | {user.id})
            _publish_roster(run)
            commit_claim()
        raise
    return run, participant, config.as_json()


def _replace_other_pages(run: Run, user: User, connection_id: str, now) -> None:
    """In a control center's star an instructor is in the call from one page: the learners'
    pages connect to every instructor page, so a second one (the room page beside the control
    center, another tab) would send the tutor's voice past Teach/Observe. The page joining now
    is the one: the others leave the call and are told why (an addressed ``room.replaced``)."""
    others = list(db.session.scalars(select(Segment).where(
        Segment.run_id == run.id, Segment.user_id == user.id, Segment.left_at.is_(None),
        Segment.connection_id != connection_id)))
    for segment in others:
        if _claim_segment(segment, now):
            publish(f"room:{run.room_id}", "room.replaced", to=segment.connection_id,
                    run_id=run.id)


class MediaServerUnavailable(ValidationError):
    """The room's media server did not answer: the page is not in the call, the person may
    retry."""


def _join_config(room: Room, run: Run, participant: RunParticipant, connection_id: str):
    from app.live.janus import JanusError, JanusUnavailable

    try:
        return get_engine(room.engine).join_config(run, participant, connection_id)
    except (JanusUnavailable, JanusError) as error:
        current_app.logger.warning("media server refused a join to run %s: %s", run.id, error)
        raise MediaServerUnavailable({"call": "The media server for this call is not answering; "
                                              "try again in a moment."})


def _full_message(user: User, run: Run, count: int) -> str:
    limit = current_app.config["LIVE_MESH_LIMIT"]
    text = (f"This call already has {count} people, the most a peer-to-peer call carries "
            f"({limit}, or one instructor with {STAR_MAX_LEARNERS} learners).")
    if current_app.config["JANUS_URL"] is None and run.started_by_id == user.id:
        text += (" Larger calls need a media server: ask your administrator to set JANUS_URL "
                 "(see the README), or start a smaller call.")
    return text


def _own_segment(user: User, run: Run, connection_id) -> Segment | None:
    if not isinstance(connection_id, str) or not CONNECTION_ID.fullmatch(connection_id):
        return None
    return db.session.scalar(select(Segment).where(
        Segment.run_id == run.id, Segment.connection_id == connection_id,
        Segment.user_id == user.id, Segment.left_at.is_(None)))


def heartbeat(user: User, room: Room, connection_id) -> bool:
    """Keep the page's segment open; False when it is not in the run any more (left, removed,
    or the run ended): the page stops its media then."""
    run = live_run(room)
    segment = _own_segment(user, run, connection_id) if run is not None else None
    if segment is None:
        return False
    segment.last_seen_at = utcnow()
    return True


def leave(user: User, room: Room, connection_id) -> None:
    run = live_run(room)
    segment = _own_segment(user, run, connection_id) if run is not None else None
    now = utcnow()
    if segment is None or not _claim_segment(segment, now):
        return  # already gone (a second leave from pagehide, its socket closing, the sweep)
    _close_segments(run, [segment], now)


def close_connection(user_id: int, connection_id: str) -> bool:
    """A page's socket closed (tab closed, network gone, server restart): its open segment in a
    live run ends now, as a leave would. Exactly once with a leave arriving at the same time
    (pagehide sends one just before the socket goes): whichever claims the segment first closes
    it. The view, or the hub's disconnect handler, commits. True when a segment was closed."""
    if not isinstance(connection_id, str) or not CONNECTION_ID.fullmatch(connection_id):
        return False
    segment = db.session.scalar(
        select(Segment).join(Run, Run.id == Segment.run_id)
        .where(Segment.connection_id == connection_id, Segment.user_id == user_id,
               Segment.left_at.is_(None), Run.live_room_id.is_not(None)))
    now = utcnow()
    if segment is None or not _claim_segment(segment, now):
        return False
    _close_segments(db.session.get(Run, segment.run_id), [segment], now)
    return True


def _claim_segment(segment: Segment, at) -> bool:
    """Mark ``segment`` left at ``at`` unless something else already did: a conditional UPDATE,
    so two closers racing (a leave and the socket closing, in two processes) cannot both go on
    to announce the departure. The loser's UPDATE waits for the winner's commit and finds no
    open row."""
    claimed = db.session.execute(
        update(Segment).where(Segment.id == segment.id, Segment.left_at.is_(None))
        .values(left_at=at).execution_options(synchronize_session=False)).rowcount
    if claimed:
        segment.left_at = at
    return claimed == 1


def _close_segments(run: Run, segments: list[Segment], at_for) -> None:
    """Close ``segments`` (``at_for``: a time, or a function of the segment), tell who left,
    and end the run when nobody is left in it."""
    if not segments:
        return
    for segment in segments:
        segment.left_at = at_for(segment) if callable(at_for) else at_for
    db.session.flush()
    still = {s.user_id for s in open_segments(run)}
    gone = {s.user_id for s in segments} - still
    for user_id in sorted(gone):
        signals.participant_left.send(run, user_id=user_id, user_ids=frozenset(still | {user_id}))
    # An instant call ends with its last person; a session's run stays live through a dropped
    # connection and ends after LIVE_EMPTY_END_MINUTES empty (the sweep) or when it is over.
    if not still and run.session_id is None:
        _end(run, None, max(s.left_at for s in segments))
    else:
        _publish_roster(run)


def set_own_media(user: User, room: Room, audio_off: bool | None, video_off: bool | None) -> None:
    run = live_run(room)
    participant = participant_of(run, user.id) if run is not None else None
    if participant is None or participant.is_removed:
        raise PermissionDenied("You are not in this call.")
    held = (participant.audio_muted, participant.video_muted)
    if audio_off is not None:
        participant.audio_off = audio_off
        if not audio_off:
            participant.audio_muted = False  # they unmuted themselves after a moderator's mute
    if video_off is not None:
        participant.video_off = video_off
        if not video_off:
            participant.video_muted = False
    if (participant.audio_muted, participant.video_muted) != held:
        # A media server still holds the moderator's mute: release it (set_role applies what
        # the participant may send now).
        get_engine(room.engine).set_role(run, participant)
    _publish_roster(run)


# --- ending ----------------------------------------------------------------------------------

def end_run(user: User, room: Room) -> Run:
    run = live_run(room)
    if run is None:
        raise ValidationError({"call": "This call has already ended."})
    participant = participant_of(run, user.id)
    if run.started_by_id != user.id and (participant is None or participant.is_removed
                                         or not may(participant.role, MODERATE)):
        raise PermissionDenied("Only the person who started the call or an instructor can end "
                               "it for everyone.")
    record_audit(user, "live.call_ended", "run", run.id, room_id=room.id)
    _end(run, user, utcnow())
    return run


def _end(run: Run, ended_by: User | None, at) -> None:
    open_now = open_segments(run)
    for segment in open_now:
        segment.left_at = at
    run.ended_at, run.ended_by_id, run.live_room_id = at, ended_by.id if ended_by else None, None
    db.session.flush()
    people = set(db.session.scalars(select(RunParticipant.user_id).where(
        RunParticipant.run_id == run.id, RunParticipant.first_joined_at.is_not(None))))
    get_engine(run.room.engine).end(run)
    signals.run_ended.send(run, ended_by=ended_by,
                           duration_seconds=int((at - run.started_at).total_seconds()),
                           people=len(people), user_ids=frozenset(people))
    publish(f"room:{run.room_id}", "room.ended", run_id=run.id)


def sweep_stale_segments() -> int:
    """Cron: close segments whose page stopped sending heartbeats (at their last heartbeat, not
    now: attendance must not count the time nobody was there), which ends runs left empty; and
    end live runs nobody ever joined within LIVE_EMPTY_END_MINUTES. Commits."""
    now = utcnow()
    stale = list(db.session.scalars(select(Segment).where(
        Segment.left_at.is_(None), Segment.last_seen_at < now - HEARTBEAT_STALE)))
    by_run: dict[int, list[Segment]] = {}
    for segment in stale:
        by_run.setdefault(segment.run_id, []).append(segment)
    for run_id, segments in by_run.items():
        run = db.session.get(Run, run_id)
        if run.ended_at is None:
            _close_segments(run, segments, lambda s: s.last_seen_at)
        else:
            for segment in segments:
                segment.left_at = segment.last_seen_at
    empty_since = now - timedelta(minutes=current_app.config["LIVE_EMPTY_END_MINUTES"])
    has_open = select(Segment.id).where(Segment.run_id == Run.id, Segment.left_at.is_(None))
    for run in db.session.scalars(select(Run).where(Run.live_room_id.is_not(None),
                                                    Run.started_at < empty_since,
                                                    ~has_open.exists())):
        last_left = db.session.scalar(select(func.max(Segment.left_at))
                                      .where(Segment.run_id == run.id))
        if last_left is None or last_left < empty_since:
            _end(run, None, last_left or run.started_at)
    return len(stale)


# --- moderation ------------------------------------------------------------------------------

MODERATION_ACTIONS = ("mute_audio", "mute_video", "remove", "set_role", "mute_all")


def moderate(actor: User, room: Room, action: str, participant_id=None, role=None) -> None:
    run = live_run(room)
    if run is None:
        raise ValidationError({"call": "This call has ended."})
    me = participant_of(run, actor.id)
    if me is None or me.is_removed or not may(me.role, MODERATE):
        raise PermissionDenied("Only an instructor in this call can do that.")
    if action not in MODERATION_ACTIONS:
        raise ValidationError({"action": "Unknown action."})
    engine = get_engine(room.engine)
    if action == "mute_all":
        targets = [p for p in db.session.scalars(select(RunParticipant).where(
            RunParticipant.run_id == run.id, RunParticipant.removed_at.is_(None),
            RunParticipant.user_id != actor.id))]
    else:
        target = db.session.get(RunParticipant, participant_id) \
            if isinstance(participant_id, int) else None
        if target is None or target.run_id != run.id or target.is_removed:
            raise ValidationError({"participant": "That person is not in this call."})
        if target.user_id == actor.id and action in ("remove", "set_role"):
            raise ValidationError({"participant": "You cannot do that to yourself."})
        targets = [target]
    details = {}
    for target in targets:
        if action in ("mute_audio", "mute_all"):
            target.audio_muted = target.audio_off = True
            engine.mute(run, target, frozenset({"audio"}))
        elif action == "mute_video":
            target.video_muted = target.video_off = True
            engine.mute(run, target, frozenset({"video"}))
        elif action == "remove":
            target.removed_at, target.removed_by_id = utcnow(), actor.id
            engine.remove(run, target)
            publish(f"user:{target.user_id}", "live.removed", room_id=room.id)
        elif action == "set_role":
            try:
                new_role = LiveRole(role)
            except ValueError:
                raise ValidationError({"role": "Choose instructor, learner or observer."})
            details = {"role": new_role.value, "was": target.role.value}
            target.role = new_role
            engine.set_role(run, target)
    db.session.flush()
    user_ids = frozenset(t.user_id for t in targets)
    record_audit(actor, f"live.{action}", "run", run.id, user_ids=sorted(user_ids), **details)
    signals.participant_moderated.send(run, actor=actor, action=action,
                                       participant_ids=frozenset(t.id for t in targets),
                                       user_ids=user_ids)
    if action == "remove":
        open_theirs = [s for s in open_segments(run) if s.user_id in user_ids]
        _close_segments(run, open_theirs, utcnow())
        if not open_theirs:
            _publish_roster(run)
    else:
        _publish_roster(run)


# --- the roster ------------------------------------------------------------------------------

def roster(run: Run) -> tuple[list[RunParticipant], list[Segment]]:
    """Everyone in the run and the open connections, in two queries (users eager-loaded)."""
    from sqlalchemy.orm import selectinload

    participants = list(db.session.scalars(
        select(RunParticipant).where(RunParticipant.run_id == run.id)
        .options(selectinload(RunParticipant.user)).order_by(RunParticipant.id)))
    segments = open_segments(run)
    return participants, segments


def roster_state(run: Run, loaded=None) -> dict:
    """The roster as the room page's script reads it (also embedded in the HTML roster)."""
    participants, segments = loaded or roster(run)
    by_id = {p.id: p for p in participants}
    present = {s.participant_id for s in segments}
    roles = {p.user_id: p.role for p in participants if p.id in present}
    return {
        "run": run.id,
        "ended": run.ended_at is not None,
        "topology": topology(run, roles) or "star",
        "connections": [{"connection": s.connection_id, "user": s.user_id,
                         "name": by_id[s.participant_id].user.name,
                         "role": by_id[s.participant_id].role.value}
                        for s in segments if s.participant_id in by_id],
        "participants": [{"id": p.id, "user": p.user_id, "name": p.user.name,
                          "role": p.role.value, "present": p.id in present,
                          "audio_off": p.audio_off, "video_off": p.video_off,
                          "audio_muted": p.audio_muted, "video_muted": p.video_muted,
                          "removed": p.is_removed} for p in participants],
    }


def _publish_roster(run: Run) -> None:
    publish(f"room:{run.room_id}", "room.roster", run_id=run.id)


# --- a media server's events (the Janus engine's webhook) -------------------------------------

def apply_engine_events(engine_name: str, events) -> int:
    """Apply what a media server reports about the app's runs: a feed joined opens its page's
    segment (when the join did not already), a feed left closes it (a leave, the socket closing
    or the sweep may have been first: exactly once, see ``_claim_segment``), and a participant a
    moderator muted who publishes again is muted again. Each event is checked against the run it
    names (room key, run id, participant and connection); anything else is ignored, so repeats
    and stragglers after the run ended are harmless. The caller commits. Returns how many events
    changed something."""
    applied = 0
    for event in events:
        target = _event_target(engine_name, event)
        if target is None:
            continue
        run, participant, connection = target
        if event.kind == "joined":
            applied += _engine_joined(run, participant, connection, event.at)
        elif event.kind == "left":
            segment = db.session.scalar(select(Segment).where(
                Segment.run_id == run.id, Segment.connection_id == connection,
                Segment.participant_id == participant.id, Segment.left_at.is_(None)))
            at = max(_utc(event.at), segment.joined_at) if segment is not None else None
            if segment is not None and _claim_segment(segment, at):
                _close_segments(run, [segment], at)
                applied += 1
        elif event.kind == "published":
            muted = frozenset(kind for kind, off in (("audio", participant.audio_muted),
                                                     ("video", participant.video_muted)) if off)
            if muted:
                get_engine(engine_name).mute(run, participant, muted)
                applied += 1
    return applied


def _utc(at):
    from datetime import timezone

    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _event_target(engine_name: str, event):
    """(live run, its participant, connection id) the event is about, or None."""
    run_id = event.data.get("run_id")
    connection = event.data.get("connection_id")
    if not (isinstance(run_id, str) and run_id.isdigit()) or event.participant_key is None \
            or not isinstance(connection, str) or not CONNECTION_ID.fullmatch(connection):
        return None
    run = db.session.get(Run, int(run_id))
    if run is None or run.ended_at is not None or run.room.engine != engine_name \
            or run.room.engine_room_key != event.room_key:
        return None
    key = event.participant_key
    participant = db.session.get(RunParticipant, int(key[1:])) \
        if key.startswith("p") and key[1:].isdigit() else None
    if participant is None or participant.run_id != run.id or participant.engine_key != key:
        return None
    return run, participant, connection


def _engine_joined(run: Run, participant: RunParticipant, connection: str, at) -> int:
    if participant.is_removed:
        return 0  # the engine kicks them; their token is already withdrawn
    at = _utc(at)
    if db.session.scalar(select(Segment.id).where(
            Segment.run_id == run.id, Segment.connection_id == connection,
            or_(Segment.left_at.is_(None), Segment.left_at >= at)).limit(1)):
        # Opened by the join (the usual case), a repeat of this event, or an event older than
        # a stay of this connection that has ended since (never reopened by a late report).
        return 0
    present = {s.user_id for s in open_segments(run)}
    try:
        with savepoint():
            db.session.add(Segment(center_id=run.center_id, run_id=run.id,
                                   participant_id=participant.id, user_id=participant.user_id,
                                   connection_id=connection, joined_at=at, last_seen_at=at))
    except IntegrityError:  # the join's own segment, committed meanwhile
        return 0
    if participant.first_joined_at is None:
        participant.first_joined_at = at
    if participant.user_id not in present:
        signals.participant_joined.send(run, user=participant.user, participant=participant,
                                        user_ids=frozenset(present) | {participant.user_id})
    _publish_roster(run)
    return 1
