"""``python -m llmbook.generate "prompt"``: see :mod:`llmbook.generate.cli`."""
from .cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    main()
