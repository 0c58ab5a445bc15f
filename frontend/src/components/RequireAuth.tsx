import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router-dom";
import { useAuth } from "../hooks/useAuth";
import { ErrorBanner } from "./ErrorBanner";
import { Loading } from "./Loading";

/** `/login?next=<where you were>` */
export function loginPath(next: string): string {
  return next && next !== "/" ? `/login?next=${encodeURIComponent(next)}` : "/login";
}

/** Render the children for a signed-in user; otherwise go to sign-in, remembering the page. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status, error, refresh, signedOutByUser } = useAuth();
  const location = useLocation();
  if (status === "loading") return <Loading text="Checking your session…" />;
  if (status === "unreachable") {
    return (
      <div className="page page-narrow">
        <ErrorBanner error={error} onRetry={refresh} />
      </div>
    );
  }
  if (status === "signed-out") {
    // A deliberate sign-out starts afresh; an expired session comes back to where it was.
    return <Navigate to={signedOutByUser ? "/login" : loginPath(location.pathname + location.search)} replace />;
  }
  return <>{children}</>;
}
