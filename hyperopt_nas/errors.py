"""The errors that stop a search, as opposed to a failed trial (which is recorded and skipped)."""


class FatalError(RuntimeError):
    """The search cannot go on (bad data, full disk, too many failures); earlier results stay."""


class LabelsError(FatalError, ValueError):
    """The data's labels do not fit the network's output (found at the first network, before it
    trains): fatal to the search, and a ``ValueError`` to ``search()``'s caller, as the other
    bad data it refuses."""


class DataError(RuntimeError):
    """A dataset is missing or unreadable; the message says which file and what to do. (Here,
    not in ``data_loaders``, so that ``runtime/tf_data.py`` raises it without importing that.)"""


class SpaceFileError(ValueError):
    """A space file is missing, broken or incomplete; the message says what to fix. Here, not in
    ``space_files`` (which loads hyperopt), so that the modules that only raise or catch it stay
    light."""
