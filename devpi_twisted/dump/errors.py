"""The errors of a dump that cannot be read, imported or written."""


class DumpError(Exception):
    """Bad input or a failed step; C{str()} names the file or key at fault."""


class NotEmpty(DumpError):
    """The directory a dump step would create exists and holds something."""
