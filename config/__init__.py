"""Settings and list schemas: the floor of the import direction (nothing here imports the rest)."""

from config._settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
