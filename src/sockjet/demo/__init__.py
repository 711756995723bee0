"""The chat demo that ``sockjet demo`` serves: ``create_app()`` in ``app``, the page in ``static/``."""
