import { type FormEvent, useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { ErrorBanner, FormError } from "../../components/ErrorBanner";
import { formatAgo, formatDateTime } from "../../components/format";
import { Loading } from "../../components/Loading";
import { StatusBadge } from "../../components/StatusBadge";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import {
  getLabelStudio,
  type Job,
  type LabelStudioConnection,
  type LabelStudioImportStatus,
  pullLabelStudio,
  pushLabelStudio,
  updateLabelStudio,
} from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { isJobActive, type JobsState } from "../../hooks/useJobs";
import { JobProgress } from "./JobsTable";

const IMPORT_STATUS_LABEL: Record<LabelStudioImportStatus, string> = {
  submitted: "Submitted (reviewed here)",
  accepted: "Accepted (trusted as ground truth)",
};

type ConnectionState = "connected" | "not_pushed" | "not_set";

const STATE_LABEL: Record<ConnectionState, string> = {
  connected: "connected",
  not_pushed: "set up, not pushed yet",
  not_set: "not set up",
};

/** Connected = pushed: a Label Studio project exists; before that, whether a URL is set. */
function connectionState(data: LabelStudioConnection): ConnectionState {
  if (data.connected) return "connected";
  return data.url ? "not_pushed" : "not_set";
}

interface Props {
  projectId: number;
  jobs: JobsState;
}

/**
 * The project's Label Studio connection (managers): where it points, what the last push and pull did, the last
 * error, the ML-backend URL to paste into Label Studio; set the URL and token, push the clips or pull the
 * annotations now (each runs as a job, followed here until it finishes).
 */
export function LabelStudioSection({ projectId, jobs }: Props) {
  const connection = useAsync(() => getLabelStudio(projectId), [projectId]);
  const data = connection.data;
  return (
    <section className="panel" aria-label="Label Studio" data-testid="labelstudio">
      <div className="panel-header">
        <h2 className="panel-title">Label Studio</h2>
        {data ? (
          <span data-testid="ls-state" data-state={connectionState(data)}>
            <StatusBadge
              status={data.connected ? "ready" : data.url ? "processing" : "uploaded"}
              label={STATE_LABEL[connectionState(data)]}
            />
          </span>
        ) : null}
        <span className="muted">Annotate these clips in an existing Label Studio; corrections come back here.</span>
      </div>
      <ErrorBanner
        error={connection.error}
        onRetry={connection.reload}
        context="Could not load the Label Studio connection"
      />
      {data ? (
        <LabelStudioConnectionView
          projectId={projectId}
          data={data}
          jobs={jobs}
          onChanged={(next) => (next ? connection.setData(next) : connection.reload())}
        />
      ) : connection.loading ? (
        <Loading />
      ) : null}
    </section>
  );
}

interface ViewProps {
  projectId: number;
  data: LabelStudioConnection;
  jobs: JobsState;
  /** A fresh connection (after a save), or nothing: read it again (after a job). */
  onChanged: (next?: LabelStudioConnection) => void;
}

function LabelStudioConnectionView({ projectId, data, jobs, onChanged }: ViewProps) {
  const [url, setUrl] = useState(data.url ?? "");
  const [token, setToken] = useState("");
  const [importStatus, setImportStatus] = useState<LabelStudioImportStatus>(data.import_status ?? "submitted");
  const [saveError, setSaveError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [starting, setStarting] = useState<"push" | "pull" | null>(null);
  const [startError, setStartError] = useState<ApiError | null>(null);
  const [startedId, setStartedId] = useState<number | null>(null);

  // The job to follow: the one started here, else the connection's latest; the jobs list (polled while a job
  // is active) has its freshest state.
  const shownId = startedId ?? data.latest_job?.id ?? null;
  const job: Job | null =
    (shownId === null ? undefined : jobs.jobs.find((j) => j.id === shownId)) ?? data.latest_job ?? null;
  const running = job !== null && isJobActive(job);

  // When the followed job finishes, read the connection again (times, counts, last error). The effect runs on
  // the job's id and status only: `onChanged` is a fresh closure at every render.
  const wasActive = useRef<{ id: number; active: boolean } | null>(null);
  useEffect(() => {
    if (!job) return;
    const before = wasActive.current;
    wasActive.current = { id: job.id, active: isJobActive(job) };
    if (before && before.id === job.id && before.active && !isJobActive(job)) onChanged();
  }, [job?.id, job?.status]);

  const onSave = async (event: FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setSaveError(null);
    setSaved(false);
    try {
      const next = await updateLabelStudio(projectId, {
        url: url.trim(),
        import_status: importStatus,
        ...(token ? { token } : {}),
      });
      setToken("");
      onChanged(next);
      setSaved(true);
    } catch (failure) {
      setSaveError(toApiError(failure));
    } finally {
      setSaving(false);
    }
  };

  const onStart = async (which: "push" | "pull") => {
    setStarting(which);
    setStartError(null);
    try {
      const started = await (which === "push" ? pushLabelStudio(projectId) : pullLabelStudio(projectId));
      jobs.track(started);
      wasActive.current = { id: started.id, active: true };
      setStartedId(started.id);
      if (!isJobActive(started)) onChanged(); // it finished before answering (tasks run eagerly)
    } catch (failure) {
      setStartError(toApiError(failure));
    } finally {
      setStarting(null);
    }
  };

  const counts = data.counts ?? {};
  const count = (key: string) => counts[key] ?? 0;
  const canSync = Boolean(data.url) && data.has_token && !running && starting === null;

  return (
    <div className="stack">
      {data.last_error ? (
        <div className="banner banner-error" role="alert" data-testid="ls-last-error">
          <span className="banner-text">
            <strong>Last sync failed: </strong>
            {data.last_error}
          </span>
        </div>
      ) : null}
      <dl className="facts" data-testid="ls-facts">
        <dt>Label Studio</dt>
        <dd className="mono" data-testid="ls-url">
          {data.url || "—"}
        </dd>
        <dt>Project</dt>
        <dd data-testid="ls-project">
          {data.ls_project_url ? (
            <a href={data.ls_project_url} target="_blank" rel="noreferrer">
              Label Studio project #{data.ls_project_id}
            </a>
          ) : (
            <span className="muted">not pushed yet</span>
          )}
        </dd>
        <dt>API token</dt>
        <dd data-testid="ls-token-state">{data.has_token ? "set" : "not set"}</dd>
        <dt>ML backend URL</dt>
        <dd data-testid="ls-ml-url">
          {data.ml_backend_url ? (
            <>
              <span className="mono">{data.ml_backend_url}</span>{" "}
              <span className="muted small">
                (paste into Label Studio → project Settings → Model, with the server's Basic-auth user and password)
              </span>
            </>
          ) : (
            <span className="muted">
              — the server has no public URL or ML-backend credentials (AVS_PUBLIC_URL, AVS_LS_BASIC_AUTH_USER/PASS)
            </span>
          )}
        </dd>
        <dt>Last push</dt>
        <dd data-testid="ls-last-push" title={formatDateTime(data.last_push_at)}>
          {data.last_push_at ? formatAgo(data.last_push_at) : "never"}
        </dd>
        <dt>Last pull</dt>
        <dd data-testid="ls-last-pull" title={formatDateTime(data.last_pull_at)}>
          {data.last_pull_at ? formatAgo(data.last_pull_at) : "never"}
        </dd>
        <dt>In Label Studio</dt>
        <dd data-testid="ls-counts">
          {count("tasks")} tasks · {count("predictions")} predictions · {count("annotations_imported")} annotations
          imported ·{" "}
          <span className={count("conflicts") > 0 ? "form-error" : undefined} data-testid="ls-conflicts">
            {count("conflicts")} conflicts
          </span>
        </dd>
      </dl>
      {count("conflicts") > 0 ? (
        <>
          <p className="muted small">
            A conflict is a Label Studio annotation of a frame edited here since it was imported: nothing was
            overwritten; settle it in the annotator, then pull again.
          </p>
          <ul className="small" data-testid="ls-conflict-list">
            {data.conflicts.map((conflict) => (
              <li key={conflict.ls_annotation_id} title={conflict.detail}>
                <Link to={`/clips/${conflict.clip_id}?frame=${conflict.frame_index}`}>
                  {conflict.clip_name}, frame {conflict.frame_index + 1}
                </Link>{" "}
                <span className="muted">(Label Studio annotation {conflict.ls_annotation_id})</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {job ? (
        <div data-testid="ls-job" data-status={job.status} data-job-id={job.id}>
          <p className="field-hint">
            Latest sync job #{job.id} ({job.status}
            {job.finished_at ? `, ${formatAgo(job.finished_at)}` : ""})
          </p>
          <JobProgress job={job} />
        </div>
      ) : null}
      <FormError error={startError} />
      <div className="form-actions">
        <button
          type="button"
          className="btn btn-primary"
          data-testid="ls-push"
          disabled={!canSync}
          title={canSync ? "Send the clips' frames, audio and proposals to Label Studio" : undefined}
          onClick={() => void onStart("push")}
        >
          {starting === "push" ? "Starting…" : "Push now"}
        </button>
        <button
          type="button"
          className="btn"
          data-testid="ls-pull"
          disabled={!canSync || !data.ls_project_id}
          title={data.ls_project_id ? "Import Label Studio's annotations" : "Push first: there is no Label Studio project yet"}
          onClick={() => void onStart("pull")}
        >
          {starting === "pull" ? "Starting…" : "Pull now"}
        </button>
        {running ? <span className="muted">A sync job is running…</span> : null}
      </div>
      <hr className="divider" />
      <form className="form-grid" onSubmit={onSave} aria-label="Label Studio connection" data-testid="ls-form">
        <label className="field field-wide">
          <span>Label Studio URL</span>
          <input
            name="url"
            type="url"
            required
            placeholder="https://labelstudio.example.org"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
          />
        </label>
        <label className="field">
          <span>API token</span>
          <input
            name="token"
            type="password"
            autoComplete="new-password"
            placeholder={data.has_token ? "set — leave empty to keep it" : "Label Studio → Account & Settings"}
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Imported annotations are</span>
          <select
            name="import_status"
            value={importStatus}
            onChange={(e) => setImportStatus(e.target.value as LabelStudioImportStatus)}
          >
            {(Object.keys(IMPORT_STATUS_LABEL) as LabelStudioImportStatus[]).map((status) => (
              <option key={status} value={status}>
                {IMPORT_STATUS_LABEL[status]}
              </option>
            ))}
          </select>
        </label>
        <p className="muted field-wide">
          The token is stored write-only: it is never shown again. Leave it empty to keep the one set.
        </p>
        <div className="field-wide">
          <FormError error={saveError} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={saving} data-testid="ls-save">
              {saving ? "Saving…" : "Save connection"}
            </button>
            {saved ? <span className="ok">Saved.</span> : null}
          </div>
        </div>
      </form>
    </div>
  );
}
