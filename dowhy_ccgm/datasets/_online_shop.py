"""The graph of DoWhy's online-shop example (``dowhy.datasets.sales_dataset``)."""
from __future__ import annotations

import networkx as nx

__all__ = ["online_shop_graph"]


def online_shop_graph() -> nx.DiGraph:
    """The causal DAG of DoWhy's online-shop notebook ("Finding the root cause of
    elevated profit loss", ``dowhy.datasets.sales_dataset``): a shopping event drives the
    ad spend, the page views, the unit price (discounts) and the sold units; revenue is
    price times units, operational cost follows the ad spend and the units, and profit is
    revenue minus cost (the last two and the revenue are exact formulas of their
    parents in the generator)."""
    return nx.DiGraph([
        ("Page Views", "Sold Units"), ("Revenue", "Profit"), ("Unit Price", "Sold Units"),
        ("Unit Price", "Revenue"), ("Shopping Event?", "Page Views"),
        ("Shopping Event?", "Sold Units"), ("Shopping Event?", "Unit Price"),
        ("Shopping Event?", "Ad Spend"), ("Ad Spend", "Page Views"),
        ("Ad Spend", "Operational Cost"), ("Sold Units", "Revenue"),
        ("Sold Units", "Operational Cost"), ("Operational Cost", "Profit")])
