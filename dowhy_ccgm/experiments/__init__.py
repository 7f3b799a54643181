"""End-to-end experiments behind the ``ccgm`` command (mindset, pendulum, demo)."""
