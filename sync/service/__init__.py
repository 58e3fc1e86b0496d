"""kontaktsync.sync.service: the background service: daemon, logs, health, metrics."""
