import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatBytes, formatDateTime, formatDuration } from "../../components/format";
import { EmptyState, Loading } from "../../components/Loading";
import { Pagination } from "../../components/Pagination";
import { StatusBadge } from "../../components/StatusBadge";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import type { Abilities } from "../../hooks/roles";
import {
  CLIP_STATUSES,
  type ClipListQuery,
  type ClipStatus,
  listClips,
  preannotateProject,
  type Proposer,
  retryIngest,
} from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { useDebounced } from "../../hooks/useDebounced";
import { isJobActive, type JobsState } from "../../hooks/useJobs";
import { JobsTable } from "./JobsTable";
import { ProposerStatus } from "./ProposerStatus";
import { StorageImportPanel } from "./StorageImportPanel";
import { UploadPanel } from "./UploadPanel";

export const CLIPS_PAGE_SIZE = 50;

type Ordering = NonNullable<ClipListQuery["ordering"]>;

interface Props {
  projectId: number;
  can: Abilities;
  /** Changes when the clips may have changed (an upload, a finished job): the table re-reads. */
  version: number;
  jobs: JobsState;
  onUploaded: () => void;
  /** The project's proposer (project detail), shown next to the pre-annotate action. */
  proposer?: Proposer;
}

function isClipStatus(value: string | null): value is ClipStatus {
  return value !== null && (CLIP_STATUSES as readonly string[]).includes(value);
}

/** Sortable header: click toggles ascending/descending on that field. */
function SortHeader({
  field,
  label,
  ordering,
  onSort,
  className,
}: {
  field: "name" | "status" | "duration" | "created_at";
  label: string;
  ordering: Ordering | undefined;
  onSort: (ordering: Ordering) => void;
  className?: string;
}) {
  const active = ordering === field || ordering === `-${field}`;
  const descending = ordering === `-${field}`;
  return (
    <th className={className} aria-sort={active ? (descending ? "descending" : "ascending") : undefined}>
      <button
        type="button"
        className="th-sort"
        onClick={() => onSort((active && !descending ? `-${field}` : field) as Ordering)}
      >
        {label}
        <span className="sort-mark" aria-hidden="true">
          {active ? (descending ? "▼" : "▲") : "↕"}
        </span>
      </button>
    </th>
  );
}

/**
 * The clips table: server-side status filter, name search, sort and pages. Managers also upload,
 * select ready clips and pre-annotate them (or every ready clip) with the project's proposer.
 */
