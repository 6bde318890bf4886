"""Settings and list schemas: the floor of the import direction (nothing here imports the rest)."""

from config._lists import (
    CHOICE_LENGTH,
    CONTACT_METHODS,
    DESCRIPTION_LENGTH,
    GUEST_REQUESTS,
    LISTS,
    NAME_LENGTH,
    NEEDS_LENGTH,
    NOTE_SHOWN,
    PHONE_LENGTH,
    POSTAL_LINE_LENGTH,
    POSTAL_LINES,
    REASON_LENGTH,
    REGISTRATIONS,
    ROLE_LENGTH,
    ROLES,
    SESSIONS,
    SUBJECT_LENGTH,
    SUBSCRIBERS,
    TEXT_LENGTH,
    THEME_LENGTH,
    THEME_SHOWN,
    THEMES,
    UPDATES,
    ListSchema,
)
from config._settings import DEFAULT_SYNC_SCHEDULE, Settings, SettingsError, load_settings

__all__ = ["CHOICE_LENGTH", "CONTACT_METHODS", "DEFAULT_SYNC_SCHEDULE", "DESCRIPTION_LENGTH", "GUEST_REQUESTS",
           "LISTS", "NAME_LENGTH", "NEEDS_LENGTH", "NOTE_SHOWN", "PHONE_LENGTH", "POSTAL_LINES", "POSTAL_LINE_LENGTH",
           "REASON_LENGTH", "REGISTRATIONS", "ROLES", "ROLE_LENGTH", "SESSIONS", "SUBJECT_LENGTH", "SUBSCRIBERS",
           "TEXT_LENGTH", "THEMES", "THEME_LENGTH", "THEME_SHOWN", "UPDATES", "ListSchema", "Settings",
           "SettingsError", "load_settings"]
