import { useCallback, useState } from "react";
import { type ApiError, toApiError } from "./apiErrors";

export interface ActionState<A extends unknown[], R> {
  /** True while the call is in flight (buttons show it and stay disabled). */
  busy: boolean;
  /** The last call's failure, as the server worded it; cleared by the next call. */
  error: ApiError | null;
  /** Call the action; resolves to its result, or undefined when it failed (see `error`). */
  run: (...args: A) => Promise<R | undefined>;
  clearError: () => void;
}

/** One user action against the server (a button): its busy flag and its readable error. */
export function useAction<A extends unknown[], R>(action: (...args: A) => Promise<R>): ActionState<A, R> {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(
    async (...args: A) => {
      setBusy(true);
      setError(null);
      try {
        return await action(...args);
      } catch (failure) {
        setError(toApiError(failure));
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [action],
  );
  const clearError = useCallback(() => setError(null), []);
  return { busy, error, run, clearError };
}
