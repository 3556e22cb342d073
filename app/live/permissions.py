"""What each role in a run may do: the one table the services, the join config and the room
page all read."""
from __future__ import annotations

from app.live.models import LiveRole

PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_SCREEN = "audio", "video", "screen"
CHAT, MODERATE, RECORD = "chat", "moderate", "record"

PERMISSIONS: dict[LiveRole, frozenset[str]] = {
    LiveRole.INSTRUCTOR: frozenset({PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_SCREEN, CHAT,
                                    MODERATE, RECORD}),
    LiveRole.LEARNER: frozenset({PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_SCREEN, CHAT}),
    # Observers watch and write in the chat; they send no media.
    LiveRole.OBSERVER: frozenset({CHAT}),
}
MEDIA = frozenset({PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_SCREEN})


def may(role: LiveRole, permission: str) -> bool:
    return permission in PERMISSIONS[role]


def publishable(role: LiveRole) -> frozenset[str]:
    return PERMISSIONS[role] & MEDIA
