"""The Label Studio labeling configuration generated for a project.

One frame per task: the frame's picture (`$image`) with brush masks per label, keypoints and rectangles that are
SAM prompts for our interactive ML backend (`smart="true"`), the clip's audio (`$audio`) and the frame's time window
(`$window`). The control names are fixed: the ML backend and the importers read results by them.

Label names come from users: the XML is built with ElementTree, which escapes them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from server.annotations.services import PROPOSAL_FALLBACK_LABEL
from server.media.models import Project

IMAGE = "image"  # <Image name="image" value="$image"/>
MASK = "mask"  # <BrushLabels name="mask" toName="image">: the annotation
POINT = "point"  # <KeyPointLabels name="point" toName="image" smart="true">: SAM click prompts
BOX = "box"  # <RectangleLabels name="box" toName="image" smart="true">: SAM box prompts
AUDIO = "audio"  # <Audio name="audio" value="$audio"/>
WINDOW = "window"  # the frame's time window, `data.window`
FALLBACK_COLOR = "#888888"  # labels Label Studio must show that the project no longer has


def label_config_labels(*, project: Project, extra: Iterable[str] = ()) -> list[tuple[str, str]]:
    """`[(name, "#rrggbb")]`: the project's labels, then `extra` names it lacks (labels used by pushed predictions
    or already in Label Studio: Label Studio refuses a configuration that drops a label its annotations use).
    Never empty: a project without labels gets the proposals' fallback label."""
    labels = [(label.name, label.color) for label in project.labels.order_by("name")]
    known = {name for name, _ in labels}
    for name in extra:
        if name and name not in known:
            labels.append((name, FALLBACK_COLOR))
            known.add(name)
    return labels or [(PROPOSAL_FALLBACK_LABEL, FALLBACK_COLOR)]  # a control needs a label


def label_config_xml(*, labels: list[tuple[str, str]]) -> str:
    """The `<View>` XML for `labels` (`[(name, colour)]`, escaped here)."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", {"value": f"${WINDOW}", "size": "5"})
    ET.SubElement(view, "Image", {"name": IMAGE, "value": f"${IMAGE}", "zoom": "true", "zoomControl": "true"})
    controls = (
        ("BrushLabels", {"name": MASK, "toName": IMAGE}),
        ("KeyPointLabels", {"name": POINT, "toName": IMAGE, "smart": "true"}),
        ("RectangleLabels", {"name": BOX, "toName": IMAGE, "smart": "true"}),
    )
    for tag, attributes in controls:
        control = ET.SubElement(view, tag, attributes)
        for name, color in labels:
            ET.SubElement(control, "Label", {"value": name, "background": color})
    ET.SubElement(view, "Audio", {"name": AUDIO, "value": f"${AUDIO}"})
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def label_config_labels_of(xml: str) -> list[str]:
    """The brush label names of a configuration we generated (empty when it cannot be read)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    return [
        label.get("value", "")
        for control in root.iter("BrushLabels")
        if control.get("name") == MASK
        for label in control.iter("Label")
        if label.get("value")
    ]


def label_config(*, project: Project, extra_labels: Iterable[str] = ()) -> str:
    """The labeling configuration pushed for `project` (see `label_config_labels` for `extra_labels`)."""
    return label_config_xml(labels=label_config_labels(project=project, extra=extra_labels))
