import { type FormEvent, useState } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router-dom";
import { ErrorBanner } from "../components/ErrorBanner";
import { Loading } from "../components/Loading";
import { type ApiError, toApiError } from "../hooks/apiErrors";
import { useAuth } from "../hooks/useAuth";

/** Only same-site paths: `?next=//evil.example` or `?next=https://…` fall back to `/`. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}

export function LoginPage() {
  const { status, signIn, error: authError, refresh } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  if (status === "loading") return <Loading text="Checking your session…" />;
  if (status === "signed-in" && !busy) return <Navigate to={next} replace />;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username.trim(), password);
      navigate(next, { replace: true });
    } catch (failure) {
      setError(toApiError(failure));
      setPassword("");
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-card" onSubmit={onSubmit} aria-label="Sign in">
        <div className="login-brand">
          <span className="brand-mark" aria-hidden="true">
            ◧
          </span>
          AVS Studio
        </div>
        <h1>Sign in</h1>
        <p className="muted">Audio-visual segmentation: annotate, review and train.</p>
        {status === "unreachable" ? <ErrorBanner error={authError} onRetry={refresh} /> : null}
        {error ? (
          <p className="form-error" role="alert" data-testid="sign-in-error">
            {error.message}
          </p>
        ) : null}
        <label className="field">
          <span>Username</span>
          <input
            name="username"
            autoComplete="username"
            autoFocus
            required
            value={username}
            onChange={(event) => setUsername(event.target.value)}
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </label>
        <button type="submit" className="btn btn-primary btn-block" data-testid="sign-in" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
