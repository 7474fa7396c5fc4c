"""`python -m herald.services.mailer`"""

import asyncio

from herald.services.mailer.app import create_app
from herald.shared.runtime.service import configure_logging

configure_logging("mailer")
asyncio.run(create_app().run())
