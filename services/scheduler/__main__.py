"""`python -m herald.services.scheduler`"""

from herald.services.scheduler.app import create_app
from herald.shared.runtime.service import run

run("scheduler", create_app)
