/**
 * The save state machine for a clip's frame annotations (one instance per open clip).
 *
 * Per frame:
 *
 *     saved ──change──▶ dirty ──debounce (1.5 s) / saveNow / frame change──▶ saving
 *     saving ──200/201──▶ saved (or dirty again if edits arrived meanwhile)
 *     saving ──409 stale version──▶ conflict   (autosave paused; local edits kept untouched)
 *     saving ──offline / 5xx──▶ retrying ──backoff (1 s, 2 s, 4 s … 30 s)──▶ saving
 *     saving ──other 4xx──▶ error             (kept dirty; the next change or saveNow tries again)
 *     conflict ──resolveReload──▶ saved at their version   (the caller swapped in their document)
 *     conflict ──resolveOverwrite──▶ saving on top of their version
 *
 * Nothing here ever drops local edits: the controller never touches documents, it only asks
 * `payload(frameId)` for the current instances at send time. Only one request per frame is in
 * flight at a time (two would conflict with each other). Time worked (`addTime`) is sent as
 * `time_spent_delta` with the next save and restored if that save fails.
 *
 * The transport, the clock and the timers are injected, so tests drive every transition.
 */
import type { components } from "../api/schema";
import type { ApiInstance } from "./frameDoc";

export type Annotation = components["schemas"]["Annotation"];
export type EditStatus = components["schemas"]["AnnotationEditStatusEnum"];

export interface SaveRequest {
  frameId: number;
  version: number | null;
  instances: ApiInstance[];
  status?: EditStatus;
  time_spent_delta: number;
  source_proposal?: number | null;
}

/** What a save attempt came to; the transport classifies HTTP answers into these. */
export type SaveOutcome =
  | { kind: "ok"; annotation: Annotation }
  /** 409 with `extra.current`: someone saved a newer version. */
  | { kind: "conflict"; message: string; currentVersion: number | null; current: Annotation | null }
  /** Any other 4xx (invalid masks, locked after acceptance, permissions): not retried. */
  | { kind: "failed"; message: string; httpStatus: number }
  /** Offline, timeout or 5xx: retried with backoff. */
  | { kind: "unavailable"; message: string };

export interface SaveTransport {
  save(request: SaveRequest): Promise<SaveOutcome>;
}

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const browserScheduler: Scheduler = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export interface SaveConflict {
  frameId: number;
  message: string;
  /** The version we based our edit on. */
  basedOn: number | null;
  currentVersion: number | null;
  current: Annotation | null;
}

export type FrameSaveStatus =
  | { kind: "saved" }
  | { kind: "dirty" }
  | { kind: "saving" }
  | { kind: "retrying"; message: string; attempt: number; retryAt: number }
  | { kind: "error"; message: string }
  | { kind: "conflict"; conflict: SaveConflict };

export interface SavePayload {
  instances: ApiInstance[];
  sourceProposal?: number | null;
}

export interface SaveControllerOptions {
  transport: SaveTransport;
  /** The frame's instances as they are now (called at send time). */
  payload: (frameId: number) => SavePayload;
  /** A save went through: the annotation as stored. */
  onSaved?: (frameId: number, annotation: Annotation) => void;
  /** Any status changed. */
  onStatus?: () => void;
  scheduler?: Scheduler;
  debounceMs?: number;
  /** Save at the latest this long after the first unsaved change, even while edits keep coming. */
  maxWaitMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

interface FrameState {
  version: number | null;
  seq: number; // local edit counter
  savedSeq: number; // the edit counter the server has
  wantSubmit: boolean;
  pendingTime: number;
  timer: unknown;
  dirtySince: number | null;
  inFlight: Promise<void> | null;
  rerun: boolean;
  attempt: number;
  retry: { message: string; retryAt: number } | null;
  error: string | null;
  conflict: SaveConflict | null;
}

const PRIORITY: FrameSaveStatus["kind"][] = ["conflict", "error", "retrying", "saving", "dirty", "saved"];

export class SaveController {
  private readonly frames = new Map<number, FrameState>();
  private readonly scheduler: Scheduler;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private disposed = false;

  constructor(private readonly options: SaveControllerOptions) {
    this.scheduler = options.scheduler ?? browserScheduler;
    this.debounceMs = options.debounceMs ?? 1500;
    this.maxWaitMs = options.maxWaitMs ?? 10_000;
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
  }

  private state(frameId: number): FrameState {
    let s = this.frames.get(frameId);
    if (!s) {
      s = {
        version: null,
        seq: 0,
        savedSeq: 0,
        wantSubmit: false,
        pendingTime: 0,
        timer: null,
        dirtySince: null,
        inFlight: null,
        rerun: false,
        attempt: 0,
        retry: null,
        error: null,
        conflict: null,
      };
      this.frames.set(frameId, s);
    }
    return s;
  }

