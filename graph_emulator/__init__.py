"""A small, faithful Microsoft Graph for this service's endpoints (see docs/design.md).

It imports nothing from the service, so it runs and is tested alone:
`python -m graph_emulator --host 127.0.0.1 --port 8443`, or in a test:

    with EmulatorServer() as emulator:
        settings = emulator.env()   # the M365_* variables
"""

from graph_emulator.core.app import create_app
from graph_emulator.core.backend import Backend
from graph_emulator.core.faults import FaultRule
from graph_emulator.core.permissions import ALL_ROLES, TenantPolicy
from graph_emulator.core.server import EmulatorServer

__all__ = ["ALL_ROLES", "Backend", "EmulatorServer", "FaultRule", "TenantPolicy", "create_app"]
