"""What a log line says, as a prior: fault words, kernel and hardware terms, client errors, state dumps.

The prior is a log-odds weight added to a line's evidence (see ``novelty``):
positive when the words say something failed (``error``, ``FAILED``,
``panic``, ``timed out``, ``reset by peer``...), more when kernel or hardware
terms come with them; negative for a client's own mistake (``No such file or
directory``, ``Permission denied``: the 4xx of logs) and strongly negative for
a state dump (``name.......0``, ``register: 0x...``, ``r1=0x.. r2=0x..``, Java
stack frames), which reports values rather than an event. The built-in
lexicon is a starting point: every class's pattern and weight can be
replaced, and ``extra`` terms added, in the ``content`` settings. The per-source
part is learned elsewhere: a template seen routinely loses its novelty,
whatever its words.

>>> prior = ContentPrior(ContentConfig())
>>> prior.weight("data TLB error interrupt") > prior.weight("instruction address: 0x00004ed8")
True
>>> prior.weight("Lustre mount FAILED : bglio559 : point /p/gb1") > 0
True
>>> prior.weight("ciod: Error loading /x/y: invalid or missing program image, No such file or directory") < 1
True
>>> prior.explain("rts panic! - stopping execution")
['fault: panic, stopping']
"""

from __future__ import annotations

import re

from aiops.detectors.logs.config import ContentConfig, ContentTerm


class ContentPrior:
    """Compiled lexicon; ``weight(text)`` is the content's log-odds, ``explain`` names the terms found."""

    def __init__(self, config: ContentConfig) -> None:
        self.config = config
        self._classes: list[tuple[str, re.Pattern[str], float, float]] = []
        for name, term in self._terms(config).items():
            if term.pattern:
                self._classes.append((name, re.compile(term.pattern, re.IGNORECASE), term.weight, term.each_more))

    @staticmethod
    def _terms(config: ContentConfig) -> dict[str, ContentTerm]:
        terms = {"fault": config.fault, "hardware": config.hardware, "client": config.client, "dump": config.dump}
        terms.update(config.extra)
        return terms

    def weight(self, text: str) -> float:
        total = 0.0
        for _name, pattern, weight, each_more in self._classes:
            if each_more:
                found = len(pattern.findall(text))
                if found:
                    total += weight + each_more * min(found - 1, 2)
            elif pattern.search(text):
                total += weight
        return total

    def explain(self, text: str) -> list[str]:
        """The classes that matched, with their words: what the reason of a finding quotes."""
        out = []
        for name, pattern, _weight, _more in self._classes:
            words = [m.group(0) for m in pattern.finditer(text)]
            if words:
                out.append(f"{name}: {', '.join(dict.fromkeys(w.lower() for w in words))}")
        return out
