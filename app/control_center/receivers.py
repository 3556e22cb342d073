"""What the control center does when other domains' facts happen."""
from app.control_center import services
from app.live import signals as live


# When the session starts, a tutor's page opened while planning turns live, and the learners'
# pages waiting in the lobby get their box and whether their tutor is talking to them.
@live.session_went_live.connect
def _planning_pages_go_live(run, session=None, **_):
    if session is not None:
        services.run_started(session, run)


live.session_went_live.connect(services.on_session_went_live)
