"""Person capabilities (accounts/permissions.py): what an admin may do to an account from the
admin pages; the services refuse the same things and the templates only read the flags."""
from app.accounts.models import Role
from app.accounts.permissions import person_capabilities

FLAGS = ("can_edit", "can_change_role", "can_set_active")


def flags(caps) -> dict:
    return {name: getattr(caps, name) for name in FLAGS}


def test_an_admin_may_do_everything_to_others_but_not_lock_themselves_out(school):
    assert flags(person_capabilities(school.admin, school.teacher)) == dict.fromkeys(FLAGS, True)
    assert flags(person_capabilities(school.admin, school.admin)) == dict(
        can_edit=True, can_change_role=False, can_set_active=False)


def test_teachers_students_and_other_centers_may_do_nothing(school, make):
    elsewhere = make.center("Elsewhere")
    other_admin = make.user(elsewhere, Role.ADMIN)
    for viewer, person in ((school.teacher, school.students[0]), (school.students[0],
                           school.students[1]), (school.teacher, school.teacher),
                           (other_admin, school.teacher)):
        assert flags(person_capabilities(viewer, person)) == dict.fromkeys(FLAGS, False)


def test_the_people_list_hides_deactivate_on_the_admins_own_row(school, as_user):
    page = as_user(school.admin).get("/admin/users").get_data(as_text=True)
    assert f'aria-label="Deactivate {school.teacher.name}"' in page
    assert f'aria-label="Deactivate {school.admin.name}"' not in page


def test_the_edit_form_locks_only_the_admins_own_role(school, as_user):
    admin = as_user(school.admin)
    own = admin.get(f"/admin/users/{school.admin.id}/edit").get_data(as_text=True)
    other = admin.get(f"/admin/users/{school.teacher.id}/edit").get_data(as_text=True)
    assert "You cannot change your own role." in own
    assert "You cannot change your own role." not in other
