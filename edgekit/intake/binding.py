"""Bind input names (``--input``, ``example_inputs()``) to ``forward``'s parameters by name, not by position.

``--input b:1x4 --input a:1x4`` for ``forward(self, a, b)`` is reordered to ``a, b`` (and the binding says so);
a duplicated name, or a name that is none of ``forward``'s parameters, is refused with the signature shown, before
anything is exported. Keyword-only parameters (``forward(self, x, *, mask)``), and parameters after a skipped
optional one, are passed by keyword (:class:`edgekit.core.model.FlatOutputs` does it). A model whose only
parameter is named otherwise (``nn.Sequential.forward(input)`` fed ``--input x:...``) is fed positionally: one
input, one parameter, nothing to mix up.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

from edgekit.core.errors import BadInput, suggest
from edgekit.core.spec import InputSpec

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclasses.dataclass
class Binding:
    """How named inputs reach ``forward``.

    Args:
        specs: the input specs in the order they are fed (forward's order).
        keywords: names of the trailing specs passed by keyword.
        mode: ``by name``, ``positional`` (a single input, or forward takes ``*args``), or ``declared`` (a
            recipe's own input order).
        reordered: the given order differed from forward's.
        signature: forward's signature as text (for messages and the manifest).
    """

    specs: list[InputSpec]
    keywords: list[str]
    mode: str
    reordered: bool
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "order": [s.name for s in self.specs],
            "keywords": list(self.keywords),
            "reordered": self.reordered,
            "signature": self.signature,
        }

    def note(self) -> str | None:
        """One line for the user when the binding changed what they gave (a reorder), else None."""
        if not self.reordered:
            return None
        return f"inputs reordered to forward's order: {', '.join(s.name for s in self.specs)} ({self.signature})"


def signature_text(forward: Any) -> str:
    """``forward(a, b, *, mask=None)``: names, ``=...`` for defaults, ``*`` / ``**`` markers, no annotations
    (``self`` omitted); ``forward(...)`` when it cannot be read."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return "forward(...)"
    parts: list[str] = []
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not any(x.kind is x.VAR_POSITIONAL for x in params) and "*" not in parts:
            parts.append("*")
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        parts.append(f"{prefix}{p.name}" + ("" if p.default is p.empty else "=..."))
    return f"forward({', '.join(parts)})"


def bind(forward: Any, specs: Sequence[InputSpec], origin: str, declared: Sequence[str] = ()) -> Binding:
    """Bind ``specs`` to ``forward``'s parameters.

    Args:
        forward: the model's bound ``forward``.
        specs: the inputs, in the order given.
        origin: where the names came from, for messages (``--input``, ``example_inputs()``).
        declared: a recipe's own input names (its order is used when the names are those, not forward's).

    Raises:
        BadInput: a duplicated name, a name forward does not take, or a required parameter left without input.
    """
    names = [s.name for s in specs]
    sig = signature_text(forward)
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise BadInput(f"{origin}: input '{dup}' is given twice; give each of {sig}'s inputs once")
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # a compiled or scripted forward: order as given
        return Binding(list(specs), [], "positional", False, sig)
    if any(p.kind is p.VAR_POSITIONAL for p in params) and not set(names) <= {p.name for p in params}:
        return Binding(list(specs), [], "positional", False, sig)
    known = {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if set(names) <= set(known):
        return _by_name(specs, params, origin, sig)
    positional = [p for p in params if p.kind in _POSITIONAL]
    if len(specs) == 1 and len([p for p in positional if p.default is p.empty]) <= 1 and positional:
        return Binding(list(specs), [], "positional", False, sig)
    if declared and sorted(declared) == sorted(names):
        order = {n: i for i, n in enumerate(declared)}
        ordered = sorted(specs, key=lambda s: order[s.name])
        return Binding(ordered, [], "declared", ordered != list(specs), sig)
    unknown = next(n for n in names if n not in known)
    raise BadInput(
        f"{origin}: '{unknown}' is not a parameter of {sig}; name each input after forward's parameters."
        f"{suggest(unknown, known)}"
    )


def _by_name(specs: Sequence[InputSpec], params: list[inspect.Parameter], origin: str, sig: str) -> Binding:
    by_name = {s.name: s for s in specs}
    missing = [
        p.name
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in by_name
    ]
    if missing:
        raise BadInput(
            f"{origin}: no input for {sig}'s required parameter '{missing[0]}'; add --input {missing[0]}:DIMS[:DTYPE]"
        )
    ordered, keywords, gap = [], [], False
    for p in params:
        if p.name not in by_name:
            gap = gap or p.kind in _POSITIONAL
            continue
        ordered.append(by_name[p.name])
        if gap or p.kind is p.KEYWORD_ONLY:
            keywords.append(p.name)
            gap = True  # everything after a keyword is passed by keyword too
    return Binding(ordered, keywords, "by name", [s.name for s in ordered] != [s.name for s in specs], sig)
