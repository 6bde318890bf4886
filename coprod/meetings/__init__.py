"""Teams meetings: one for every Open session, kept in step with it."""
