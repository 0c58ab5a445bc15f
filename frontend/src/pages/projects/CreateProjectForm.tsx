import { type FormEvent, useState } from "react";
import { FormError } from "../../components/ErrorBanner";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import { createProject, type ProjectDetail } from "../../hooks/studioApi";
import { type LabelDraft, LabelRowsEditor, nextColor } from "./LabelRowsEditor";

interface Props {
  onCreated: (project: ProjectDetail) => void;
  onCancel: () => void;
}

/** Name, description, frame rate and the initial label vocabulary; the creator becomes manager. */
export function CreateProjectForm({ onCreated, onCancel }: Props) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [fps, setFps] = useState("1");
  const [labels, setLabels] = useState<LabelDraft[]>([{ name: "", color: nextColor([]) }]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const project = await createProject({
        name: name.trim(),
        description: description.trim(),
        fps: Number(fps),
        labels: labels
          .filter((label) => label.name.trim() !== "")
          .map((label) => ({ name: label.name.trim(), color: label.color })),
      });
      onCreated(project);
    } catch (failure) {
      setError(toApiError(failure));
      setBusy(false);
    }
  };

  return (
    <form className="panel form-grid" onSubmit={onSubmit} aria-label="New project">
      <h2 className="panel-title">New project</h2>
      <label className="field">
        <span>Name</span>
        <input name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="field">
        <span>Frames per second</span>
        <input
          name="fps"
          type="number"
          min={0.1}
          max={60}
          step={0.1}
          required
          value={fps}
          onChange={(e) => setFps(e.target.value)}
        />
        <small className="muted">Frames kept per second of video (AVSBench uses 1).</small>
      </label>
      <label className="field field-wide">
        <span>Description</span>
        <textarea
          name="description"
          rows={2}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
      </label>
      <div className="field field-wide">
        <span>Labels</span>
        <LabelRowsEditor rows={labels} onChange={setLabels} />
      </div>
      <div className="field-wide">
        <FormError error={error} />
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="create-project">
            {busy ? "Creating…" : "Create project"}
          </button>
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        </div>
      </div>
    </form>
  );
}
