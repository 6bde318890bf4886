"""A small, faithful Microsoft Graph for this service's endpoints (see docs/design.md).

It imports nothing from the service, so it runs and is tested alone:
`python -m graph_emulator --host 127.0.0.1 --port 8443`, or in a test:

    with EmulatorServer() as emulator:
        settings = emulator.env()   # the M365_* variables
"""

from graph_emulator._app import create_app
from graph_emulator._backend import Backend
from graph_emulator._faults import FaultRule
from graph_emulator._permissions import ALL_ROLES, TenantPolicy
from graph_emulator._server import EmulatorServer

__all__ = ["ALL_ROLES", "Backend", "EmulatorServer", "FaultRule", "TenantPolicy", "create_app"]
