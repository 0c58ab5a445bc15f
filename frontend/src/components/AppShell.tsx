import { useEffect, useState } from "react";
import { Link, NavLink, Outlet, useMatch, useNavigate } from "react-router-dom";
import { useAuth } from "../hooks/useAuth";

/** Browser connectivity, for the offline banner. */
function useOnline(): boolean {
  const [online, setOnline] = useState(() => (typeof navigator === "undefined" ? true : navigator.onLine));
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);
  return online;
}

/** Top bar (brand, navigation, the signed-in user, sign-out) above the routed page. */
export function AppShell() {
  const { user, signOut } = useAuth();
  const navigate = useNavigate();
  const online = useOnline();
  // The annotator uses the whole area under the top bar.
  const fullBleed = useMatch("/clips/:clipId") !== null;
  const [signingOut, setSigningOut] = useState(false);

  const onSignOut = async () => {
    setSigningOut(true);
    try {
      await signOut();
    } finally {
      setSigningOut(false);
      navigate("/login", { replace: true });
    }
  };

  const fullName = user ? [user.first_name, user.last_name].filter(Boolean).join(" ") : "";
  return (
    <div className="shell">
      <header className="topbar">
        <Link to="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◧
          </span>
          AVS Studio
        </Link>
        <nav className="topnav">
          <NavLink to="/" end>
            Projects
          </NavLink>
        </nav>
        <div className="topbar-spacer" />
        {user ? (
          <div className="user-menu">
            <span className="avatar" aria-hidden="true">
              {user.username.slice(0, 1).toUpperCase()}
            </span>
            <span className="user-name" data-testid="current-user" title={user.email}>
              {fullName || user.username}
              {user.is_superuser ? <span className="badge badge-admin">admin</span> : null}
            </span>
            <button
              type="button"
              className="btn btn-small btn-ghost-light"
              data-testid="sign-out"
              onClick={onSignOut}
              disabled={signingOut}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      {!online ? (
        <div className="banner banner-warning banner-global" role="alert">
          You are offline. Changes cannot be saved until the connection is back.
        </div>
      ) : null}
      <main className={fullBleed ? "content content-full" : "content"}>
        <Outlet />
      </main>
    </div>
  );
}
