"""The one distinction every job makes about an error: can its user fix it?"""

from __future__ import annotations


class UserError(Exception):
    """Wrong input or settings, not a journeylake bug: a job ends with the message (which says
    what and where) and exit status 2 instead of a stack trace."""
