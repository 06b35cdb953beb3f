"""CLI for evaluate (TODO)."""


def register(sub) -> None:
    pass
