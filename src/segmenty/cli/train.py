"""CLI for train (TODO)."""


def register(sub) -> None:
    pass
