"""``python -m llmbook.book``: execute the notebooks and build the web book (see :mod:`.build`)."""
import sys

from .build import main

sys.exit(main())
