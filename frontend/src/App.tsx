/**
 * Routes of the annotator web app. Every page but sign-in needs a session; the clip annotator
 * (a separate, heavier bundle with the canvas and the waveform) is loaded on demand.
 *
 *   /login                         sign in (then back to `?next=`)
 *   /                              projects
 *   /projects/:projectId           project: clips, jobs, review queue, models, labels, members, settings
 *   /projects/:projectId/review    submitted annotations to review
 *   /clips/:clipId?frame=N         the clip annotator (`&review=1` for reviewers)
 */
import { lazy, Suspense } from "react";
import { BrowserRouter, Link, Route, Routes } from "react-router-dom";
import { AppShell } from "./components/AppShell";
import { Loading } from "./components/Loading";
import { RequireAuth } from "./components/RequireAuth";
import { AuthProvider } from "./hooks/useAuth";
import { LoginPage } from "./pages/LoginPage";
import { ProjectPage } from "./pages/ProjectPage";
import { ProjectsPage } from "./pages/ProjectsPage";
import { ReviewPage } from "./pages/ReviewPage";
import "./styles/app.css";

const ClipAnnotatorPage = lazy(() =>
  import("./annotator/ClipAnnotatorPage").then((module) => ({ default: module.ClipAnnotatorPage })),
);

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to your projects</Link>
      </p>
    </div>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <AppShell />
          </RequireAuth>
        }
      >
        <Route index element={<ProjectsPage />} />
        <Route path="projects/:projectId" element={<ProjectPage />} />
        <Route path="projects/:projectId/review" element={<ReviewPage />} />
        <Route
          path="clips/:clipId"
          element={
            <Suspense fallback={<Loading text="Opening the annotator…" />}>
              <ClipAnnotatorPage />
            </Suspense>
          }
        />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

export function App() {
  return (
    <AuthProvider>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </AuthProvider>
  );
}
