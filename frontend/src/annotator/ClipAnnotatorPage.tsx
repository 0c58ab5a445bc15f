/**
 * The clip annotator, at `/clips/:clipId?frame=N[&review=1]`.
 *
 * Composition only: an `AnnotatorSession` (state and operations, `./session`) drives the views:
 * toolbar, canvas (the `AnnotationCanvas` facade), side panels (label, instances, proposals,
 * review), waveform and filmstrip. The page wires the URL, the keyboard, unload/online handling and
 * the time-to-interactive signal: the root's `data-ready="true"` once the current frame's image is
 * drawn and the tools are live.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import type { AnnotationCanvas, HoverInfo } from "../canvas/AnnotationCanvas";
import { frameLabel, frameWindowText } from "../model/frameTime";
import { saveOnUnload } from "./api";
import { CanvasView } from "./CanvasView";
import { ConflictDialog } from "./ConflictDialog";
import { Filmstrip } from "./Filmstrip";
import { HelpOverlay } from "./HelpOverlay";
import { preloadImages } from "./images";
import { InstanceList } from "./InstanceList";
import { LabelPicker } from "./LabelPicker";
import { PropagationPanel } from "./PropagationPanel";
import { ProposalPanel } from "./ProposalPanel";
import { ProvenanceCard } from "./ProvenanceCard";
import { ReviewComment, ReviewPanel } from "./ReviewPanel";
import { AnnotatorSession, type Notice, type SessionSnapshot } from "./session";
import { Toolbar } from "./Toolbar";
import { useAnnotatorKeys } from "./useAnnotatorKeys";
import { WaveformPanel, type WaveformControls } from "./WaveformPanel";
import "./annotator.css";

function parseFrame(value: string | null): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** One session per clip (created in an effect, so StrictMode's double mount gets a fresh one). */
function useSession(clipId: number, initialFrame: number, reviewMode: boolean): AnnotatorSession | null {
  const [session, setSession] = useState<AnnotatorSession | null>(null);
  useEffect(() => {
    if (!Number.isInteger(clipId) || clipId <= 0) return;
    const s = new AnnotatorSession({
      clipId,
      initialFrame,
      reviewMode,
      // The frame image loads while the project and annotations are still on their way.
      onClip: (clip, k) => preloadImages([clip.frames[k], clip.frames[k + 1]].filter(Boolean).map((f) => f!.image_url)),
    });
    setSession(s);
    void s.load();
    return () => {
      void s.flushAll();
      s.dispose();
    };
    // The initial frame and mode are read once per clip; later URL changes go through setFrame.
  }, [clipId]);
  return session;
}

const noSubscribe = () => () => undefined;
const noSnapshot = () => null;

export function ClipAnnotatorPage() {
  const params = useParams();
  const clipId = Number(params.clipId);
  const [searchParams, setSearchParams] = useSearchParams();
  const reviewMode = searchParams.get("review") === "1";
  const session = useSession(clipId, parseFrame(searchParams.get("frame")), reviewMode);
  const snap = useSyncExternalStore(session?.subscribe ?? noSubscribe, session?.getSnapshot ?? noSnapshot);

  if (!Number.isInteger(clipId) || clipId <= 0) {
    return <PageMessage title="No such clip" text={`"${params.clipId}" is not a clip id.`} />;
  }
  if (!session || !snap || snap.phase === "loading") {
    return (
      <div className="annotator" data-testid="annotator-root" data-ready="false">
        <p className="ann-loading muted">Opening the clip…</p>
      </div>
    );
  }
  if (snap.phase === "error") {
    return <PageMessage title="The clip cannot be annotated" text={snap.loadError ?? "Unknown error."} />;
  }
  return <Annotator session={session} snap={snap} searchParams={searchParams} setSearchParams={setSearchParams} />;
}

function PageMessage({ title, text }: { title: string; text: string }) {
  return (
    <div className="annotator ann-message" data-testid="annotator-root" data-ready="false">
      <h1>{title}</h1>
      <p role="alert">{text}</p>
      <p>
        <Link to="/">Back to your projects</Link>
      </p>
    </div>
  );
}

