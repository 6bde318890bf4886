"""The identity service: the tenant's token authority (Entra's v2.0 endpoint) and the app's roles."""
