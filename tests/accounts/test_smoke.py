from tests.conftest import login


def test_login_and_dashboard(client, school):
    login(client, school.teacher)
    page = client.get("/").get_data(as_text=True)
    assert "Algebra" in page
