import { type FormEvent, useEffect, useState } from "react";
import { FormError } from "../../components/ErrorBanner";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import {
  EXPORT_FORMATS,
  EXPORT_PROTOCOLS,
  type ExportFormat,
  type ExportProtocol,
  startExport,
} from "../../hooks/studioApi";
import type { JobsState } from "../../hooks/useJobs";
import { ExportDownloadLink, JobProgress } from "./JobsTable";

const FORMAT_LABEL: Record<ExportFormat, string> = {
  avsbench: "AVSBench (masks per frame)",
  coco: "COCO (RLE instances)",
  json: "JSON (AVS Studio)",
};

const PROTOCOL_LABEL: Record<ExportProtocol, string> = {
  s4: "S4 — single source, binary masks",
  ms3: "MS3 — multiple sources, binary masks",
  avss: "AVSS — semantic, class colour masks",
};

interface Props {
  projectId: number;
  jobs: JobsState;
  onClose: () => void;
}

/**
 * Export the project's annotations (managers): format, AVSBench protocol, whether submitted
 * annotations count too. The export runs as a job; once it has succeeded its archive downloads
 * from here and from the jobs table.
 */
export function ExportDialog({ projectId, jobs, onClose }: Props) {
  const [format, setFormat] = useState<ExportFormat>("avsbench");
  // "" lets the server use the protocol the project's clips were imported with.
  const [protocol, setProtocol] = useState<ExportProtocol | "">("");
  const [includeSubmitted, setIncludeSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const job = jobId === null ? undefined : jobs.jobs.find((j) => j.id === jobId);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const started = await startExport(projectId, {
        format,
        include_submitted: includeSubmitted,
        ...(format === "avsbench" && protocol ? { protocol } : {}),
      });
      jobs.track(started);
      setJobId(started.id);
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="modal-backdrop" onClick={(event) => event.target === event.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="export-title" data-testid="export-dialog">
        <form className="stack" onSubmit={onSubmit}>
          <h2 id="export-title">Export annotations</h2>
          <p className="muted small">
            Accepted annotations are exported{includeSubmitted ? ", and submitted ones too" : ""}, as a zip archive.
          </p>
          <label className="field">
            <span>Format</span>
            <select
              data-testid="export-format"
              value={format}
              onChange={(event) => setFormat(event.target.value as ExportFormat)}
            >
              {EXPORT_FORMATS.map((f) => (
                <option key={f} value={f}>
                  {FORMAT_LABEL[f] ?? f}
                </option>
              ))}
            </select>
          </label>
          {format === "avsbench" ? (
            <label className="field">
              <span>AVSBench protocol</span>
              <select
                data-testid="export-protocol"
                value={protocol}
                onChange={(event) => setProtocol(event.target.value as ExportProtocol | "")}
              >
                <option value="">As the clips were imported</option>
                {EXPORT_PROTOCOLS.map((p) => (
                  <option key={p} value={p}>
                    {PROTOCOL_LABEL[p] ?? p}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label className="checkbox-field">
            <input
              type="checkbox"
              data-testid="export-include-submitted"
              checked={includeSubmitted}
              onChange={(event) => setIncludeSubmitted(event.target.checked)}
            />
            Include submitted annotations (not yet reviewed)
          </label>
          <FormError error={error} />
          {jobId !== null ? (
            <div className="export-job" data-testid="export-job">
              <div className="small">Export job #{jobId}</div>
              {job ? <JobProgress job={job} /> : <span className="muted">Queued…</span>}
              {job ? <ExportDownloadLink job={job} /> : null}
            </div>
          ) : null}
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" data-testid="export-start" disabled={busy}>
              {busy ? "Starting…" : jobId !== null ? "Export again" : "Start export"}
            </button>
            <button type="button" className="btn" onClick={onClose}>
              Close
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
