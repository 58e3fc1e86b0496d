"""kontaktsync.sync.targets.exchange: the Exchange (EWS) target."""
