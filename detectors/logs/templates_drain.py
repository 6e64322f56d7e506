"""Drain with masking-aware similarity.

Drain3's ``Drain`` counts a masked token (``<IP>``) equal in two messages as
a shared constant word, and counts ``r27`` against ``r13`` as two different
words. Here tokens are compared by their *shape*, the token without its
digits and placeholders: a token whose shape is empty (a number, a masked
value) is a parameter and does not count; the others are equal when their
shapes are, and two differing plain words (``Resumed`` against ``Started``)
keep two messages apart whatever the rest. Similarity is the share of equal tokens among the template's
constant tokens. Tokens that differ only in digits keep their shape in the
template (``onExtend:<*>``).

>>> d = MaskedDrain(sim_th=0.5)
>>> a, _ = d.add_log_message("<UUID> Creating image")
>>> b, _ = d.add_log_message("<UUID> Claim successful")
>>> a.cluster_id == b.cluster_id
False
>>> c, _ = d.add_log_message("<UUID> Creating snapshot")
>>> c.cluster_id == a.cluster_id
False
>>> e, _ = d.add_log_message("Took 2.5 seconds to spawn vm-12 on node3")
>>> f, _ = d.add_log_message("Took 3.1 seconds to spawn vm-7 on node12")
>>> e.cluster_id == f.cluster_id, " ".join(f.log_template_tokens)
(True, 'Took <*> seconds to spawn vm-<*> on node<*>')
>>> _ = d.add_log_message("onExtend:1514038530000")
>>> " ".join(d.add_log_message("onExtend:1514038531000")[0].log_template_tokens)
'onExtend:<*>'
"""

from __future__ import annotations

import re
from functools import lru_cache

from drain3.drain import Drain

_PLACEHOLDER = re.compile(r"^<[A-Za-z_*][A-Za-z0-9_]*>$")
_VARIABLE = re.compile(r"<[A-Za-z_*][A-Za-z0-9_]*>|\d+")


def is_word(token: str) -> bool:
    """A token whose constant part is a plain word (``SOCKS5``, ``Resumed.``)."""
    return shape(token).strip(".,:;!?'\"").isalpha()


def is_placeholder(token: str) -> bool:
    """A whole-token mask such as ``<IP>`` or the wildcard ``<*>``."""
    return token[:1] == "<" and token[-1:] == ">" and bool(_PLACEHOLDER.match(token))


@lru_cache(maxsize=65536)
def shape(token: str) -> str:
    """The token without digits and placeholders: what stays constant.

    >>> shape("r27"), shape("<IP>:<NUM>"), shape("core.2275")
    ('r', ':', 'core.')
    """
    return _VARIABLE.sub("", token)


_PUNCTUATION = ".:=,;()[]{}/-_#"


@lru_cache(maxsize=65536)
def token_facts(token: str) -> tuple[str | None, bool]:
    """A token's shape (None when nothing constant stays: a parameter) and whether it is a plain word.

    >>> token_facts("<IP>:<NUM>"), token_facts("r27"), token_facts("Resumed.")
    ((None, False), ('r', True), ('Resumed.', True))
    """
    form = shape(token)
    return (form if form.strip(_PUNCTUATION) else None), form.strip(".,:;!?'\"").isalpha()


class MaskedDrain(Drain):
    """``Drain`` comparing tokens by shape, with masked values as parameters."""

    @staticmethod
    def has_numbers(s: str) -> bool:
        return bool(_VARIABLE.search(s))

    def get_seq_distance(self, seq1, seq2, include_params: bool):  # noqa: ANN001 - Drain3 signature
        constant = equal = params = 0
        wildcard = self.param_str
        for token1, token2 in zip(seq1, seq2):
            if token1 == wildcard:
                params += 1
                continue
            form, word = token_facts(token1)
            if form is None:  # a masked value, a number: a parameter
                params += 1
                continue
            constant += 1
            if token1 == token2:
                equal += 1
                continue
            form2, word2 = token_facts(token2)
            if form == form2:
                equal += 1
            elif word and word2:
                return 0.0, params  # two different words: different events
        if constant == 0:
            return 1.0, params
        if include_params:
            return (equal + params) / len(seq1), params
        return equal / constant, params

    def create_template(self, seq1, seq2):  # noqa: ANN001 - Drain3 signature
        template = list(seq2)
        for i, (token1, token2) in enumerate(zip(seq1, seq2)):
            if token1 == token2:
                continue
            if shape(token1) == shape(token2) and shape(token2).strip(".:=,;()[]{}/-_#"):
                template[i] = _VARIABLE.sub(self.param_str, token2) if "<*>" not in token2 else token2
            else:
                template[i] = self.param_str
        return template
