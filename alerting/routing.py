"""The routing tree, with Alertmanager's semantics.

An alert walks down from the root: the first matching child takes it, unless
that child says ``continue: true``, in which case the following siblings are
tried too. A node with no matching child is where the alert lands. Unset
settings (receiver, group_by, timers) are inherited from the parent.

>>> from aiops.alerting.config import RootRouteConfig
>>> tree = RouteTree(RootRouteConfig.model_validate({
...     "receiver": "ops", "routes": [
...         {"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
...         {"matchers": ["team=db"], "receiver": "dba"},
...         {"matchers": ["team=~.+"], "receiver": "teams"}]}))
>>> [r.receiver for r in tree.match({"severity": "critical", "team": "db"})]
['pager', 'dba']
>>> [r.receiver for r in tree.match({"severity": "warning"})]
['ops']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from aiops.alerting.config import RootRouteConfig, RouteConfig
from aiops.alerting.matchers import Matcher, matches_all, parse_matchers


@dataclass(slots=True)
class Route:
    """One node with every setting resolved (inherited where unset)."""

    id: str
    receiver: str
    matchers: list[Matcher]
    group_by: list[str]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    continue_: bool
    children: list[Route]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that name this alert's group (``...`` groups by every label)."""
        if "..." in self.group_by:
            return dict(labels)
        return {k: labels.get(k, "") for k in self.group_by}


def _build(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    def pick(name: str):  # noqa: ANN202 - small local helper
        value = getattr(config, name)
        return value if value is not None else getattr(parent, name)

    node = Route(
        id=route_id,
        receiver=pick("receiver"),
        matchers=parse_matchers(config.matchers),
        group_by=list(pick("group_by")),
        group_wait_s=float(pick("group_wait_s")),
        group_interval_s=float(pick("group_interval_s")),
        repeat_interval_s=float(pick("repeat_interval_s")),
        continue_=config.continue_,
        children=[],
    )
    node.children = [_build(child, node, f"{route_id}.{i}") for i, child in enumerate(config.routes)]
    return node


class RouteTree:
    """Finds the routes (receivers and grouping settings) of an alert's labels."""

    def __init__(self, config: RootRouteConfig) -> None:
        self.root = _build(config, None, "0")

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        return _match(self.root, labels) or [self.root]


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.children:
        matched = _match(child, labels)
        if matched:
            found.extend(matched)
            if not child.continue_:
                break
    return found or [route]
