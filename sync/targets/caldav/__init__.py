"""kontaktsync.sync.targets.caldav: the CalDAV target and its iCalendar mapping."""
