"""What every service of the emulator shares: Graph's errors, the HTTP core, permissions, faults, the tenant as a
whole (`backend.py`) and the app and server in front of it. The services (`sharepoint/`, `directory/`, `mail/`,
...) import from here and never from each other."""
