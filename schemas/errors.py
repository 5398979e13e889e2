"""Error type for bad input: names the file, the field and the reason in one line."""
from __future__ import annotations


class InputError(ValueError):
    """Malformed or unsupported input.

    Raised by the canonical containers and by every source adapter. ``str(err)`` is a
    single line ``"<path>: <field>: <reason>"`` (parts that are unknown are left out),
    so the command line can print it without a traceback.
    """

    def __init__(self, reason: str, *, path: str | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.field = field
        self.reason = reason
        parts = [p for p in (self.path, field, reason) if p]
        super().__init__(": ".join(parts).replace("\n", " "))

    def with_path(self, path: str) -> "InputError":
        """Return a copy that names ``path`` (used by adapters that validate late)."""
        if self.path is not None:
            return self
        return InputError(self.reason, path=path, field=self.field)
