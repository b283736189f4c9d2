"""``python -m llmbook.train`` (or ``torchrun ... -m llmbook.train``): see :mod:`llmbook.train.cli`."""
from .cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    main()
