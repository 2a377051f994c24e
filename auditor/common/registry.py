"""One registry mechanism for every plug-in kind (saliency methods, architectures, region formats).

Like timm's ``_registry.py``: entries are added by a decorator, names can be listed, a
duplicate name is a programming error, and an unknown name raises the kind's
:class:`~auditor.errors.AuditorError` subclass with the closest valid name and the full list.

Families of names too large or too open to register one by one (every torchvision model,
``timm:<name>``, ``"file.py:Class"``) are *resolvers*: functions tried in order on a name the
registry does not hold, each returning an entry or None. Their candidate names take part in the
did-you-mean suggestion and their one-line descriptions in the list of valid names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from auditor.errors import AuditorError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind.

    Args:
        kind: what an entry is, for messages ("architecture", "saliency method").
        error: the error class raised for an unknown name.
        where: prefix of the error message naming the config key (e.g. ``"data.regions.format: "``).
        sort: list names sorted (True) or in registration order (False).
        loader: called before every look-up, to import the modules that register built-ins.
    """

    def __init__(self, kind: str, *, error: type[AuditorError], where: str = "",
                 sort: bool = True, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._error = error
        self._where = where
        self._sort = sort
        self._loader = loader
        self._entries: dict[str, T] = {}
        self._resolvers: list[tuple[Callable[[str], T | None], str,
                                    Callable[[], list[str]] | None]] = []

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``.

        Raises:
            ValueError: ``name`` is already registered (two plug-ins would shadow each other).
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def add_resolver(self, resolve: Callable[[str], T | None], *, describe: str,
                     candidates: Callable[[], list[str]] | None = None) -> None:
        """Resolve names not registered: ``resolve(name)`` returns an entry or None.

        Args:
            resolve: may raise the registry's error itself for a name it recognises but cannot
                serve (an optional package missing, a file not found).
            describe: the family in the list of valid names (``"timm:<name>"``).
            candidates: names of the family, for the did-you-mean suggestion.
        """
        self._resolvers.append((resolve, describe, candidates))

    def decorator(self, name: str, make: Callable[[Callable], T]) -> Callable[[Callable], Callable]:
        """A decorator that registers ``make(fn)`` under ``name`` and returns ``fn`` unchanged."""

        def deco(fn: Callable) -> Callable:
            self.add(name, make(fn))
            return fn

        return deco

    def _load(self) -> None:
        if self._loader is not None:
            self._loader()

    def names(self) -> list[str]:
        """Registered names (sorted, or in registration order)."""
        self._load()
        return sorted(self._entries) if self._sort else list(self._entries)

    def values(self) -> list[T]:
        """Registered entries, in the order of :meth:`names`."""
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            AuditorError: (the registry's subclass) unknown name; one line with the closest
                valid name, if any, and every valid name.
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        if isinstance(name, str):
            for resolve, _, _ in self._resolvers:
                entry = resolve(name)
                if entry is not None:
                    return entry
        names = self.names()
        pool = names + [c for _, _, cands in self._resolvers if cands for c in cands()]
        close = difflib.get_close_matches(str(name), pool, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        families = "".join(f"; or {d}" for _, d, _ in self._resolvers)
        raise self._error(f"{self._where}unknown {self.kind} {name!r}{hint}; "
                          f"valid: {', '.join(names)}{families}")
