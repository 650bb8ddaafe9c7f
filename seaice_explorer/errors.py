"""The one exception type for bad input, with messages that say what to do."""

from __future__ import annotations

from os import PathLike


class SeaIceInputError(ValueError):
    """Bad input: a wrong or missing file, variable, shape, value or parameter.

    The message always names the source, what is wrong and what to do about it.
    """

    def __init__(self, source: str | PathLike | None, problem: str, fix: str) -> None:
        self.source = None if source is None else str(source)
        self.problem = problem
        self.fix = fix
        where = f"{self.source}: " if self.source else ""
        super().__init__(f"{where}{problem}. {fix}")

    def __reduce__(self):  # picklable across processes (multiprocessing, executors)
        return (type(self), (self.source, self.problem, self.fix))
