"""CLI for predict (TODO)."""


def register(sub) -> None:
    pass
