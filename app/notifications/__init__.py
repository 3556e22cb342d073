"""In-app notification center, web push (VAPID), reminders before every occurrence, and the
preferences that decide which channel each event takes."""
