import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ClipCountBadges, ReadyProgress } from "../components/ClipCounts";
import { ErrorBanner } from "../components/ErrorBanner";
import { formatDateTime } from "../components/format";
import { EmptyState, Loading } from "../components/Loading";
import { Pagination } from "../components/Pagination";
import { StatusBadge } from "../components/StatusBadge";
import { ROLE_LABEL } from "../hooks/roles";
import { listProjects } from "../hooks/studioApi";
import { useAsync } from "../hooks/useAsync";
import { useDebounced } from "../hooks/useDebounced";
import { CreateProjectForm } from "./projects/CreateProjectForm";

const PAGE_SIZE = 25;

/** The user's projects with clip progress; any signed-in user may create one. */
export function ProjectsPage() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const page = Math.max(1, Number(params.get("page")) || 1);
  const [search, setSearch] = useState(params.get("q") ?? "");
  const query = useDebounced(search.trim());
  const [creating, setCreating] = useState(false);

  const projects = useAsync(
    () => listProjects({ page: page > 1 ? page : undefined, page_size: PAGE_SIZE, search: query }),
    [page, query],
  );

  const setPage = (next: number) =>
    setParams((p) => {
      p.set("page", String(next));
      return p;
    });

  const onSearch = (value: string) => {
    setSearch(value);
    setParams(
      (p) => {
        if (value.trim()) p.set("q", value.trim());
        else p.delete("q");
        p.delete("page");
        return p;
      },
      { replace: true },
    );
  };

  const rows = projects.data?.results ?? [];
  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Projects</h1>
          <p className="muted">Your annotation projects and how far their clips have come.</p>
        </div>
        <div className="page-actions">
          <input
            type="search"
            className="input-search"
            placeholder="Search projects"
            aria-label="Search projects"
            value={search}
            onChange={(event) => onSearch(event.target.value)}
          />
          {!creating ? (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} data-testid="new-project">
              + New project
            </button>
          ) : null}
        </div>
      </div>

      {creating ? (
        <CreateProjectForm
          onCancel={() => setCreating(false)}
          onCreated={(project) => navigate(`/projects/${project.id}`)}
        />
      ) : null}

      <ErrorBanner error={projects.error} onRetry={projects.reload} context="Could not load projects" />

      {projects.loading && !projects.data ? (
        <Loading />
      ) : rows.length === 0 && projects.data ? (
        <EmptyState title={query ? `No project matches “${query}”.` : "No projects yet."}>
          {query ? null : "Create one, or ask a manager to add you to theirs."}
        </EmptyState>
      ) : projects.data ? (
        <div className="table-wrap">
          <table className="table" aria-label="Projects">
            <thead>
              <tr>
                <th>Project</th>
                <th>Your role</th>
                <th className="num">Clips</th>
                <th>Status</th>
                <th className="col-progress">Ready</th>
                <th className="num">Members</th>
                <th className="num">FPS</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((project) => (
                <tr key={project.id} data-testid={`project-row-${project.id}`}>
                  <td>
                    <Link to={`/projects/${project.id}`} className="row-title" data-testid={`project-link-${project.id}`}>
                      {project.name}
                    </Link>
                    {project.description ? <div className="row-sub">{project.description}</div> : null}
                  </td>
                  <td>
                    <StatusBadge status={`role-${project.role}`} label={ROLE_LABEL[project.role] ?? project.role} />
                  </td>
                  <td className="num">{project.clip_counts.total}</td>
                  <td>
                    <ClipCountBadges counts={project.clip_counts} />
                  </td>
                  <td className="col-progress">
                    <ReadyProgress counts={project.clip_counts} />
                  </td>
                  <td className="num">{project.member_count}</td>
                  <td className="num">{project.fps ?? "—"}</td>
                  <td className="nowrap">{formatDateTime(project.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={PAGE_SIZE} count={projects.data.count} onPage={setPage} />
        </div>
      ) : null}
    </div>
  );
}
