"""Call engines: how a run's media flows. ``base`` is the interface; ``mesh`` (built in, peer to
peer with signalling over /ws) and ``janus`` (the Janus SFU) implement it."""
