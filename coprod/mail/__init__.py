"""Email: the outbox (each message once, at the mailbox's rate), its transports (Graph, ACS), and bounces."""