  private notify(): void {
    this.options.onStatus?.();
  }

  private clearTimer(s: FrameState): void {
    if (s.timer !== null) this.scheduler.clearTimeout(s.timer);
    s.timer = null;
  }

  /** The version the next save is based on (null: the frame has no annotation yet). */
  version(frameId: number): number | null {
    return this.state(frameId).version;
  }

  /** Start tracking a frame at the server's `version` (on load, or after taking the server's copy). */
  track(frameId: number, version: number | null): void {
    const s = this.state(frameId);
    s.version = version;
  }

  /** The server's version moved without our doing (e.g. accept-proposal): base further edits on it. */
  rebase(frameId: number, annotation: Annotation): void {
    const s = this.state(frameId);
    s.version = annotation.version ?? s.version;
    s.savedSeq = s.seq;
    s.dirtySince = null;
    s.error = null;
    this.notify();
  }

  /** A local edit happened: autosave after the debounce. */
  markChanged(frameId: number): void {
    const s = this.state(frameId);
    s.seq++;
    s.error = null;
    const now = this.scheduler.now();
    if (s.dirtySince === null) s.dirtySince = now;
    if (!s.conflict && !s.retry) {
      this.clearTimer(s);
      const wait = Math.max(0, Math.min(this.debounceMs, s.dirtySince + this.maxWaitMs - now));
      s.timer = this.scheduler.setTimeout(() => {
        s.timer = null;
        void this.run(frameId);
      }, wait);
    }
    this.notify();
  }

  /** Seconds worked on the frame, sent as `time_spent_delta` with its next save. */
  addTime(frameId: number, seconds: number): void {
    if (seconds > 0) this.state(frameId).pendingTime += seconds;
  }

  isDirty(frameId: number): boolean {
    const s = this.frames.get(frameId);
    return !!s && (s.seq > s.savedSeq || s.wantSubmit);
  }

  hasUnsaved(): boolean {
    for (const id of this.frames.keys()) if (this.isDirty(id)) return true;
    return false;
  }

  status(frameId: number): FrameSaveStatus {
    const s = this.frames.get(frameId);
    if (!s) return { kind: "saved" };
    if (s.conflict) return { kind: "conflict", conflict: s.conflict };
    if (s.error) return { kind: "error", message: s.error };
    if (s.retry) return { kind: "retrying", message: s.retry.message, attempt: s.attempt, retryAt: s.retry.retryAt };
    if (s.inFlight) return { kind: "saving" };
    if (this.isDirty(frameId)) return { kind: "dirty" };
    return { kind: "saved" };
  }

  /** The most pressing status over all frames (what the save indicator shows). */
  overall(): FrameSaveStatus {
    let best: FrameSaveStatus = { kind: "saved" };
    for (const id of this.frames.keys()) {
      const st = this.status(id);
      if (PRIORITY.indexOf(st.kind) < PRIORITY.indexOf(best.kind)) best = st;
    }
    return best;
  }

  /** The first frame in conflict, if any. */
  conflict(): SaveConflict | null {
    for (const s of this.frames.values()) if (s.conflict) return s.conflict;
    return null;
  }

  /** Save `frameId` now (skipping the debounce and any backoff wait); resolves when settled. */
  saveNow(frameId: number): Promise<void> {
    const s = this.state(frameId);
    if (s.retry) {
      s.retry = null;
      this.clearTimer(s);
    }
    return this.run(frameId);
  }

  /** Save every frame with unsaved edits now (frame change, unload, before accepting proposals). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.frames.keys()].filter((id) => this.isDirty(id)).map((id) => this.saveNow(id)));
  }

  /** Save with status `submitted` (sent even without edits). */
  submit(frameId: number): Promise<void> {
    this.state(frameId).wantSubmit = true;
    this.notify();
    return this.saveNow(frameId);
  }

  /** Retry frames waiting on backoff immediately (e.g. the browser came back online). */
  retryNow(): void {
    for (const [id, s] of this.frames) if (s.retry) void this.saveNow(id);
  }

  /**
   * Conflict resolved by taking the server's copy: the caller has already replaced the document
   * (keeping ours in undo/stash); further edits are based on the current version.
   */
  resolveReload(frameId: number): void {
    const s = this.state(frameId);
    if (!s.conflict) return;
    s.version = s.conflict.currentVersion;
    s.conflict = null;
    s.savedSeq = s.seq;
    s.wantSubmit = false;
    s.dirtySince = null;
    this.notify();
  }

