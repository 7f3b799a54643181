"""The ``ccgm`` command line: ``ccgm mindset``, ``ccgm pendulum``, ``ccgm fairness``,
``ccgm demo``.

Each experiment module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

_COMMANDS = {
    "mindset": ("dowhy_ccgm.experiments.mindset",
                "Learning Mindsets: de-biased data sets and the ATE table (paper Table II)"),
    "pendulum": ("dowhy_ccgm.experiments.pendulum",
                 "Pendulum: interventions and edge removal, measured (paper Figs. 5-11)"),
    "fairness": ("dowhy_ccgm.experiments.fairness",
                 "Adult: fair synthetic data, DECAF's protocol (precision, recall, AUROC, "
                 "DP, counterfactual unfairness)"),
    "demo": ("dowhy_ccgm.experiments.demo",
             "A 30-second tour: fit, sample, intervene, remove an edge on a toy SCM"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccgm", description="Causal Counterfactual Generative Models (dowhy_ccgm)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an experiment not shipped in this build
            if exc.name != module:
                raise
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        mod.add_arguments(p)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
