import { type FormEvent, useState } from "react";
import { ColorSwatch } from "../../components/ColorSwatch";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorBanner, FormError } from "../../components/ErrorBanner";
import { EmptyState, Loading } from "../../components/Loading";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import type { Abilities } from "../../hooks/roles";
import { createLabel, deleteLabel, type Label, listLabels, updateLabel } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { nextColor } from "../projects/LabelRowsEditor";

interface Props {
  projectId: number;
  can: Abilities;
  onChanged: () => void;
}

function LabelEditRow({
  label,
  onSave,
  onCancel,
}: {
  label: Label;
  onSave: (name: string, color: string) => Promise<void>;
  onCancel: () => void;
}) {
  const [name, setName] = useState(label.name);
  const [color, setColor] = useState(label.color);
  const [busy, setBusy] = useState(false);
  return (
    <tr data-testid={`label-row-${label.id}`}>
      <td>
        <input type="color" aria-label="Colour" value={color} onChange={(e) => setColor(e.target.value)} />
      </td>
      <td>
        <input aria-label="Label name" value={name} onChange={(e) => setName(e.target.value)} />
      </td>
      <td className="mono">{color}</td>
      <td className="actions">
        <button
          type="button"
          className="btn btn-small btn-primary"
          disabled={busy || !name.trim()}
          onClick={async () => {
            setBusy(true);
            await onSave(name.trim(), color);
            setBusy(false);
          }}
        >
          Save
        </button>
        <button type="button" className="btn btn-small" onClick={onCancel}>
          Cancel
        </button>
      </td>
    </tr>
  );
}

/** The label vocabulary with colour swatches. Managers and annotators add; managers edit and delete. */
export function LabelsPanel({ projectId, can, onChanged }: Props) {
  const labels = useAsync(() => listLabels(projectId), [projectId]);
  const [name, setName] = useState("");
  const [color, setColor] = useState<string | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [addError, setAddError] = useState<ApiError | null>(null);
  const [rowError, setRowError] = useState<ApiError | null>(null);

  const used = labels.data?.results.map((l) => l.color) ?? [];
  const shownColor = color ?? nextColor(used);

  const onAdd = async (event: FormEvent) => {
    event.preventDefault();
    setAddError(null);
    try {
      const label = await createLabel(projectId, { name: name.trim(), color: shownColor });
      labels.setData((page) => page && { ...page, count: page.count + 1, results: [...page.results, label] });
      setName("");
      setColor(null);
      onChanged();
    } catch (failure) {
      setAddError(toApiError(failure));
    }
  };

  const onSave = async (label: Label, nextName: string, nextColor: string) => {
    setRowError(null);
    try {
      const saved = await updateLabel(label.id, { name: nextName, color: nextColor });
      labels.setData((page) => page && { ...page, results: page.results.map((l) => (l.id === saved.id ? saved : l)) });
      setEditing(null);
    } catch (failure) {
      setRowError(toApiError(failure));
    }
  };

  const onDelete = async (label: Label) => {
    setRowError(null);
    try {
      await deleteLabel(label.id);
      labels.setData(
        (page) => page && { ...page, count: page.count - 1, results: page.results.filter((l) => l.id !== label.id) },
      );
      onChanged();
    } catch (failure) {
      setRowError(toApiError(failure));
    }
  };

  return (
    <section className="panel" aria-label="Labels">
      <div className="panel-header">
        <h2 className="panel-title">Label vocabulary</h2>
        <span className="muted">Names are unique per project, ignoring case.</span>
      </div>
      {can.addLabels ? (
        <form className="inline-form" onSubmit={onAdd} aria-label="Add label" data-testid="add-label-form">
          <input type="color" aria-label="New label colour" value={shownColor} onChange={(e) => setColor(e.target.value)} />
          <input
            name="label-name"
            placeholder="New label, e.g. dog"
            aria-label="New label name"
            required
            maxLength={120}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="btn btn-primary btn-small">
            Add label
          </button>
          <FormError error={addError} />
        </form>
      ) : null}
      <ErrorBanner error={rowError} onDismiss={() => setRowError(null)} />
      <ErrorBanner error={labels.error} onRetry={labels.reload} context="Could not load labels" />
      {labels.loading && !labels.data ? (
        <Loading />
      ) : labels.data && labels.data.results.length === 0 ? (
        <EmptyState title="No labels yet." />
      ) : labels.data ? (
        <div className="table-wrap">
          <table className="table" aria-label="Labels">
            <thead>
              <tr>
                <th className="col-swatch">Colour</th>
                <th>Name</th>
                <th>Hex</th>
                {can.manage ? <th aria-label="Actions" /> : null}
              </tr>
            </thead>
            <tbody>
              {labels.data.results.map((label) =>
                editing === label.id ? (
                  <LabelEditRow
                    key={label.id}
                    label={label}
                    onCancel={() => setEditing(null)}
                    onSave={(n, c) => onSave(label, n, c)}
                  />
                ) : (
                  <tr key={label.id} data-testid={`label-row-${label.id}`}>
                    <td className="col-swatch">
                      <ColorSwatch color={label.color} />
                    </td>
                    <td>{label.name}</td>
                    <td className="mono muted">{label.color}</td>
                    {can.manage ? (
                      <td className="actions">
                        <button type="button" className="btn btn-small" onClick={() => setEditing(label.id)}>
                          Edit
                        </button>
                        <ConfirmButton
                          label="Delete"
                          confirmLabel={`Delete “${label.name}”?`}
                          onConfirm={() => onDelete(label)}
                        />
                      </td>
                    ) : null}
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
