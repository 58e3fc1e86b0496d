"""kontaktsync.sync.caseload.reader: the caseload: formats, columns, validation."""
