import { useMemo, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatDateTime, formatMetric } from "../../components/format";
import { EmptyState, Loading } from "../../components/Loading";
import { StatusBadge } from "../../components/StatusBadge";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import type { Abilities } from "../../hooks/roles";
import { type Job, listModelVersions, type ModelVersion, startEvaluation } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { isJobActive, type JobsState } from "../../hooks/useJobs";

/** Flatten nested metrics to dotted keys: `{val: {miou: 0.5}}` → `{"val.miou": 0.5}`. */
export function flattenMetrics(metrics: unknown, prefix = ""): Record<string, unknown> {
  if (!metrics || typeof metrics !== "object" || Array.isArray(metrics)) {
    return prefix ? { [prefix]: metrics } : {};
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metrics as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(out, flattenMetrics(value, name));
    else out[name] = value;
  }
  return out;
}

const LOWER_IS_BETTER = /(loss|error|err|time|latency|seconds|_s$|ms$)/i;

/** Per row, the version ids holding the best numeric value (max, or min for losses and times). */
function bestOf(row: string, versions: ModelVersion[], flat: Map<number, Record<string, unknown>>): Set<number> {
  const values = versions
    .map((v) => [v.id, flat.get(v.id)?.[row]] as const)
    .filter((entry): entry is readonly [number, number] => typeof entry[1] === "number" && Number.isFinite(entry[1]));
  if (values.length < 2) return new Set();
  const pick = LOWER_IS_BETTER.test(row) ? Math.min : Math.max;
  const best = pick(...values.map(([, value]) => value));
  return new Set(values.filter(([, value]) => value === best).map(([id]) => id));
}

/** The queued or running evaluation of a model version, if any. */
function activeEvaluation(jobs: Job[], versionId: number): Job | undefined {
  return jobs.find(
    (job) =>
      job.kind === "evaluate" &&
      isJobActive(job) &&
      job.target?.type === "learning.modelversion" &&
      job.target.id === versionId,
  );
}

interface Props {
  projectId: number;
  can: Abilities;
  jobs: JobsState;
  /** Changes when a job has finished (e.g. an evaluation): the versions and their metrics are re-read. */
  version: number;
}

/**
 * Model versions with their metrics side by side (columns are versions, rows are metrics).
 * Managers evaluate a version against the accepted annotations; its metrics appear when the job ends.
 */
export function ModelsPanel({ projectId, can, jobs, version }: Props) {
  const versions = useAsync(() => listModelVersions(projectId), [projectId, version]);
  const [evaluateError, setEvaluateError] = useState<ApiError | null>(null);
  const [starting, setStarting] = useState<number | null>(null);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const all = versions.data?.results ?? [];
  const shown = all.filter((v) => !hidden.has(v.id));
  const flat = useMemo(() => new Map(all.map((v) => [v.id, flattenMetrics(v.metrics)])), [all]);
  const rows = useMemo(() => {
    const keys = new Set<string>();
    for (const v of shown) for (const key of Object.keys(flat.get(v.id) ?? {})) keys.add(key);
    return [...keys].sort();
  }, [shown, flat]);

  const onEvaluate = async (versionId: number) => {
    setEvaluateError(null);
    setStarting(versionId);
    try {
      jobs.track(await startEvaluation(projectId, versionId));
    } catch (failure) {
      setEvaluateError(toApiError(failure));
    } finally {
      setStarting(null);
    }
  };

  const toggle = (id: number) =>
    setHidden((set) => {
      const next = new Set(set);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <section className="panel" aria-label="Model versions">
      <div className="panel-header">
        <h2 className="panel-title">Model versions</h2>
        <span className="muted">
          Newest first. Best value per metric in bold.
          {can.manage ? " Evaluate scores a version's proposals against the accepted annotations of every ready clip." : ""}
        </span>
      </div>
      <ErrorBanner error={evaluateError} onDismiss={() => setEvaluateError(null)} context="Could not start the evaluation" />
      <ErrorBanner error={versions.error} onRetry={versions.reload} context="Could not load model versions" />
      {versions.loading && !versions.data ? (
        <Loading />
      ) : versions.data && all.length === 0 ? (
        <EmptyState title="No model versions yet.">Pre-annotation and training register them here.</EmptyState>
      ) : versions.data ? (
        <>
          <div className="chip-row" aria-label="Versions to compare">
            {all.map((v) => (
              <label key={v.id} className="chip">
                <input type="checkbox" checked={!hidden.has(v.id)} onChange={() => toggle(v.id)} />
                {v.name} <span className="muted">#{v.id}</span>
              </label>
            ))}
          </div>
          <div className="table-wrap">
            <table className="table table-compare" aria-label="Model metrics">
              <thead>
                <tr>
                  <th>Metric</th>
                  {shown.map((v) => (
                    <th key={v.id} className="num" data-testid={`model-col-${v.id}`}>
                      <div>{v.name}</div>
                      <div className="th-sub">
                        <StatusBadge status={`kind-${v.kind}`} label={v.kind} /> {formatDateTime(v.created_at)}
                      </div>
                      <div className="th-sub mono" title={v.config_hash}>
                        {v.config_hash.slice(0, 10)}
                      </div>
                      {can.manage ? (
                        <EvaluateAction
                          versionId={v.id}
                          running={activeEvaluation(jobs.jobs, v.id)}
                          starting={starting === v.id}
                          onEvaluate={() => onEvaluate(v.id)}
                        />
                      ) : null}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.length === 0 ? (
                  <tr>
                    <td colSpan={shown.length + 1} className="muted">
                      No metrics recorded yet (they appear after an evaluation job).
                    </td>
                  </tr>
                ) : (
                  rows.map((row) => {
                    const best = bestOf(row, shown, flat);
                    return (
                      <tr key={row}>
                        <td className="mono">{row}</td>
                        {shown.map((v) => (
                          <td key={v.id} className={`num${best.has(v.id) ? " best" : ""}`}>
                            {formatMetric(flat.get(v.id)?.[row])}
                          </td>
                        ))}
                      </tr>
                    );
                  })
                )}
                {shown.some((v) => v.note) ? (
                  <tr>
                    <td className="muted">note</td>
                    {shown.map((v) => (
                      <td key={v.id} className="muted small">
                        {v.note || "—"}
                      </td>
                    ))}
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

function EvaluateAction({
  versionId,
  running,
  starting,
  onEvaluate,
}: {
  versionId: number;
  running: Job | undefined;
  starting: boolean;
  onEvaluate: () => void;
}) {
  return (
    <div className="th-sub">
      <button
        type="button"
        className="btn btn-small"
        data-testid={`action-evaluate-${versionId}`}
        disabled={starting || running !== undefined}
        onClick={onEvaluate}
      >
        {starting ? "Starting…" : running ? `Evaluating… ${running.progress ?? 0}%` : "Evaluate"}
      </button>
    </div>
  );
}
