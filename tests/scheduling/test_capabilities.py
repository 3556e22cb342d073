"""Session capabilities (scheduling/permissions.py): one place says what each person may do
with a session; the session page's views authorize with it and its template only reads it."""
import pytest

from app.accounts.models import Role
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import ParticipantRole, SessionStatus
from app.scheduling.permissions import NO_SESSION_CAPABILITIES, session_capabilities
from tests.conftest import post
from tests.invites.conftest import weekly_input

ALL_FALSE = dict(can_view=False, can_manage=False, can_edit=False, can_cancel=False,
                 can_manage_participants=False, can_invite=False, can_rsvp=False)


@pytest.fixture
def world(school, make):
    """A weekly session of the school's teacher with both students, a co-teacher of the center
    added as an observer, and a teacher and an admin of another center."""
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    co_teacher = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    services.add_participants(school.teacher, session, [co_teacher.id],
                              role=ParticipantRole.OBSERVER)
    elsewhere = make.center("Elsewhere")
    return type("World", (), dict(
        school=school, session=session, co_teacher=co_teacher,
        other_teacher=make.user(elsewhere, Role.TEACHER),
        other_admin=make.user(elsewhere, Role.ADMIN)))


def flags(caps) -> dict:
    return {name: getattr(caps, name) for name in ALL_FALSE}


def test_the_teacher_may_do_everything_but_answer_their_own_invitation(world):
    caps = session_capabilities(world.school.teacher, world.session)
    assert flags(caps) == dict(can_view=True, can_manage=True, can_edit=True, can_cancel=True,
                               can_manage_participants=True, can_invite=True, can_rsvp=False)
    teacher_row = next(p for p in world.session.participants
                       if p.user_id == world.school.teacher.id)
    student_row = next(p for p in world.session.participants
                       if p.user_id == world.school.students[0].id)
    assert caps.can_remove(student_row) and not caps.can_remove(teacher_row)


def test_a_center_admin_manages_without_being_a_participant(world):
    caps = session_capabilities(world.school.admin, world.session)
    assert flags(caps) == dict(can_view=True, can_manage=True, can_edit=True, can_cancel=True,
                               can_manage_participants=True, can_invite=True, can_rsvp=False)


def test_a_co_teacher_sees_and_answers_but_changes_nothing(world):
    caps = session_capabilities(world.co_teacher, world.session)
    assert flags(caps) == dict(ALL_FALSE, can_view=True, can_rsvp=True)
    assert not any(caps.can_remove(p) for p in world.session.participants)


def test_a_student_participant_sees_and_answers_only(world):
    caps = session_capabilities(world.school.students[0], world.session)
    assert flags(caps) == dict(ALL_FALSE, can_view=True, can_rsvp=True)


def test_a_student_not_invited_may_do_nothing(world):
    assert flags(session_capabilities(world.school.outsider, world.session)) == ALL_FALSE


@pytest.mark.parametrize("who", ["other_teacher", "other_admin"])
def test_another_centers_people_may_do_nothing(world, who):
    caps = session_capabilities(getattr(world, who), world.session)
    assert caps == NO_SESSION_CAPABILITIES and flags(caps) == ALL_FALSE


def test_a_deactivated_teacher_may_do_nothing(world):
    world.school.teacher.is_active_flag = False
    assert flags(session_capabilities(world.school.teacher, world.session)) == ALL_FALSE


def test_a_cancelled_session_keeps_only_viewing(world):
    services.cancel_series(world.school.teacher, world.session, "Snow day")
    for person in (world.school.teacher, world.school.admin, world.school.students[0]):
        assert flags(session_capabilities(person, world.session)) == \
            dict(ALL_FALSE, can_view=True, can_manage=person.role != Role.STUDENT)


def test_a_finished_session_cannot_be_edited_but_its_people_still_managed(world):
    world.session.status = SessionStatus.COMPLETED
    db.session.commit()
    caps = session_capabilities(world.school.teacher, world.session)
    assert (caps.can_edit, caps.can_cancel) == (False, False)
    assert caps.can_manage_participants and caps.can_invite


# --- the page reads the flags ------------------------------------------------------------------

def _controls(html: str) -> dict[str, bool]:
    return {"edit": "Edit series" in html, "cancel": "Cancel series" in html,
            "move": "Move / change duration" in html, "remove": 'aria-label="Remove ' in html,
            "invite": "Invite by email" in html, "add": "Add selected" in html or
            "is already in" in html, "rsvp": "Will you come?" in html}


def test_the_page_shows_a_control_only_when_its_flag_is_true(world, as_user):
    url = f"/sessions/{world.session.id}"
    teacher_page = as_user(world.school.teacher).get(url).get_data(as_text=True)
    assert _controls(teacher_page) == dict(edit=True, cancel=True, move=True, remove=True,
                                           invite=True, add=True, rsvp=False)
    for person in (world.school.students[0], world.co_teacher):
        page = as_user(person).get(url).get_data(as_text=True)
        assert _controls(page) == dict(edit=False, cancel=False, move=False, remove=False,
                                       invite=False, add=False, rsvp=True)


def test_the_page_hides_editing_once_the_session_is_over(world, as_user):
    """The teacher still manages the session (its people) but its time is history: the flags
    say so and the page follows them."""
    world.session.status = SessionStatus.COMPLETED
    db.session.commit()
    page = as_user(world.school.teacher).get(f"/sessions/{world.session.id}").get_data(as_text=True)
    assert _controls(page) == dict(edit=False, cancel=False, move=False, remove=True,
                                   invite=True, add=True, rsvp=False)


def test_the_views_refuse_what_the_flags_refuse(world, as_user):
    student = as_user(world.school.students[0])
    response = post(student, f"/sessions/{world.session.id}/participants",
                    {"user_ids": [str(world.school.outsider.id)]})
    assert response.status_code == 403
    other = as_user(world.other_teacher)
    assert other.get(f"/sessions/{world.session.id}").status_code == 404