interface AnnotatorProps {
  session: AnnotatorSession;
  snap: SessionSnapshot;
  searchParams: URLSearchParams;
  setSearchParams: ReturnType<typeof useSearchParams>[1];
}

function Annotator({ session, snap, searchParams, setSearchParams }: AnnotatorProps) {
  const canvas = useRef<AnnotationCanvas | null>(null);
  const waveform = useRef<WaveformControls | null>(null);
  const [drawnFrameId, setDrawnFrameId] = useState<number | null>(null);
  const [hover, setHover] = useState<HoverInfo | null>(null);

  useAnnotatorKeys(session, canvas, waveform);
  useUnloadProtection(session);

  // Session → URL (replace: stepping through frames does not flood the history).
  const frameIndex = snap.frame?.index ?? 0;
  useEffect(() => {
    if (searchParams.get("frame") === String(frameIndex)) return;
    const next = new URLSearchParams(searchParams);
    next.set("frame", String(frameIndex));
    setSearchParams(next, { replace: true });
  }, [frameIndex]);
  // URL → session (links to another frame of the same clip).
  const urlFrame = searchParams.get("frame");
  useEffect(() => {
    if (urlFrame === null) return;
    const wanted = snap.frames.findIndex((f) => f.index === parseFrame(urlFrame));
    if (wanted >= 0 && wanted !== session.getSnapshot().frameIndex) session.setFrame(wanted);
  }, [urlFrame]);

  const onSeekFrame = useCallback((index: number) => session.setFrame(index), [session]);
  const onHover = useCallback((h: HoverInfo | null) => setHover(h), []);
  const onReady = useCallback((frameId: number) => setDrawnFrameId(frameId), []);

  const ready = snap.frame !== null && drawnFrameId === snap.frame.id;
  const proposalInstances = session.proposalInstances();
  const hovered = hover?.proposalIndex != null && snap.overlayVisible ? proposalInstances[hover.proposalIndex] : undefined;
  const clip = snap.clip!;
  const fps = clip.fps ?? snap.project?.fps ?? 1;

  return (
    <div
      className="annotator"
      data-testid="annotator-root"
      data-ready={ready ? "true" : "false"}
      data-frame-index={frameIndex}
      data-can-edit={snap.canEdit ? "true" : "false"}
      onPointerDown={() => session.activity()}
    >
      <div className="ann-titlebar">
        <Link to={`/projects/${clip.project_id}`} className="ann-back">
          ← {snap.project?.name ?? "Project"}
        </Link>
        <span className="ann-clip-name" title={clip.name}>
          {clip.name}
        </span>
        <span className="muted" data-testid="frame-indicator">
          {frameLabel(frameIndex, snap.frames.length)}
          {fps > 0 ? <span className="mono"> · {frameWindowText(frameIndex, fps)}</span> : null}
        </span>
        <button type="button" className="btn btn-small" data-testid="prev-frame" disabled={snap.frameIndex === 0} onClick={() => session.previousFrame()} title="Previous frame (A, ←)">
          ◀
        </button>
        <button type="button" className="btn btn-small" data-testid="next-frame" disabled={snap.frameIndex >= snap.frames.length - 1} onClick={() => session.nextFrame()} title="Next frame (D, →)">
          ▶
        </button>
        <span className={`badge badge-${snap.annotation?.status ?? "none"}`} data-testid="frame-status">
          {snap.annotation?.status ?? "not annotated"}
        </span>
        {snap.reviewMode ? <span className="badge">review mode</span> : null}
        <span className="muted ann-role">{snap.role}</span>
      </div>
      <Toolbar
        session={session}
        snap={snap}
        onFit={() => canvas.current?.fit()}
        onUndo={() => {
          canvas.current?.cancel();
          session.undo();
        }}
        onRedo={() => {
          canvas.current?.cancel();
          session.redo();
        }}
      />
      <div className="ann-main">
        <div className="ann-stage">
          <ReviewComment annotation={snap.annotation} />
          {snap.locked ? (
            <div className="ann-banner" data-testid="locked-banner">
              Accepted by a reviewer: locked. Ask a manager if it needs a correction.
            </div>
          ) : null}
          {!snap.canEdit && !snap.locked ? (
            <div className="ann-banner" data-testid="readonly-banner">
              View only ({snap.role}): masks cannot be edited here.
            </div>
          ) : null}
          {snap.stashCount > 0 ? (
            <div className="ann-banner">
              Your edits from a conflict are kept aside.{" "}
              <button type="button" className="btn btn-small" data-testid="conflict-restore" onClick={() => session.restoreStash()}>
                Restore my edits
              </button>
            </div>
          ) : null}
          <CanvasView session={session} snap={snap} canvasRef={canvas} onReady={onReady} onHover={onHover} />
          {hovered ? (
            <div className="ann-hover-card">
              <ProvenanceCard instance={hovered} colour={snap.colours.get(hovered.label)} />
            </div>
          ) : null}
        </div>
        <aside className="ann-side">
          <LabelPicker session={session} snap={snap} />
          <InstanceList session={session} snap={snap} />
          <PropagationPanel session={session} snap={snap} />
          <ReviewPanel session={session} snap={snap} />
          <ProposalPanel session={session} snap={snap} hoveredIndex={hovered ? (hover?.proposalIndex ?? null) : null} />
        </aside>
      </div>
      <WaveformPanel
        audioUrl={clip.audio?.url ?? null}
        fps={fps}
        numFrames={snap.frames.length}
        frameIndex={frameIndex}
        onSeekFrame={onSeekFrame}
        controls={waveform}
      />
      <Filmstrip
        frames={snap.frames}
        fps={fps}
        statuses={snap.statuses}
        dirty={snap.dirty}
        current={snap.frameIndex}
        marks={snap.frameMarks}
        onSelect={onSeekFrame}
      />
      {snap.helpOpen ? <HelpOverlay onClose={() => session.toggleHelp(false)} /> : null}
      {snap.conflict ? <ConflictDialog session={session} conflict={snap.conflict} /> : null}
      {snap.notice ? <NoticeToast notice={snap.notice} onDone={(id) => session.clearNotice(id)} /> : null}
    </div>
  );
}

