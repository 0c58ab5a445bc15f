import { useEffect, useState } from "react";
import { ErrorBanner, FormError } from "../../components/ErrorBanner";
import { Loading } from "../../components/Loading";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import {
  chooseModelConfig,
  getProject,
  listModelConfigs,
  type ModelConfigList,
  type ModelConfigPreview,
  previewModelConfig,
  type ProjectDetail,
  type Proposer,
} from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";

/** The select's value while the project's configuration is not one of the listed files. */
const UNLISTED = "\u0000unlisted";

const KIND_LABEL: Record<Proposer["kind"], string> = {
  openavs: "OpenAVS",
  baseline: "Weight-free baseline",
  student: "Trained student",
};

const WHY_BY_KIND: Record<Proposer["kind"], string> = {
  openavs: "The configuration is valid and all its model files are on the servers.",
  baseline: "",
  student: "A trained student was made the proposer in the learning settings.",
};

/** What a proposer is, by kind, name and the reason it (or the baseline instead) runs. */
export function ProposerFacts({ proposer, testId }: { proposer: Proposer; testId: string }) {
  return (
    <dl className="facts" data-testid={testId} data-kind={proposer.kind}>
      <dt>Runs</dt>
      <dd>{KIND_LABEL[proposer.kind] ?? proposer.kind}</dd>
      <dt>Name</dt>
      <dd className="mono">{proposer.name}</dd>
      <dt>Why</dt>
      <dd>{proposer.reason || WHY_BY_KIND[proposer.kind] || "—"}</dd>
    </dl>
  );
}

interface Props {
  project: ProjectDetail;
  onSaved: (project: ProjectDetail) => void;
}

/**
 * Which model pre-annotation runs and why. Administrators choose the configuration among the files in the
 * server's model folder, seeing what a choice would run before saving; everyone else reads it.
 */
export function ModelConfigSection({ project, onSaved }: Props) {
  const admin = project.role === "admin";
  return (
    <section className="panel" aria-label="Pre-annotation model" data-testid="model-config">
      <div className="panel-header">
        <h2 className="panel-title">Pre-annotation model</h2>
        <span className="muted" data-testid="model-config-mode">
          {admin
            ? "Choose among the configurations in the server's model folder."
            : "Read-only: administrators choose the model configuration."}
        </span>
      </div>
      {project.proposer ? <ProposerFacts proposer={project.proposer} testId="model-config-current" /> : null}
      <p className="muted">
        Configuration:{" "}
        <span className="mono">{project.model_config || "the server's default (AVS_MODEL_CONFIG)"}</span>
      </p>
      {admin ? <ModelConfigChooser project={project} onSaved={onSaved} /> : null}
    </section>
  );
}

function optionLabel(entry: ModelConfigList["configs"][number]): string {
  if (entry.error) return `${entry.config} — cannot be used`;
  return entry.proposer ? `${entry.config} — ${KIND_LABEL[entry.proposer.kind] ?? entry.proposer.kind}` : entry.config;
}

function ModelConfigChooser({ project, onSaved }: Props) {
  const list = useAsync(() => listModelConfigs(project.id), [project.id, project.model_config]);
  const [choice, setChoice] = useState<string | null>(null);
  const [preview, setPreview] = useState<ModelConfigPreview | null>(null);
  const [previewError, setPreviewError] = useState<ApiError | null>(null);
  const [saveError, setSaveError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const current = list.data?.current ?? null;
  const selected = choice ?? current ?? UNLISTED;

  useEffect(() => {
    if (choice === null) return;
    let live = true;
    setPreview(null);
    setPreviewError(null);
    previewModelConfig(project.id, choice).then(
      (answer) => live && setPreview(answer),
      (failure: unknown) => live && setPreviewError(toApiError(failure)),
    );
    return () => {
      live = false;
    };
  }, [project.id, choice]);

  if (!list.data) {
    return list.error ? (
      <ErrorBanner error={list.error} onRetry={list.reload} context="Could not list the model configurations" />
    ) : (
      <Loading />
    );
  }
  const data = list.data;
  const entry = data.configs.find((c) => c.config === selected);

  const onSave = async () => {
    if (choice === null) return;
    setBusy(true);
    setSaveError(null);
    setSaved(false);
    try {
      await chooseModelConfig(project.id, choice);
      onSaved(await getProject(project.id));
      setChoice(null);
      setPreview(null);
      setSaved(true);
    } catch (failure) {
      setSaveError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="stack" data-testid="model-config-chooser">
      {data.model_root === null ? (
        <p className="banner banner-warning">
          AVS_MODEL_ROOT is not set: there is no model folder to choose from.
        </p>
      ) : (
        <p className="muted">
          Model folder: <span className="mono">{data.model_root}</span>
          {data.truncated ? " (it holds more configurations than listed here)" : null}
        </p>
      )}
      <label className="field">
        <span>Model configuration</span>
        <select
          data-testid="model-config-select"
          value={selected}
          onChange={(e) => {
            setSaved(false);
            setSaveError(null);
            setChoice(e.target.value);
          }}
        >
          {current === null ? (
            <option value={UNLISTED} disabled>
              {project.model_config} (not in the list)
            </option>
          ) : null}
          <option value="">Server default (AVS_MODEL_CONFIG)</option>
          {data.configs.map((c) => (
            <option key={c.config} value={c.config}>
              {optionLabel(c)}
              {c.current ? " (current)" : ""}
            </option>
          ))}
        </select>
      </label>
      {entry?.error ? (
        <p className="form-error" data-testid="model-config-entry-error">
          {entry.error}
        </p>
      ) : null}
      {choice !== null ? (
        <div data-testid="model-config-preview">
          <p className="field-hint">With this configuration, pre-annotation would run:</p>
          {preview ? (
            <>
              <ProposerFacts proposer={preview.proposer} testId="model-config-preview-facts" />
              {preview.note ? <p className="muted">{preview.note}</p> : null}
            </>
          ) : previewError ? (
            <FormError error={previewError} />
          ) : (
            <Loading />
          )}
        </div>
      ) : null}
      <FormError error={saveError} />
      <div className="form-actions">
        <button
          type="button"
          className="btn btn-primary"
          data-testid="model-config-save"
          disabled={busy || choice === null || choice === current || !preview}
          onClick={() => void onSave()}
        >
          {busy ? "Saving…" : "Save model configuration"}
        </button>
        {saved ? <span className="ok">Saved.</span> : null}
      </div>
    </div>
  );
}
