"""The one base class of errors a person can fix from the message alone.

Commands turn any of them into that message and exit status 1, without a traceback. The module
imports nothing, so the command line can catch them without loading what raises them.
"""


class FixableError(Exception):
    """Something the admin can put right: the message says what happened and what to do."""
