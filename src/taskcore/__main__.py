"""``python -m taskcore``: the same command line as ``taskcore`` (``taskcore.cli``)."""

from taskcore.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised as a subprocess
    raise SystemExit(main())
