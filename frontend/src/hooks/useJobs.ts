import { useCallback, useEffect, useRef, useState } from "react";
import { type ApiError, toApiError } from "./apiErrors";
import { type Job, listJobs } from "./studioApi";

/** How often a project's jobs are re-read while any is queued or running. */
export const JOB_POLL_MS = 2000;

export function isJobActive(job: Job): boolean {
  return job.status === "queued" || job.status === "running";
}

export interface JobsState {
  jobs: Job[];
  error: ApiError | null;
  /** True while a job is queued/running, i.e. while the list is being re-read every interval. */
  polling: boolean;
  /** Read now and poll again (e.g. right after an upload queued an ingest job). */
  refresh: () => void;
  /**
   * Show a job the user just started (the POST's answer) at once, count it as active so its end
   * reaches `onSettled` even if it finishes before the next read, and poll.
   */
  track: (job: Job) => void;
}

interface Options {
  intervalMs?: number;
  /** Called with the jobs that were active at the previous read and have now finished. */
  onSettled?: (finished: Job[]) => void;
  pageSize?: number;
}

/**
 * A project's newest jobs, re-read every `intervalMs` while any is queued or running; polling
 * stops by itself once they have all finished. A network error keeps polling (slower) while jobs
 * were active; a 401/403/404 stops it.
 */
export function useJobs(projectId: number, { intervalMs = JOB_POLL_MS, onSettled, pageSize = 50 }: Options = {}): JobsState {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [polling, setPolling] = useState(false);
  const [kick, setKick] = useState(0);
  const activeIds = useRef<Set<number>>(new Set());
  const onSettledRef = useRef(onSettled);
  onSettledRef.current = onSettled;

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const tick = async () => {
      try {
        const page = await listJobs(projectId, { page_size: pageSize });
        if (cancelled) return;
        const active = page.results.filter(isJobActive);
        const finished = page.results.filter(
          (job) => activeIds.current.has(job.id) && !isJobActive(job),
        );
        activeIds.current = new Set(active.map((job) => job.id));
        setJobs(page.results);
        setError(null);
        setPolling(active.length > 0);
        if (finished.length > 0) onSettledRef.current?.(finished);
        if (active.length > 0) timer = setTimeout(tick, intervalMs);
      } catch (failure) {
        if (cancelled) return;
        const apiError = toApiError(failure);
        setError(apiError);
        const keepGoing = apiError.kind === "network" || apiError.kind === "server";
        if (keepGoing && activeIds.current.size > 0) {
          timer = setTimeout(tick, intervalMs * 2);
        } else {
          setPolling(false);
        }
      }
    };
    void tick();
    return () => {
      cancelled = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [projectId, intervalMs, pageSize, kick]);

  const refresh = useCallback(() => setKick((k) => k + 1), []);
  const track = useCallback((job: Job) => {
    activeIds.current = new Set(activeIds.current).add(job.id);
    setJobs((list) => [job, ...list.filter((other) => other.id !== job.id)]);
    setPolling(true);
    setKick((k) => k + 1);
  }, []);
  return { jobs, error, polling, refresh, track };
}