  /** Another versioned write (e.g. accepting a proposal) met a stale version: same conflict flow. */
  enterConflict(frameId: number, outcome: Extract<SaveOutcome, { kind: "conflict" }>): void {
    const s = this.state(frameId);
    this.clearTimer(s);
    s.conflict = {
      frameId,
      message: outcome.message,
      basedOn: s.version,
      currentVersion: outcome.currentVersion,
      current: outcome.current,
    };
    this.notify();
  }

  /** Conflict resolved by saving ours on top of the current version. */
  resolveOverwrite(frameId: number): Promise<void> {
    const s = this.state(frameId);
    if (!s.conflict) return Promise.resolve();
    s.version = s.conflict.currentVersion;
    s.conflict = null;
    if (s.seq === s.savedSeq) s.seq++; // our copy must be sent even if nothing changed since
    this.notify();
    return this.saveNow(frameId);
  }

  /** Requests for every frame with unsaved edits (for a keepalive send on page unload). */
  unloadRequests(): SaveRequest[] {
    const out: SaveRequest[] = [];
    for (const [id, s] of this.frames) {
      if (!this.isDirty(id) || s.conflict || s.inFlight) continue;
      const payload = this.options.payload(id);
      out.push({
        frameId: id,
        version: s.version,
        instances: payload.instances,
        ...(s.wantSubmit ? { status: "submitted" as const } : {}),
        time_spent_delta: s.pendingTime,
        ...(payload.sourceProposal != null ? { source_proposal: payload.sourceProposal } : {}),
      });
    }
    return out;
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.frames.values()) this.clearTimer(s);
  }

  private run(frameId: number): Promise<void> {
    const s = this.state(frameId);
    if (s.inFlight) {
      s.rerun = true;
      return s.inFlight;
    }
    if (s.conflict || !this.isDirty(frameId)) return Promise.resolve();
    this.clearTimer(s);
    s.inFlight = this.loop(frameId, s).finally(() => {
      s.inFlight = null;
      this.notify();
    });
    this.notify();
    return s.inFlight;
  }

  private async loop(frameId: number, s: FrameState): Promise<void> {
    do {
      s.rerun = false;
      if (this.disposed || s.conflict || !this.isDirty(frameId)) return;
      const seq = s.seq;
      const submit = s.wantSubmit;
      const time = s.pendingTime;
      s.pendingTime = 0;
      s.error = null;
      const payload = this.options.payload(frameId);
      const request: SaveRequest = {
        frameId,
        version: s.version,
        instances: payload.instances,
        ...(submit ? { status: "submitted" as const } : {}),
        time_spent_delta: Math.round(time * 1000) / 1000,
        ...(payload.sourceProposal != null ? { source_proposal: payload.sourceProposal } : {}),
      };
      let outcome: SaveOutcome;
      try {
        outcome = await this.options.transport.save(request);
      } catch (error) {
        outcome = { kind: "unavailable", message: networkMessage(error) };
      }
      if (outcome.kind === "ok") {
        s.version = outcome.annotation.version ?? s.version;
        s.savedSeq = Math.max(s.savedSeq, seq);
        if (submit) s.wantSubmit = false;
        s.attempt = 0;
        s.retry = null;
        s.dirtySince = s.seq > s.savedSeq ? this.scheduler.now() : null;
        this.options.onSaved?.(frameId, outcome.annotation);
        continue;
      }
      s.pendingTime += time;
      if (outcome.kind === "conflict") {
        this.clearTimer(s);
        s.conflict = {
          frameId,
          message: outcome.message,
          basedOn: s.version,
          currentVersion: outcome.currentVersion,
          current: outcome.current,
        };
        return;
      }
      if (outcome.kind === "failed") {
        s.error = outcome.message;
        return;
      }
      s.attempt++;
      const delay = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (s.attempt - 1));
      s.retry = { message: outcome.message, retryAt: this.scheduler.now() + delay };
      this.clearTimer(s);
      s.timer = this.scheduler.setTimeout(() => {
        s.timer = null;
            s.retry = null;
        void this.run(frameId);
      }, delay);
      return;
    } while (s.rerun);
  }
}

function networkMessage(error: unknown): string {
  if (typeof navigator !== "undefined" && navigator.onLine === false) return "You are offline.";
  const text = error instanceof Error ? error.message : String(error);
  return `The server could not be reached (${text}).`;
}

/** Human wording of a status for the save indicator. */
export function describeSaveStatus(status: FrameSaveStatus, now: number): string {
  switch (status.kind) {
    case "saved":
      return "Saved";
    case "dirty":
      return "Unsaved changes";
    case "saving":
      return "Saving…";
    case "retrying": {
      const seconds = Math.max(0, Math.ceil((status.retryAt - now) / 1000));
      return `Not saved: ${status.message} Retrying in ${seconds} s…`;
    }
    case "error":
      return `Not saved: ${status.message}`;
    case "conflict":
      return "Not saved: someone else saved this frame first.";
  }
}
