"""Sessions: scheduling, recurrence and overrides, calendar views, the personal .ics feed."""
