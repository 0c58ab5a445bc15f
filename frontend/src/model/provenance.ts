/**
 * A readable account of how a proposal instance came about, from its `provenance` JSON
 * (`ml_backend`: OpenAVS gives audio tags → noun → boxes; the synchrony baseline gives audio level,
 * motion and a box; a mask propagation gives the window's audio level and tags, the tags that
 * support the label, and why the instance counts as sounding or silent). Unknown shapes degrade to a
 * short key: value list.
 */
export interface ProvenanceStep {
  /** e.g. "Audio tags", "Noun", "Box". */
  title: string;
  detail: string;
}

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: Json, digits = 2): string {
  return typeof v === "number" ? v.toFixed(digits) : String(v);
}

function box(v: Json): string | null {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === "number")
    ? `[${v.map((x) => Math.round(x as number)).join(", ")}]`
    : null;
}

export function describeProvenance(provenance: Json): ProvenanceStep[] {
  if (!isRecord(provenance)) return [];
  const steps: ProvenanceStep[] = [];
  const tags = provenance.audio_tags;
  if (Array.isArray(tags) && tags.length) {
    steps.push({
      title: "Audio tags",
      detail: tags
        .map((t) =>
          isRecord(t)
            ? `${String(t.label)}${t.score !== undefined ? ` (${num(t.score)})` : ""}`
            : Array.isArray(t) && t.length === 2
              ? `${String(t[0])} (${num(t[1])})`
              : String(t),
        )
        .join(", "),
    });
  } else if (Array.isArray(provenance.clip_audio_tags) && provenance.clip_audio_tags.length) {
    steps.push({ title: "Audio tags", detail: provenance.clip_audio_tags.map(String).join(", ") });
  }
  if (typeof provenance.noun === "string") {
    const via = typeof provenance.translator === "string" ? ` (via ${provenance.translator})` : "";
    steps.push({ title: "Noun", detail: `${provenance.noun}${via}` });
  }
  const boxes = provenance.boxes;
  if (Array.isArray(boxes) && boxes.length) {
    steps.push({
      title: boxes.length > 1 ? "Boxes" : "Box",
      detail: boxes
        .map((b) => {
          if (!isRecord(b)) return String(b);
          const xyxy = box(b.xyxy) ?? "?";
          return `${xyxy}${b.score !== undefined ? ` score ${num(b.score)}` : ""}`;
        })
        .join("; "),
    });
  } else {
    const single = box(provenance.box);
    if (single) steps.push({ title: "Box", detail: single });
  }
  if (typeof provenance.rms === "number") steps.unshift({ title: "Audio level", detail: `RMS ${num(provenance.rms, 3)}` });
  if (Array.isArray(provenance.supported_by)) {
    steps.push({ title: "Sounding", detail: provenance.supported_by.length ? `supported by ${provenance.supported_by.map(String).join(", ")}` : "no tag supports the label" });
  }
  if (typeof provenance.reason === "string" && provenance.reason) steps.push({ title: "Why", detail: provenance.reason });
  if (isRecord(provenance.clip_label)) {
    steps.push({ title: "Label", detail: `${String(provenance.clip_label.label)} (${num(provenance.clip_label.score)})` });
  }
  if (typeof provenance.method === "string") {
    const parts = ["audio_level_db", "activity", "synchrony", "motion"]
      .filter((k) => provenance[k] !== undefined && provenance[k] !== null)
      .map((k) => `${k.replace(/_/g, " ")} ${num(provenance[k])}`);
    steps.unshift({ title: "Method", detail: [provenance.method, ...parts].join(", ") });
  }
  if (!steps.length) {
    const keys = Object.keys(provenance).slice(0, 4);
    for (const k of keys) steps.push({ title: k, detail: JSON.stringify(provenance[k]).slice(0, 80) });
  }
  return steps;
}
