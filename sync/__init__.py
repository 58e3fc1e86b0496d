"""kontaktsync.sync: caseload sources, plan-to-calendar mapping, state, targets, daemon, CLI."""
