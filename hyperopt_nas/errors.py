"""The errors that stop a search, as opposed to a failed trial (which is recorded and skipped)."""


class FatalError(RuntimeError):
    """The search cannot go on (bad data, full disk, too many failures); earlier results stay."""
