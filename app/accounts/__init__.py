"""Centers (tenants), users, roles, courses and enrollments, authentication, settings."""
