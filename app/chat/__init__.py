"""Threads (direct, group, class, session), members and read state, messages, attachments,
search. Realtime delivery goes through app.realtime."""
