"""kontaktsync.sync.targets: calendar targets behind one protocol (base.py) and one marker
codec; CalDAV, Exchange and in memory."""
