"""JUnit XML for verification results, so CI systems show each artifact and shape as a test case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekit.core.io import write_text


def junit_xml(verifications: Sequence[Any], suite: str = "edgekit.compare") -> str:
    """One ``testcase`` per (artifact, shape); a ``failure`` lists every failing output with its differences; a
    shape whose every output was "not checked" (all zeros, empty, within atol of zero) is ``skipped``, never passed."""
    cases = []
    for v in verifications:
        for c in v.checks:
            case = ET.Element("testcase", classname=f"{suite}.{Path(v.artifact).name}", name=c.label)
            lines = [
                f"{o.name}: max_abs={o.max_abs:.3g} max_rel={o.max_rel:.3g} cosine={o.cosine:.6f} "
                f"(atol={v.atol}, rtol={v.rtol}) {o.note}".rstrip()
                for o in c.outputs
                if o.status == "FAIL"
            ]
            unchecked = [f"{o.name}: {o.note}" for o in c.outputs if o.status == "not checked"]
            if c.error:
                lines.insert(0, c.error)
            if v.nondeterministic:
                ET.SubElement(case, "skipped", message="eager model is nondeterministic; outputs not comparable")
            elif lines:
                failure = ET.SubElement(case, "failure", message=lines[0][:200], type="mismatch")
                failure.text = "\n".join(lines)
            elif unchecked and len(unchecked) == len(c.outputs):
                ET.SubElement(case, "skipped", message=("not checked: " + "; ".join(unchecked))[:200])
            cases.append(case)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases if c.find("failure") is not None)),
        skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
    )
    root.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str | Path, verifications: Sequence[Any]) -> None:
    write_text(path, junit_xml(verifications))
