"""``python -m llmbook.evaluate piqa|mmlu ...``: see :mod:`llmbook.evaluate.suites`."""
from .suites import main

if __name__ == "__main__":
    main()
