"""kontaktsync.rules: the policy model and the engine. Pure functions, no I/O beyond reading
policy files; knows nothing of calendars."""
