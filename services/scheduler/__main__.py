"""`python -m herald.services.scheduler`"""

import asyncio

from herald.services.scheduler.app import create_app
from herald.shared.runtime.service import configure_logging

configure_logging("scheduler")
asyncio.run(create_app().run())
