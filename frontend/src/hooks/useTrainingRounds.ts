import { useCallback, useEffect, useRef, useState } from "react";
import { isRoundActive } from "../model/training";
import { type ApiError, toApiError } from "./apiErrors";
import { listTrainingRounds, type TrainingRound } from "./studioApi";

/** How often a project's rounds are re-read while one is queued or running (as the jobs are). */
export const ROUND_POLL_MS = 2000;

export interface TrainingRoundsState {
  rounds: TrainingRound[];
  /** True until the first answer (or error). */
  loading: boolean;
  error: ApiError | null;
  /** True while a round is queued or running, i.e. while the list is re-read every interval. */
  polling: boolean;
  refresh: () => void;
  /**
   * Show a round the user just started or cancelled (the POST's answer) at once and poll. A round
   * that is already over (a server running tasks eagerly) reaches `onSettled` at once.
   */
  track: (round: TrainingRound) => void;
}

interface Options {
  intervalMs?: number;
  /** Called with the rounds that were active at the previous read and have now ended. */
  onSettled?: (finished: TrainingRound[]) => void;
}

/**
 * A project's newest training rounds, re-read every `intervalMs` while one is queued or running;
 * polling stops once none is. A network or server error keeps polling (slower) while a round was
 * active; a 401/403/404 stops it (the same rules as `useJobs`).
 */
export function useTrainingRounds(
  projectId: number,
  { intervalMs = ROUND_POLL_MS, onSettled }: Options = {},
): TrainingRoundsState {
  const [rounds, setRounds] = useState<TrainingRound[]>([]);
  const [loading, setLoading] = useState(true);
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
        const page = await listTrainingRounds(projectId);
        if (cancelled) return;
        const active = page.results.filter(isRoundActive);
        const finished = page.results.filter((r) => activeIds.current.has(r.id) && !isRoundActive(r));
        activeIds.current = new Set(active.map((r) => r.id));
        setRounds(page.results);
        setError(null);
        setLoading(false);
        setPolling(active.length > 0);
        if (finished.length > 0) onSettledRef.current?.(finished);
        if (active.length > 0) timer = setTimeout(tick, intervalMs);
      } catch (failure) {
        if (cancelled) return;
        const apiError = toApiError(failure);
        setError(apiError);
        setLoading(false);
        if ((apiError.kind === "network" || apiError.kind === "server") && activeIds.current.size > 0) {
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
  }, [projectId, intervalMs, kick]);

  const refresh = useCallback(() => setKick((k) => k + 1), []);
  const track = useCallback((round: TrainingRound) => {
    setRounds((list) => [round, ...list.filter((other) => other.id !== round.id)]);
    if (isRoundActive(round)) {
      activeIds.current = new Set(activeIds.current).add(round.id);
      setPolling(true);
    } else {
      activeIds.current.delete(round.id);
      onSettledRef.current?.([round]);
    }
    setKick((k) => k + 1);
  }, []);
  return { rounds, loading, error, polling, refresh, track };
}
