"""Thread capabilities (chat/permissions.py): one place says what each person may do in a
conversation; the thread and settings views authorize with it and the templates only read it."""
import pytest

from app.accounts.models import Role
from app.chat import services
from app.chat.permissions import (NO_THREAD_CAPABILITIES, chat_capabilities,
                                  thread_capabilities)
from app.extensions import db
from tests.chat.conftest import elements

FLAGS = ("can_view", "can_post", "can_manage_members", "can_see_group_sessions")
ALL_FALSE = dict.fromkeys(FLAGS, False)


@pytest.fixture
def world(chat, make, other_center):
    """The chat world plus a co-teacher in the study group and a member admin of it."""
    co_teacher = make.user(chat.center, Role.TEACHER, name="Cora Coteacher")
    services.add_group_members(chat.teacher, chat.group, [co_teacher.id])
    db.session.commit()
    return type("World", (), dict(chat=chat, co_teacher=co_teacher, other=other_center))


def flags(caps) -> dict:
    return {name: getattr(caps, name) for name in FLAGS}


def owner_row(thread):
    return next(m for m in thread.members if m.role.value == "OWNER")


def test_the_owner_posts_and_manages_the_group(world):
    caps = thread_capabilities(world.chat.teacher, world.chat.group)
    assert flags(caps) == dict(can_view=True, can_post=True, can_manage_members=True,
                               can_see_group_sessions=True)
    student_row = next(m for m in world.chat.group.members if m.user_id == world.chat.s1.id)
    assert caps.can_remove_member(student_row)
    assert not caps.can_remove_member(owner_row(world.chat.group))


def test_a_co_teacher_posts_but_does_not_manage(world):
    caps = thread_capabilities(world.co_teacher, world.chat.group)
    assert flags(caps) == dict(can_view=True, can_post=True, can_manage_members=False,
                               can_see_group_sessions=True)
    assert not any(caps.can_remove_member(m) for m in world.chat.group.members)


def test_a_student_member_posts_only(world):
    assert flags(thread_capabilities(world.chat.s1, world.chat.group)) == dict(
        can_view=True, can_post=True, can_manage_members=False, can_see_group_sessions=True)


def test_an_admin_in_a_direct_conversation_posts_only(world):
    direct = services.get_or_create_direct(world.chat.admin, world.chat.teacher)
    db.session.commit()
    assert flags(thread_capabilities(world.chat.admin, direct)) == dict(
        can_view=True, can_post=True, can_manage_members=False, can_see_group_sessions=False)


def test_someone_outside_the_group_may_do_nothing(world):
    for person in (world.chat.outsider, world.chat.admin):  # the admin is no member here
        caps = thread_capabilities(person, world.chat.group)
        assert flags(caps) == ALL_FALSE
        assert caps.post_refusal == "You are not a member of this conversation."


def test_another_centers_people_may_do_nothing(world):
    for person in (world.other.teacher, world.other.student):
        assert thread_capabilities(person, world.chat.group) == NO_THREAD_CAPABILITIES


def test_a_class_channel_students_read_only_unless_the_center_allows(world):
    world.chat.center.students_may_reply_in_class = False
    db.session.commit()
    caps = thread_capabilities(world.chat.s1, world.chat.class_thread)
    assert flags(caps) == dict(ALL_FALSE, can_view=True)
    assert caps.post_refusal == "Only teachers post in this class channel."
    assert thread_capabilities(world.chat.teacher, world.chat.class_thread).can_post
    assert not thread_capabilities(world.chat.teacher, world.chat.class_thread).can_manage_members


def test_an_archived_group_takes_no_posts(world):
    services.archive_group(world.chat.teacher, world.chat.group, True)
    db.session.commit()
    caps = thread_capabilities(world.chat.teacher, world.chat.group)
    assert (caps.can_view, caps.can_post, caps.can_manage_members) == (True, False, True)


def test_only_teachers_create_groups(world):
    assert chat_capabilities(world.chat.teacher).can_create_group
    for person in (world.chat.s1, world.chat.admin, world.other.student):
        assert not chat_capabilities(person).can_create_group


def test_thread_capabilities_cost_no_query_given_the_membership(world, count_queries):
    member = services.membership(world.chat.s1, world.chat.group)
    with count_queries() as counter:
        thread_capabilities(world.chat.s1, world.chat.group, member)
    assert counter.count == 0


# --- the pages read the flags --------------------------------------------------------------------

def _hrefs(html: str) -> set[str]:
    return {attrs.get("href") for tag, attrs in elements(html) if tag == "a"}


def test_the_settings_link_and_new_group_show_only_with_their_flags(world, as_user):
    settings = f"/chat/threads/{world.chat.group.id}/settings"
    owner_page = as_user(world.chat.teacher).get(f"/chat/threads/{world.chat.group.id}")
    assert settings in _hrefs(owner_page.get_data(as_text=True))
    assert "/chat/groups/new" in _hrefs(owner_page.get_data(as_text=True))
    for person in (world.co_teacher, world.chat.s1):
        page = as_user(person).get(f"/chat/threads/{world.chat.group.id}").get_data(as_text=True)
        assert settings not in _hrefs(page)
        assert as_user(person).get(settings).status_code == 403
    student_page = as_user(world.chat.s1).get(f"/chat/threads/{world.chat.group.id}")
    assert "/chat/groups/new" not in _hrefs(student_page.get_data(as_text=True))


def test_the_owner_has_no_remove_button(world, as_user):
    page = as_user(world.chat.teacher).get(
        f"/chat/threads/{world.chat.group.id}/settings").get_data(as_text=True)
    assert f'aria-label="Remove {world.chat.s1.name}"' in page
    assert f'aria-label="Remove {world.chat.teacher.name}"' not in page
