/**
 * Who is signed in. The session cookie is the credential: on start the provider asks
 * `GET /api/auth/me/` (401/403 → signed out). Any later 401 from any call also signs out, so
 * an expired session sends the user to the sign-in page (and back afterwards).
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { type ApiError, onApiFailure, toApiError } from "./apiErrors";
import { fetchMe, type Me, signIn as apiSignIn, signOut as apiSignOut } from "./studioApi";

export type AuthStatus = "loading" | "signed-in" | "signed-out" | "unreachable";

export interface AuthState {
  status: AuthStatus;
  user: Me | null;
  /** Why the server could not be asked (status `unreachable`). */
  error: ApiError | null;
  /** True after the user pressed "Sign out" (rather than the session expiring). */
  signedOutByUser: boolean;
  /** Throws an `ApiError` with the server's message on bad credentials. */
  signIn: (username: string, password: string) => Promise<Me>;
  signOut: () => Promise<void>;
  /** Ask the server again (after an outage, or when memberships changed). */
  refresh: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<AuthStatus>("loading");
  const [user, setUser] = useState<Me | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [nonce, setNonce] = useState(0);
  const [signedOutByUser, setSignedOutByUser] = useState(false);

  useEffect(() => {
    let current = true;
    fetchMe().then(
      (me) => {
        if (!current) return;
        setUser(me);
        setError(null);
        setStatus("signed-in");
      },
      (failure: unknown) => {
        if (!current) return;
        const apiError = toApiError(failure);
        setUser(null);
        if (apiError.kind === "unauthenticated" || apiError.kind === "forbidden") {
          setError(null);
          setStatus("signed-out");
        } else {
          setError(apiError);
          setStatus("unreachable");
        }
      },
    );
    return () => {
      current = false;
    };
  }, [nonce]);

  // A 401 from any call means the session is gone.
  useEffect(
    () =>
      onApiFailure((failure) => {
        if (failure.kind === "unauthenticated") {
          setUser(null);
          setStatus("signed-out");
        }
      }),
    [],
  );

  const signIn = useCallback(async (username: string, password: string) => {
    const me = await apiSignIn(username, password);
    setSignedOutByUser(false);
    setUser(me);
    setError(null);
    setStatus("signed-in");
    return me;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await apiSignOut();
    } finally {
      setSignedOutByUser(true);
      setUser(null);
      setStatus("signed-out");
    }
  }, []);

  const refresh = useCallback(() => setNonce((n) => n + 1), []);

  const value = useMemo<AuthState>(
    () => ({ status, user, error, signedOutByUser, signIn, signOut, refresh }),
    [status, user, error, signedOutByUser, signIn, signOut, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth() must be used inside <AuthProvider>.");
  return state;
}