export function ClipsPanel({ projectId, can, version, jobs, onUploaded, proposer }: Props) {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const statusParam = params.get("status");
  const status = isClipStatus(statusParam) ? statusParam : undefined;
  const page = Math.max(1, Number(params.get("page")) || 1);
  const ordering = (params.get("sort") || undefined) as Ordering | undefined;
  const [search, setSearch] = useState(params.get("q") ?? "");
  const query = useDebounced(search.trim());
  const [showUpload, setShowUpload] = useState(false);
  const [showStorage, setShowStorage] = useState(false);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  // Ready clips picked for pre-annotation (kept across pages and filters until used or cleared).
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [preannotating, setPreannotating] = useState(false);

  const clips = useAsync(
    () => listClips(projectId, { status, search: query, page: page > 1 ? page : undefined, page_size: CLIPS_PAGE_SIZE, ordering }),
    [projectId, status, query, page, ordering, version],
  );

  const setParam = (name: string, value: string | undefined, resetPage = true) =>
    setParams(
      (p) => {
        if (value) p.set(name, value);
        else p.delete(name);
        if (resetPage) p.delete("page");
        return p;
      },
      { replace: name === "q" },
    );

  const onRetryIngest = async (clipId: number) => {
    setActionError(null);
    try {
      await retryIngest(clipId);
      onUploaded();
    } catch (failure) {
      setActionError(toApiError(failure));
    }
  };

  const onPreannotate = async () => {
    setActionError(null);
    setPreannotating(true);
    try {
      const job = await preannotateProject(projectId, selected.size > 0 ? [...selected] : undefined);
      jobs.track(job);
      setSelected(new Set());
    } catch (failure) {
      setActionError(toApiError(failure));
    } finally {
      setPreannotating(false);
    }
  };

  const activeJobs = jobs.jobs.filter(isJobActive);
  const rows = clips.data?.results ?? [];
  const filtered = Boolean(status || query);
  const selectable = can.manage;
  const readyOnPage = rows.filter((clip) => clip.status === "ready").map((clip) => clip.id);
  const allPageSelected = readyOnPage.length > 0 && readyOnPage.every((id) => selected.has(id));
  const toggleClip = (clipId: number) =>
    setSelected((set) => {
      const next = new Set(set);
      if (next.has(clipId)) next.delete(clipId);
      else next.add(clipId);
      return next;
    });
  const togglePage = () =>
    setSelected((set) => {
      const next = new Set(set);
      for (const id of readyOnPage) {
        if (allPageSelected) next.delete(id);
        else next.add(id);
      }
      return next;
    });

  return (
    <div className="stack">
      <div className="toolbar">
        <input
          type="search"
          className="input-search"
          placeholder="Search clips by name"
          aria-label="Search clips"
          data-testid="clip-search"
          value={search}
          onChange={(event) => {
            setSearch(event.target.value);
            setParam("q", event.target.value.trim() || undefined);
          }}
        />
        <select
          aria-label="Status"
          data-testid="clip-status-filter"
          value={status ?? ""}
          onChange={(event) => setParam("status", event.target.value || undefined)}
        >
          <option value="">All statuses</option>
          {CLIP_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s[0].toUpperCase() + s.slice(1)}
            </option>
          ))}
        </select>
        {clips.loading && clips.data ? <span className="spinner spinner-inline" aria-label="Updating" /> : null}
        <div className="toolbar-spacer" />
        {can.upload ? (
          <button
            type="button"
            className={showUpload ? "btn" : "btn btn-primary"}
            data-testid="upload-toggle"
            onClick={() => setShowUpload((v) => !v)}
          >
            {showUpload ? "Hide upload" : "⇪ Upload videos"}
          </button>
        ) : null}
        {can.manage ? (
          <button
            type="button"
            className="btn"
            data-testid="storage-toggle"
            aria-pressed={showStorage}
            onClick={() => setShowStorage((v) => !v)}
          >
            {showStorage ? "Hide storage" : "⇩ Add videos from storage"}
          </button>
        ) : null}
      </div>

      {can.manage ? (
        <div className="action-bar" aria-label="Pre-annotation">
          <button
            type="button"
            className="btn"
            data-testid="action-preannotate"
            disabled={preannotating}
            onClick={onPreannotate}
            title="Queue one proposal per clip from the project's proposer; clips that already have one are skipped."
          >
            {preannotating
              ? "Queueing…"
              : selected.size > 0
                ? `✦ Pre-annotate ${selected.size} selected clip${selected.size === 1 ? "" : "s"}`
                : "✦ Pre-annotate all ready clips"}
          </button>
          {selected.size > 0 ? (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setSelected(new Set())}>
              Clear selection
            </button>
          ) : null}
          <ProposerStatus proposer={proposer} />
        </div>
      ) : null}

      {can.upload && showUpload ? <UploadPanel projectId={projectId} jobs={jobs.jobs} onUploaded={onUploaded} /> : null}
      {can.manage && showStorage ? (
        <StorageImportPanel projectId={projectId} jobs={jobs.jobs} onImported={onUploaded} />
      ) : null}

      {activeJobs.length > 0 ? (
        <section className="panel panel-activity" aria-label="Running jobs">
          <div className="panel-header">
            <h2 className="panel-title">Running jobs</h2>
            <span className="muted">updating every 2 s</span>
          </div>
          <JobsTable jobs={activeJobs} compact />
        </section>
      ) : null}

      <ErrorBanner error={actionError} onDismiss={() => setActionError(null)} />
      <ErrorBanner error={clips.error} onRetry={clips.reload} context="Could not load clips" />

      {clips.loading && !clips.data ? (
        <Loading text="Loading clips…" />
      ) : clips.data && rows.length === 0 ? (
        <EmptyState title={filtered ? "No clip matches these filters." : "No clips yet."}>
          {filtered ? null : can.upload ? "Upload videos to start." : "A manager uploads videos to this project."}
        </EmptyState>
      ) : clips.data ? (
        <div className="table-wrap">
          <table className="table table-hover" aria-label="Clips">
            <thead>
              <tr>
                {selectable ? (
                  <th className="col-select">
                    <input
                      type="checkbox"
                      aria-label="Select the ready clips of this page"
                      data-testid="clip-select-page"
                      checked={allPageSelected}
                      disabled={readyOnPage.length === 0}
                      onChange={togglePage}
                    />
                  </th>
                ) : null}
                <SortHeader field="name" label="Clip" ordering={ordering} onSort={(o) => setParam("sort", o, false)} />
                <SortHeader field="status" label="Status" ordering={ordering} onSort={(o) => setParam("sort", o, false)} />
                <SortHeader
                  field="duration"
                  label="Duration"
                  className="num"
                  ordering={ordering}
                  onSort={(o) => setParam("sort", o, false)}
                />
                <th className="num">Frames</th>
                <th>Audio</th>
                <th className="num">Size</th>
                <SortHeader
                  field="created_at"
                  label="Created"
                  ordering={ordering}
                  onSort={(o) => setParam("sort", o, false)}
                />
                {can.upload ? <th aria-label="Actions" /> : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((clip) => (
                <tr
                  key={clip.id}
                  data-testid={`clip-row-${clip.id}`}
                  className="row-link"
                  onClick={(event) => {
                    if ((event.target as HTMLElement).closest("a,button,input,.col-select")) return;
                    navigate(`/clips/${clip.id}`);
                  }}
                >
                  {selectable ? (
                    <td className="col-select">
                      <input
                        type="checkbox"
                        aria-label={`Select ${clip.name}`}
                        data-testid={`clip-select-${clip.id}`}
                        checked={selected.has(clip.id)}
                        disabled={clip.status !== "ready"}
                        title={clip.status === "ready" ? undefined : "Only ready clips can be pre-annotated."}
                        onChange={() => toggleClip(clip.id)}
                      />
                    </td>
                  ) : null}
                  <td>
                    <Link to={`/clips/${clip.id}`} className="row-title" data-testid={`clip-link-${clip.id}`}>
                      {clip.name}
                    </Link>
                    {clip.status === "failed" && clip.error ? <div className="row-error">{clip.error}</div> : null}
                  </td>
                  <td>
                    <StatusBadge status={clip.status ?? "uploaded"} />
                  </td>
                  <td className="num">{formatDuration(clip.duration)}</td>
                  <td className="num" title={clip.fps ? `${clip.fps} frames per second` : undefined}>
                    {clip.num_frames}
                  </td>
                  <td>{clip.has_audio ? <span className="yes">♪ yes</span> : <span className="muted">no</span>}</td>
                  <td className="num">{formatBytes(clip.size_bytes)}</td>
                  <td className="nowrap">{formatDateTime(clip.created_at)}</td>
                  {can.upload ? (
                    <td className="actions">
                      {clip.status === "failed" ? (
                        <button type="button" className="btn btn-small" onClick={() => onRetryIngest(clip.id)}>
                          Retry ingest
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination
            page={page}
            pageSize={CLIPS_PAGE_SIZE}
            count={clips.data.count}
            onPage={(p) => setParam("page", String(p), false)}
          />
        </div>
      ) : null}
    </div>
  );
}
