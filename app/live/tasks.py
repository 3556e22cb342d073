"""RQ jobs of the live domain (run by the worker inside the app context)."""


def sweep_live_runs() -> int:
    """Cron: close segments of pages that stopped sending heartbeats and end empty runs."""
    from app.live import services

    return services.sweep_stale_segments()


def sweep_session_runs() -> int:
    """Cron: end scheduled sessions' runs still live at their occurrence's end plus the grace."""
    from app.live import session_runs

    return session_runs.sweep_session_runs()
