"""kontaktsync.sync.core: the sync core: plan -> desired items, reconcile, runner, state, lock."""
