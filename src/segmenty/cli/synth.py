"""CLI for synth (TODO)."""


def register(sub) -> None:
    pass
