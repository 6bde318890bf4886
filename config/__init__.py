"""Settings and list schemas: the floor of the import direction (nothing here imports the rest)."""

from config._lists import (
    CONTACT_METHODS,
    GUEST_REQUESTS,
    LISTS,
    REGISTRATIONS,
    ROLES,
    SESSIONS,
    SUBSCRIBERS,
    TEXT_LENGTH,
    THEMES,
    UPDATES,
    ListSchema,
)
from config._settings import DEFAULT_SYNC_SCHEDULE, Settings, SettingsError, load_settings

__all__ = ["CONTACT_METHODS", "DEFAULT_SYNC_SCHEDULE", "GUEST_REQUESTS", "LISTS", "REGISTRATIONS", "ROLES",
           "SESSIONS", "SUBSCRIBERS", "TEXT_LENGTH", "THEMES", "UPDATES", "ListSchema", "Settings", "SettingsError",
           "load_settings"]
