"""kontaktsync.sync.config: the configuration: the settings model, loading from its sources, error wording."""
