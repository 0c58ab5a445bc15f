import { useMemo, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatDateTime, formatMetric } from "../../components/format";
import { EmptyState, Loading } from "../../components/Loading";
import { StatusBadge } from "../../components/StatusBadge";
import { listModelVersions, type ModelVersion } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";

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

/** Model versions with their metrics side by side (columns are versions, rows are metrics). */
export function ModelsPanel({ projectId }: { projectId: number }) {
  const versions = useAsync(() => listModelVersions(projectId), [projectId]);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const all = versions.data?.results ?? [];
  const shown = all.filter((v) => !hidden.has(v.id));
  const flat = useMemo(() => new Map(all.map((v) => [v.id, flattenMetrics(v.metrics)])), [all]);
  const rows = useMemo(() => {
    const keys = new Set<string>();
    for (const v of shown) for (const key of Object.keys(flat.get(v.id) ?? {})) keys.add(key);
    return [...keys].sort();
  }, [shown, flat]);

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
        <span className="muted">Newest first. Best value per metric in bold.</span>
      </div>
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
