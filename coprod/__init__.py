"""The application: reconcilers, rules, state store, CLI (`python -m coprod`)."""
