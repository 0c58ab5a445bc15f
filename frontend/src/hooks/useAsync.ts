import { useCallback, useEffect, useRef, useState } from "react";
import { type ApiError, toApiError } from "./apiErrors";

export interface AsyncState<T> {
  data: T | undefined;
  error: ApiError | null;
  /** True while a load is in flight (also during a reload, when `data` still holds the last value). */
  loading: boolean;
  reload: () => void;
  /** Replace the data locally (after a successful write), without a round trip. */
  setData: (update: T | ((previous: T | undefined) => T | undefined)) => void;
}

/**
 * Load `load()` now and whenever `deps` change; a stale answer (deps changed meanwhile) is dropped.
 * Errors arrive as `ApiError`s for `<ErrorBanner>`; the last good data stays on screen.
 */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let current = true;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (!current) return;
        setDataState(() => value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(toApiError(failure));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
    // The caller lists in `deps` what `load` reads; `load` itself is read through a ref.
  }, [...deps, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const setData = useCallback((update: T | ((previous: T | undefined) => T | undefined)) => {
    setDataState((previous) =>
      typeof update === "function" ? (update as (p: T | undefined) => T | undefined)(previous) : update,
    );
  }, []);
  return { data, error, loading, reload, setData };
}
