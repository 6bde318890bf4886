"""Thin trigger adapters: parse the trigger, call `coprod`, map the result or error to a response."""