function NoticeToast({ notice, onDone }: { notice: Notice; onDone: (id: number) => void }) {
  useEffect(() => {
    const timer = setTimeout(() => onDone(notice.id), notice.kind === "error" ? 8000 : 4000);
    return () => clearTimeout(timer);
  }, [notice, onDone]);
  return (
    <div className={`ann-toast ann-toast-${notice.kind}`} data-testid="notice" role={notice.kind === "error" ? "alert" : "status"}>
      {notice.text}
      <button type="button" className="btn btn-small btn-ghost" onClick={() => onDone(notice.id)} aria-label="Dismiss">
        ✕
      </button>
    </div>
  );
}

/**
 * Leaving with unsaved edits: the browser asks first (beforeunload); a page really going away sends
 * the remaining saves with keepalive (pagehide); a hidden tab saves at once; back online retries.
 */
function useUnloadProtection(session: AnnotatorSession): void {
  useEffect(() => {
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (!session.hasUnsaved()) return;
      e.preventDefault();
      e.returnValue = "";
    };
    const pageHide = () => saveOnUnload(session.unloadRequests());
    const visibility = () => {
      if (document.visibilityState === "hidden") void session.flushAll();
    };
    const online = () => session.retryNow();
    window.addEventListener("beforeunload", beforeUnload);
    window.addEventListener("pagehide", pageHide);
    document.addEventListener("visibilitychange", visibility);
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("beforeunload", beforeUnload);
      window.removeEventListener("pagehide", pageHide);
      document.removeEventListener("visibilitychange", visibility);
      window.removeEventListener("online", online);
    };
  }, [session]);
}
