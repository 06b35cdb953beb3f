"""CLI for demo (TODO)."""


def register(sub) -> None:
    pass
