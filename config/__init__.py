"""Settings and list schemas: the floor of the import direction (nothing here imports the rest)."""

from config._lists import (
    CHOICE_LENGTH,
    CONTACT_METHODS,
    GUEST_REQUESTS,
    LISTS,
    NAME_LENGTH,
    REASON_LENGTH,
    REGISTRATIONS,
    ROLES,
    SESSIONS,
    SUBJECT_LENGTH,
    SUBSCRIBERS,
    TEXT_LENGTH,
    THEMES,
    UPDATES,
    ListSchema,
)
from config._settings import DEFAULT_SYNC_SCHEDULE, Settings, SettingsError, load_settings

__all__ = ["CHOICE_LENGTH", "CONTACT_METHODS", "DEFAULT_SYNC_SCHEDULE", "GUEST_REQUESTS", "LISTS", "NAME_LENGTH",
           "REASON_LENGTH", "REGISTRATIONS", "ROLES", "SESSIONS", "SUBJECT_LENGTH", "SUBSCRIBERS", "TEXT_LENGTH",
           "THEMES", "UPDATES", "ListSchema", "Settings", "SettingsError", "load_settings"]
