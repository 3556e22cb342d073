"""RQ jobs of the notifications domain. They take ids and are safe to run twice."""
from app.notifications import messages, push, reminders


def send_push(notification_id: int) -> dict:
    return push.deliver(notification_id)


def sweep_reminders() -> dict:
    return reminders.sweep()


def sweep_pushes() -> dict:
    from app.notifications.services import requeue_owed_pushes

    return requeue_owed_pushes()


def tell_message_members(message_id: int) -> dict:
    return messages.tell_members(message_id)


def sweep_message_notices() -> dict:
    return messages.requeue_owed_notices()
