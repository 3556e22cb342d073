"""A service's PermissionDenied or ValidationError that no view turned into a form reaches the
person as a clear 403 / 422 with the service's words (full page, or the htmx error fragment),
never a 500, and the transaction is rolled back (app/errors.py)."""
from __future__ import annotations

from app.accounts.services import PermissionDenied, ValidationError
from app.extensions import db


def answer(app, error, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    with app.test_request_context("/anywhere", headers=headers):
        return app.make_response(app.handle_user_exception(error))


def test_refusals_from_services_are_403_and_422_with_their_words(app, school):
    page = answer(app, PermissionDenied("Only the group's owner can do that."))
    assert page.status_code == 403
    assert "Only the group&#39;s owner can do that." in page.get_data(as_text=True)

    school.center.name = "changed inside a refused request"
    db.session.flush()
    fragment = answer(app, ValidationError({"title": "Give the session a title."}), htmx=True)
    assert fragment.status_code == 422 and fragment.headers["HX-Retarget"] == "#flashes"
    assert "Give the session a title." in fragment.get_data(as_text=True)
    db.session.expire_all()
    assert school.center.name != "changed inside a refused request"


def test_a_refused_direct_message_is_a_403_page(school, make, as_user):
    """Through a real route: a student may not open a direct chat with a student of another
    course (chat.services.get_or_create_direct raises PermissionDenied)."""
    from app.accounts.models import Role

    stranger = make.user(school.center, Role.STUDENT, name="Not In Your Courses")
    browser = as_user(school.students[0])
    response = browser.post(f"/chat/direct/{stranger.id}", data={"csrf_token": browser.csrf})
    assert response.status_code == 403
