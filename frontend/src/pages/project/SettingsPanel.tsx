import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router-dom";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorBanner, FormError } from "../../components/ErrorBanner";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import { deleteProject, type ProjectDetail, updateProject } from "../../hooks/studioApi";
import type { JobsState } from "../../hooks/useJobs";
import { useLearningSettings } from "../../hooks/useLearningSettings";
import { LabelStudioSection } from "./LabelStudioSection";
import { LearningSettingsSection } from "./learning/LearningSettingsSection";
import { ModelConfigSection } from "./ModelConfigSection";

interface Props {
  project: ProjectDetail;
  onSaved: (project: ProjectDetail) => void;
  /** The project's jobs: Label Studio pushes and pulls are followed through them. */
  jobs: JobsState;
}

/**
 * Project settings (managers): ingest rates (for clips ingested afterwards), the pre-annotation model (chosen by
 * administrators, read-only for managers), learning settings, the Label Studio connection, deletion.
 */
export function SettingsPanel({ project, onSaved, jobs }: Props) {
  const navigate = useNavigate();
  const [name, setName] = useState(project.name);
  const [description, setDescription] = useState(project.description ?? "");
  const [fps, setFps] = useState(String(project.fps ?? 1));
  const [maxSide, setMaxSide] = useState(String(project.frame_max_side ?? 1280));
  const [sampleRate, setSampleRate] = useState(String(project.audio_sample_rate ?? 16000));
  const [error, setError] = useState<ApiError | null>(null);
  const [deleteError, setDeleteError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const learning = useLearningSettings(project.id);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const result = await updateProject(project.id, {
        name: name.trim(),
        description,
        fps: Number(fps),
        frame_max_side: Number(maxSide),
        audio_sample_rate: Number(sampleRate),
      });
      onSaved(result);
      setSaved(true);
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  const onDelete = async () => {
    setDeleteError(null);
    try {
      await deleteProject(project.id);
      navigate("/", { replace: true });
    } catch (failure) {
      setDeleteError(toApiError(failure));
    }
  };

  return (
    <div className="stack">
      <form className="panel form-grid" onSubmit={onSubmit} aria-label="Project settings">
        <h2 className="panel-title field-wide">Settings</h2>
        <label className="field">
          <span>Name</span>
          <input name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field field-wide">
          <span>Description</span>
          <textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
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
        </label>
        <label className="field">
          <span>Frame max side (px)</span>
          <input
            name="frame_max_side"
            type="number"
            min={64}
            max={8192}
            step={1}
            required
            value={maxSide}
            onChange={(e) => setMaxSide(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Audio sample rate (Hz)</span>
          <input
            name="audio_sample_rate"
            type="number"
            min={8000}
            max={96000}
            step={1}
            required
            value={sampleRate}
            onChange={(e) => setSampleRate(e.target.value)}
          />
        </label>
        <p className="muted field-wide">New rates apply to clips ingested from now on; existing clips keep theirs.</p>
        <div className="field-wide">
          <FormError error={error} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy} data-testid="save-settings">
              {busy ? "Saving…" : "Save settings"}
            </button>
            {saved ? <span className="ok">Saved.</span> : null}
          </div>
        </div>
      </form>
      <ModelConfigSection project={project} onSaved={onSaved} />
      <LearningSettingsSection projectId={project.id} learning={learning} editable />
      <LabelStudioSection projectId={project.id} jobs={jobs} />
      <section className="panel panel-danger" aria-label="Delete project">
        <h2 className="panel-title">Delete project</h2>
        <p className="muted">Deletes all its clips, files and annotations. This cannot be undone.</p>
        <ErrorBanner error={deleteError} />
        <ConfirmButton
          label="Delete project"
          confirmLabel={`Really delete “${project.name}”?`}
          onConfirm={onDelete}
          testId="delete-project"
        />
      </section>
    </div>
  );
}
