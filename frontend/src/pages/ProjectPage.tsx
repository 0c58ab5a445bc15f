import { useCallback, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { ClipCountBadges, ReadyProgress } from "../components/ClipCounts";
import { ErrorBanner } from "../components/ErrorBanner";
import { Loading } from "../components/Loading";
import { StatusBadge } from "../components/StatusBadge";
import { abilitiesFor, ROLE_LABEL } from "../hooks/roles";
import { getProject, listProjectAnnotations } from "../hooks/studioApi";
import { useAsync } from "../hooks/useAsync";
import { isJobActive, useJobs } from "../hooks/useJobs";
import { ClipsPanel } from "./project/ClipsPanel";
import { ExportDialog } from "./project/ExportDialog";
import { JobsTable } from "./project/JobsTable";
import { LabelsPanel } from "./project/LabelsPanel";
import { ModelsTab } from "./project/learning/ModelsTab";
import { MembersPanel } from "./project/MembersPanel";
import { ReviewQueuePanel } from "./project/ReviewQueuePanel";
import { SettingsPanel } from "./project/SettingsPanel";
import { WorkersLine } from "./project/WorkersLine";

type TabId = "clips" | "jobs" | "queue" | "models" | "labels" | "members" | "settings";

/** A project: clips (upload, filter, open), jobs, review queue, models, labels, members, settings. */
export function ProjectPage() {
  const projectId = Number(useParams().projectId);
  const [params, setParams] = useSearchParams();
  const project = useAsync(() => getProject(projectId), [projectId]);
  // Bumped when a job finishes, so the clips table, the review queue, the model versions and the
  // counts show its result (an ingest, a pre-annotation, an evaluation).
  const [dataVersion, setDataVersion] = useState(0);
  const [exporting, setExporting] = useState(false);
  const reloadProject = project.reload;
  const onJobsSettled = useCallback(() => {
    setDataVersion((v) => v + 1);
    reloadProject();
  }, [reloadProject]);
  const closeExport = useCallback(() => setExporting(false), []);
  const jobs = useJobs(projectId, { onSettled: onJobsSettled });
  // Review progress: how many annotations wait for a verdict and how many were accepted.
  const reviewCounts = useAsync(async () => {
    const [submitted, accepted] = await Promise.all([
      listProjectAnnotations(projectId, { status: "submitted", page_size: 1 }),
      listProjectAnnotations(projectId, { status: "accepted", page_size: 1 }),
    ]);
    return { submitted: submitted.count, accepted: accepted.count };
  }, [projectId]);

  if (!Number.isInteger(projectId) || projectId <= 0) {
    return <div className="page">There is no such project.</div>;
  }
  if (project.loading && !project.data) return <Loading text="Loading project…" />;
  if (!project.data) {
    return (
      <div className="page">
        <p>
          <Link to="/">← Projects</Link>
        </p>
        <ErrorBanner error={project.error} onRetry={project.reload} context="Could not open the project" />
      </div>
    );
  }

  const detail = project.data;
  const can = abilitiesFor(detail.role);
  const activeJobs = jobs.jobs.filter(isJobActive).length;
  const tabs: { id: TabId; label: string; badge?: number; show: boolean }[] = [
    { id: "clips", label: "Clips", badge: detail.clip_counts.total, show: true },
    { id: "jobs", label: "Jobs", badge: activeJobs || undefined, show: true },
    { id: "queue", label: "Review queue", show: true },
    { id: "models", label: "Models", show: true },
    { id: "labels", label: "Labels", badge: detail.labels.length, show: true },
    { id: "members", label: "Members", badge: detail.member_count, show: true },
    { id: "settings", label: "Settings", show: can.manage },
  ];
  const requested = (params.get("tab") ?? "clips") as TabId;
  const tab: TabId = tabs.some((t) => t.id === requested && t.show) ? requested : "clips";
  const selectTab = (id: TabId) => setParams(id === "clips" ? {} : { tab: id });

  return (
    <div className="page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/">Projects</Link>
        <span aria-hidden="true">/</span>
        <span>{detail.name}</span>
      </nav>
      <div className="page-header">
        <div>
          <h1>
            {detail.name}{" "}
            <StatusBadge status={`role-${detail.role}`} label={ROLE_LABEL[detail.role] ?? detail.role} />
          </h1>
          {detail.description ? <p className="muted">{detail.description}</p> : null}
        </div>
        <div className="page-actions">
          {can.manage ? (
            <button type="button" className="btn" data-testid="action-export" onClick={() => setExporting(true)}>
              ⇩ Export
            </button>
          ) : null}
          {can.review ? (
            <Link to={`/projects/${projectId}/review`} className="btn" data-testid="open-review">
              Review submitted
            </Link>
          ) : null}
        </div>
      </div>

      <div className="stats">
        <div className="stat">
          <span className="stat-label">Clips</span>
          <ClipCountBadges counts={detail.clip_counts} />
        </div>
        <div className="stat stat-wide">
          <span className="stat-label">Ready to annotate</span>
          <ReadyProgress counts={detail.clip_counts} />
        </div>
        <div className="stat" data-testid="stat-review">
          <span className="stat-label">Annotations</span>
          <span>
            {reviewCounts.data ? (
              <>
                <span className="badge badge-accepted">{reviewCounts.data.accepted} accepted</span>{" "}
                <span className="badge badge-submitted">{reviewCounts.data.submitted} to review</span>
              </>
            ) : (
              <span className="muted">—</span>
            )}
          </span>
        </div>
        <div className="stat">
          <span className="stat-label">Frame rate</span>
          <span>{detail.fps ?? "—"} fps</span>
        </div>
        <div className="stat">
          <span className="stat-label">Members</span>
          <span>{detail.member_count}</span>
        </div>
      </div>

      <div className="tabs" role="tablist">
        {tabs
          .filter((t) => t.show)
          .map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              aria-selected={tab === t.id}
              className={`tab${tab === t.id ? " tab-active" : ""}`}
              data-testid={`tab-${t.id}`}
              onClick={() => selectTab(t.id)}
            >
              {t.label}
              {t.badge !== undefined ? <span className="tab-count">{t.badge}</span> : null}
            </button>
          ))}
      </div>

      <div className="tab-panel" role="tabpanel">
        {tab === "clips" ? (
          <ClipsPanel
            projectId={projectId}
            can={can}
            version={dataVersion}
            jobs={jobs}
            proposer={detail.proposer}
            onUploaded={() => {
              jobs.refresh();
              setDataVersion((v) => v + 1);
              project.reload();
            }}
          />
        ) : null}
        {tab === "jobs" ? (
          <section className="panel">
            <div className="panel-header">
              <h2 className="panel-title">Jobs</h2>
              <span className="muted">{jobs.polling ? "Updating every 2 s…" : "All jobs finished."}</span>
              <button type="button" className="btn btn-small" onClick={jobs.refresh}>
                Refresh
              </button>
            </div>
            {can.manage ? <WorkersLine /> : null}
            <ErrorBanner error={jobs.error} onRetry={jobs.refresh} context="Could not load jobs" />
            <JobsTable jobs={jobs.jobs} />
          </section>
        ) : null}
        {tab === "queue" ? <ReviewQueuePanel projectId={projectId} version={dataVersion} canPickBatch={can.manage} /> : null}
        {tab === "models" ? (
          <ModelsTab
            projectId={projectId}
            can={can}
            jobs={jobs}
            version={dataVersion}
            proposer={detail.proposer}
            onChanged={onJobsSettled}
          />
        ) : null}
        {tab === "labels" ? <LabelsPanel projectId={projectId} can={can} onChanged={project.reload} /> : null}
        {tab === "members" ? <MembersPanel projectId={projectId} can={can} onChanged={project.reload} /> : null}
        {tab === "settings" && can.manage ? (
          <SettingsPanel project={detail} onSaved={(saved) => project.setData(saved)} jobs={jobs} />
        ) : null}
      </div>
      {exporting && can.manage ? <ExportDialog projectId={projectId} jobs={jobs} onClose={closeExport} /> : null}
    </div>
  );
}
