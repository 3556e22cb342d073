"""What the control center does when other domains' facts happen."""
from app.control_center import services
from app.live import signals as live


# A tutor's page opened while planning turns live when the session starts.
@live.session_went_live.connect
def _planning_pages_go_live(run, session=None, **_):
    if session is not None:
        services.run_started(session, run)
