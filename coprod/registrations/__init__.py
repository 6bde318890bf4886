"""Registrations: the rules (no I/O), the sync that applies them to the lists, and each participant's emails."""
