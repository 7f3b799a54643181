"""End-to-end experiments behind the ``ccgm`` command (mindset, pendulum, fairness, demo)."""
