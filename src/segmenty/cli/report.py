"""CLI for report (TODO)."""


def register(sub) -> None:
    pass
