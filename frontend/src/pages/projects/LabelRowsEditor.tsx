/** Editable rows of (label name, colour), used when creating a project. */

export interface LabelDraft {
  name: string;
  color: string;
}

/** A fixed, distinguishable palette for new labels (the server picks its own when omitted). */
export const LABEL_PALETTE = [
  "#e6194b",
  "#3cb44b",
  "#4363d8",
  "#f58231",
  "#911eb4",
  "#42d4f4",
  "#f032e6",
  "#bfef45",
  "#469990",
  "#9a6324",
];

export function nextColor(used: readonly string[]): string {
  const taken = new Set(used.map((c) => c.toLowerCase()));
  return LABEL_PALETTE.find((c) => !taken.has(c)) ?? LABEL_PALETTE[used.length % LABEL_PALETTE.length];
}

interface Props {
  rows: LabelDraft[];
  onChange: (rows: LabelDraft[]) => void;
}

export function LabelRowsEditor({ rows, onChange }: Props) {
  const update = (index: number, patch: Partial<LabelDraft>) =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  return (
    <div className="label-rows">
      {rows.map((row, index) => (
        <div className="label-row" key={index}>
          <input
            type="color"
            aria-label={`Colour of label ${index + 1}`}
            value={row.color}
            onChange={(event) => update(index, { color: event.target.value })}
          />
          <input
            aria-label={`Label ${index + 1}`}
            placeholder="e.g. guitar"
            value={row.name}
            onChange={(event) => update(index, { name: event.target.value })}
          />
          <button
            type="button"
            className="btn btn-small btn-ghost"
            aria-label={`Remove label ${index + 1}`}
            onClick={() => onChange(rows.filter((_, i) => i !== index))}
          >
            ×
          </button>
        </div>
      ))}
      <button
        type="button"
        className="btn btn-small"
        onClick={() => onChange([...rows, { name: "", color: nextColor(rows.map((r) => r.color)) }])}
      >
        + Add label
      </button>
    </div>
  );
}
