/**
 * AnnotatorSession: the clip annotator's state and the operations on it, apart from any view.
 * React components read immutable snapshots (`subscribe` / `getSnapshot`, for
 * `useSyncExternalStore`) and call the methods; the canvas facade reports edits that land here.
 *
 * It owns, per frame: the document being edited (`model/frameDoc`), its undo history
 * (`model/history`), the server's copy, and a stash of our versions set aside in conflicts; and for
 * the clip: the save state machine (`model/save`), selection, visibility, tools and overlay settings,
 * and mask propagation (start, follow the job, review and accept; a range accept is one undo step over
 * its frames).
 * Server calls are injected (`AnnotatorDeps`, defaulting to `./api`) so tests can stand in for them.
 */
import type { ToolName } from "../canvas/tools/types";
import type { SamPrompt } from "../canvas/tools/types";
import { ActivityClock } from "../model/activity";
import { labelColours } from "../model/colors";
import {
  applyChanges,
  copyInstances,
  docFromApi,
  docToApi,
  emptyDoc,
  findInstance,
  mergeTracked,
  relabelInstance,
  removeInstance,
  type FrameDoc,
  type MaskChange,
} from "../model/frameDoc";
import { frameStatus, type FrameStatus } from "../model/frameStatus";
import { frameLabel } from "../model/frameTime";
import { History } from "../model/history";
import { isEmpty } from "../model/mask";
import {
  acceptedInstances,
  defaultEndIndex,
  frameMarks,
  framesText,
  isFinished,
  progressFraction,
  rangeFrameIndexes,
  rangeProblem,
  type FrameMark,
} from "../model/propagation";
import { decodeRle, encodeRle } from "../model/rle";
import { browserScheduler, SaveController, type FrameSaveStatus, type SaveConflict, type Scheduler } from "../model/save";
import * as defaultApi from "./api";
import {
  AnnotatorApiError,
  outcomeOf,
  type Annotation,
  type ClipDetail,
  type ClipFrame,
  type ProjectDetail,
  type Propagation,
  type PropagationDirection,
  type Proposal,
  type ProposalInstance,
  type Verdict,
} from "./api";

export type AnnotatorDeps = Pick<
  typeof defaultApi,
  | "fetchClip"
  | "fetchProject"
  | "fetchAnnotations"
  | "fetchProposals"
  | "fetchAnnotation"
  | "saveTransport"
  | "postReview"
  | "samPredict"
  | "acceptProposalOnFrame"
  | "acceptProposalOnClip"
  | "startPropagation"
  | "fetchPropagation"
  | "fetchPropagations"
  | "acceptPropagation"
>;

/** At most this many instances are propagated at once (the server's limit too). */
export const MAX_PROPAGATED_INSTANCES = 20;
/** How often a running propagation's progress is read. */
export const PROPAGATION_POLL_MS = 1000;

export const BRUSH_SIZES = [1, 2, 3, 5, 8, 12, 16, 20, 28, 40, 56, 80, 120];
const EDIT_ROLES = new Set(["annotator", "manager", "admin"]);
const REVIEW_ROLES = new Set(["reviewer", "manager", "admin"]);
const DEFAULT_LABEL = "object";
const NONE: readonly ProposalInstance[] = [];

export interface Notice {
  id: number;
  kind: "info" | "error";
  text: string;
}

interface FrameSlot {
  frame: ClipFrame;
  annotation: Annotation | null;
  doc: FrameDoc | null;
  history: History<FrameDoc>;
  /** Our versions set aside when a conflict was resolved by taking theirs (newest last). */
  stash: FrameDoc[];
  sourceProposal: number | null;
}

/** The propagation started from this page, as its panel shows it. */
export interface PropagationRun {
  /** null until the server has answered the start. */
  id: number | null;
  status: "starting" | Propagation["status"];
  /** 0..1 */
  progress: number;
  message: string;
  error: string;
}

/** One undo (or redo) step over several frames: the document each frame must still show for it to apply. */
interface BulkStep {
  label: string;
  frames: { slot: FrameSlot; doc: FrameDoc }[];
}

export interface SessionSnapshot {
  phase: "loading" | "error" | "ready";
  loadError: string | null;
  clip: ClipDetail | null;
  project: ProjectDetail | null;
  role: string | null;
  frames: readonly ClipFrame[];
  frameIndex: number;
  frame: ClipFrame | null;
  doc: FrameDoc | null;
  annotation: Annotation | null;
  statuses: readonly FrameStatus[];
  dirty: readonly boolean[];
  /** Editing allowed on this frame (role, and not accepted-and-locked for annotators). */
  canEdit: boolean;
  /** The frame is accepted and locked for this annotator. */
  locked: boolean;
  canReview: boolean;
  reviewMode: boolean;
  selectedIds: readonly string[];
  hiddenIds: ReadonlySet<string>;
  tool: ToolName;
  brushSize: number;
  samNegative: boolean;
  samBusy: boolean;
  labelDraft: string;
  colours: ReadonlyMap<string, string>;
  vocabulary: readonly { name: string; color: string }[];
  proposals: readonly Proposal[];
  proposalId: number | null;
  /** The overlay's instances on this frame (the selected proposal's or propagation's). */
  overlayInstances: readonly ProposalInstance[];
  propagations: readonly Propagation[];
  /** The role may propagate masks and accept propagations. */
  canPropagate: boolean;
  /** The propagation shown in the overlay (exclusive with `proposalId`). */
  propagationId: number | null;
  propagation: Propagation | null;
  propagateDirection: PropagationDirection;
  /** The frame index a new propagation runs to. */
  propagateEnd: number;
  propagationRun: PropagationRun | null;
  /** Why the last propagation could not start (e.g. no tracker configured), shown by the action. */
  propagationError: string | null;
  includeSilent: boolean;
  /** Frames found stale by the last range accept (reloaded since). */
  staleFrames: readonly number[];
  /** Per frame: what the selected propagation says about it (filmstrip marks). */
  frameMarks: readonly FrameMark[];
  overlayVisible: boolean;
  overlayOpacity: number;
  save: FrameSaveStatus;
  conflict: SaveConflict | null;
  canUndo: boolean;
  canRedo: boolean;
  stashCount: number;
  busy: string | null;
  notice: Notice | null;
  helpOpen: boolean;
}

export interface SessionOptions {
  clipId: number;
  initialFrame?: number;
  reviewMode?: boolean;
  deps?: AnnotatorDeps;
  /** The clip arrived (before the rest): e.g. start loading the first frame's image. */
  onClip?: (clip: ClipDetail, framePosition: number) => void;
  scheduler?: Scheduler;
  now?: () => number;
}

export class AnnotatorSession {
  private readonly deps: AnnotatorDeps;
  private readonly listeners = new Set<() => void>();
  private snapshot: SessionSnapshot;
  private readonly saver: SaveController;
  private readonly clock: ActivityClock;

  private phase: SessionSnapshot["phase"] = "loading";
  private loadError: string | null = null;
  private clip: ClipDetail | null = null;
  private project: ProjectDetail | null = null;
  private slots: FrameSlot[] = [];
  private frameIndex = 0;
  private selectedIds: string[] = [];
  private hiddenIds = new Set<string>();
  private tool: ToolName = "brush";
  private brushSize = 20;
  private samNegative = false;
  private samSeq = 0;
  private samBusy = false;
  private labelDraft = DEFAULT_LABEL;
  private proposals: Proposal[] = [];
  private proposalId: number | null = null;
  private propagations: Propagation[] = [];
  private propagationId: number | null = null;
  private propagateDirection: PropagationDirection = "forward";
  private propagateEnd: number | null = null;
  private propagationRun: PropagationRun | null = null;
  private propagationError: string | null = null;
  private includeSilent = false;
  private staleFrames: number[] = [];
  private pollTimer: unknown = null;
  private bulkUndo: BulkStep | null = null;
  private bulkRedo: BulkStep | null = null;
  private overlayVisible = true;
  private overlayOpacity = 0.45;
  private busy: string | null = null;
  private notice: Notice | null = null;
  private noticeSeq = 0;
  private helpOpen = false;
  private disposed = false;

  private readonly scheduler: Scheduler;

  constructor(private readonly options: SessionOptions) {
    this.deps = options.deps ?? defaultApi;
    this.scheduler = options.scheduler ?? browserScheduler;
    this.frameIndex = Math.max(0, options.initialFrame ?? 0);
    this.clock = new ActivityClock(30_000, options.now);
    this.saver = new SaveController({
      transport: this.deps.saveTransport,
      scheduler: options.scheduler,
      payload: (frameId) => {
        const slot = this.slotById(frameId);
        return { instances: slot ? docToApi(this.docOf(slot)) : [], sourceProposal: slot?.sourceProposal ?? null };
      },
      onSaved: (frameId, annotation) => this.onSaved(frameId, annotation),
      onStatus: () => this.changed(),
    });
    this.snapshot = this.buildSnapshot();
  }

  // --- store protocol ---------------------------------------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): SessionSnapshot => this.snapshot;

  private changed(): void {
    if (this.disposed) return;
    this.snapshot = this.buildSnapshot();
    for (const listener of [...this.listeners]) listener();
  }

  dispose(): void {
    this.disposed = true;
    if (this.pollTimer !== null) this.scheduler.clearTimeout(this.pollTimer);
    this.saver.dispose();
    this.listeners.clear();
  }

  // --- loading ----------------------------------------------------------------------------------

  async load(): Promise<void> {
    // Annotations and proposals need only the clip id: fetched alongside the clip (one round trip less).
    const annotationsRequest = this.deps.fetchAnnotations(this.options.clipId);
    const proposalsRequest = this.deps.fetchProposals(this.options.clipId);
    const propagationsRequest = this.deps.fetchPropagations(this.options.clipId);
    annotationsRequest.catch(() => undefined);
    proposalsRequest.catch(() => undefined);
    propagationsRequest.catch(() => undefined);
    try {
      const clip = await this.deps.fetchClip(this.options.clipId);
      this.options.onClip?.(clip, Math.min(this.frameIndex, Math.max(0, clip.frames.length - 1)));
      const [project, annotations] = await Promise.all([this.deps.fetchProject(clip.project_id), annotationsRequest]);
      if (this.disposed) return;
      this.clip = clip;
      this.project = project;
      const byFrame = new Map(annotations.map((a) => [a.frame, a]));
      this.slots = [...clip.frames]
        .sort((a, b) => a.index - b.index)
        .map((frame) => ({ frame, annotation: byFrame.get(frame.id) ?? null, doc: null, history: new History<FrameDoc>(100), stash: [], sourceProposal: null }));
      for (const slot of this.slots) this.saver.track(slot.frame.id, slot.annotation?.version ?? null);
      this.frameIndex = Math.min(this.frameIndex, Math.max(0, this.slots.length - 1));
      if (project.labels.length) this.labelDraft = project.labels[0].name;
      if (!EDIT_ROLES.has(project.role)) this.tool = "select";
      this.phase = clip.frames.length ? "ready" : "error";
      this.loadError = clip.frames.length ? null : `The clip has no frames yet (status: ${clip.status ?? "unknown"}).`;
      this.changed();
      void this.loadProposals(proposalsRequest);
      void this.loadPropagations(propagationsRequest);
    } catch (e) {
      this.phase = "error";
      this.loadError = e instanceof Error ? e.message : String(e);
      this.changed();
    }
  }

  private async loadProposals(request: Promise<Proposal[]>): Promise<void> {
    try {
      const proposals = await request;
      if (this.disposed) return;
      this.proposals = proposals;
      this.proposalId = proposals.length ? proposals[proposals.length - 1].id : null;
      this.changed();
    } catch (e) {
      this.say("error", `Proposals could not be loaded: ${messageOf(e)}`);
    }
  }

  private async loadPropagations(request: Promise<Propagation[]>): Promise<void> {
    try {
      const propagations = await request;
      if (this.disposed) return;
      this.propagations = propagations;
      // A propagation still running (the page was reloaded meanwhile): follow it again.
      const running = propagations.find((p) => !isFinished(p.status));
      if (running && !this.propagationRun) this.followPropagation(running);
      this.changed();
    } catch (e) {
      if (e instanceof AnnotatorApiError && e.status === 404) return; // a server without propagation
      this.say("error", `Propagations could not be loaded: ${messageOf(e)}`);
    }
  }

  // --- helpers ----------------------------------------------------------------------------------

  private slotById(frameId: number): FrameSlot | undefined {
    return this.slots.find((s) => s.frame.id === frameId);
  }

  private slotByIndex(frameIndex: number): FrameSlot | undefined {
    return this.slots.find((s) => s.frame.index === frameIndex);
  }

  private get slot(): FrameSlot | null {
    return this.slots[this.frameIndex] ?? null;
  }

  /** A frame as people are told about it: "Frame 3 of 5" (`capital` false: "frame 3 of 5", mid-sentence). */
  private frameName(slot: FrameSlot, capital = true): string {
    const name = frameLabel(slot.frame.index, this.slots.length);
    return capital ? name : name.charAt(0).toLowerCase() + name.slice(1);
  }

  private docOf(slot: FrameSlot): FrameDoc {
    if (!slot.doc) {
      const { width, height } = slot.frame;
      try {
        slot.doc = slot.annotation ? docFromApi(slot.annotation.instances, width, height) : emptyDoc(width, height);
      } catch (e) {
        slot.doc = emptyDoc(width, height);
        // No `changed()` here: docOf runs while snapshots are built.
        this.notice = { id: ++this.noticeSeq, kind: "error", text: `The saved masks of ${this.frameName(slot)} could not be read: ${messageOf(e)}` };
      }
    }
    return slot.doc;
  }

  private role(): string | null {
    return this.project?.role ?? null;
  }

  private canEditSlot(slot: FrameSlot | null): boolean {
    const role = this.role();
    if (!slot || !role || !EDIT_ROLES.has(role)) return false;
    return !(slot.annotation?.status === "accepted" && role === "annotator");
  }

  private say(kind: Notice["kind"], text: string): void {
    this.notice = { id: ++this.noticeSeq, kind, text };
    this.changed();
  }

  clearNotice(id: number): void {
    if (this.notice?.id === id) {
      this.notice = null;
      this.changed();
    }
  }

  /** Replace the document of `slot` as one undoable, saved edit. */
  private commitDoc(slot: FrameSlot, doc: FrameDoc): void {
    const before = this.docOf(slot);
    if (doc === before) return;
    this.forgetBulk();
    slot.history.record(before);
    slot.doc = doc;
    this.saver.markChanged(slot.frame.id);
    this.changed();
  }

  /** Credit time worked on the current frame (call on user input). */
  activity(): void {
    const slot = this.slot;
    const seconds = this.clock.touch();
    if (slot && this.canEditSlot(slot)) this.saver.addTime(slot.frame.id, seconds);
  }

  // --- frames -------------------------------------------------------------------------------------

  setFrame(index: number): void {
    if (!this.slots.length) return;
    const next = Math.min(this.slots.length - 1, Math.max(0, index));
    if (next === this.frameIndex) return;
    const previous = this.slot;
    if (previous && this.saver.isDirty(previous.frame.id)) void this.saver.saveNow(previous.frame.id);
    this.frameIndex = next;
    this.selectedIds = [];
    this.changed();
  }

  nextFrame(): void {
    this.setFrame(this.frameIndex + 1);
  }

  previousFrame(): void {
    this.setFrame(this.frameIndex - 1);
  }

  // --- editing ------------------------------------------------------------------------------------

  /** The label for new instances (the label picker's text). */
  private newLabel(): string {
    return this.labelDraft.trim() || DEFAULT_LABEL;
  }

  /** A finished canvas edit (`edit` event of the facade). */
  applyEdit(changes: readonly MaskChange[]): void {
    const slot = this.slot;
    if (!slot || !this.canEditSlot(slot) || !changes.length) return;
    const { doc, created } = applyChanges(this.docOf(slot), changes, this.newLabel());
    this.commitDoc(slot, doc);
    if (created.length) this.select(created[created.length - 1]);
  }

  undo(): void {
    if (this.bulkUndo) return this.applyBulk("undo");
    const slot = this.slot;
    if (!slot || !this.canEditSlot(slot)) return;
    const previous = slot.history.undo(this.docOf(slot));
    if (!previous) return;
    this.forgetBulk();
    slot.doc = previous;
    this.pruneSelection();
    this.saver.markChanged(slot.frame.id);
    this.changed();
  }

  redo(): void {
    if (this.bulkRedo) return this.applyBulk("redo");
    const slot = this.slot;
    if (!slot || !this.canEditSlot(slot)) return;
    const next = slot.history.redo(this.docOf(slot));
    if (!next) return;
    this.forgetBulk();
    slot.doc = next;
    this.pruneSelection();
    this.saver.markChanged(slot.frame.id);
    this.changed();
  }

  private pruneSelection(): void {
    const doc = this.slot ? this.docOf(this.slot) : null;
    this.selectedIds = this.selectedIds.filter((id) => findInstance(doc!, id));
  }

  select(id: string | null, additive = false): void {
    if (id === null) this.selectedIds = [];
    else if (additive) this.selectedIds = this.selectedIds.includes(id) ? this.selectedIds.filter((x) => x !== id) : [...this.selectedIds, id];
    else this.selectedIds = [id];
    const primary = this.primarySelection();
    const instance = primary && this.slot ? findInstance(this.docOf(this.slot), primary) : null;
    if (instance) this.labelDraft = instance.label;
    this.changed();
  }

  primarySelection(): string | null {
    return this.selectedIds.length ? this.selectedIds[this.selectedIds.length - 1] : null;
  }

  deleteInstance(id: string | null = this.primarySelection()): void {
    const slot = this.slot;
    if (!slot || !id || !this.canEditSlot(slot)) return;
    this.selectedIds = this.selectedIds.filter((x) => x !== id);
    this.commitDoc(slot, removeInstance(this.docOf(slot), id));
  }

  toggleHidden(id: string | null = this.primarySelection()): void {
    if (!id) return;
    if (this.hiddenIds.has(id)) this.hiddenIds.delete(id);
    else this.hiddenIds.add(id);
    this.hiddenIds = new Set(this.hiddenIds);
    this.changed();
  }

  setLabelDraft(text: string): void {
    this.labelDraft = text;
    this.changed();
  }

  /** Apply the label picker's text: relabel the selected instances (or just set the label for new ones). */
  commitLabel(text: string = this.labelDraft): void {
    const label = text.trim();
    this.labelDraft = label;
    const slot = this.slot;
    if (!label || !slot) return this.changed();
    const ids = this.selectedIds.filter((id) => {
      const instance = findInstance(this.docOf(slot), id);
      return instance && instance.label !== label;
    });
    if (!ids.length || !this.canEditSlot(slot)) return this.changed();
    let doc = this.docOf(slot);
    for (const id of ids) doc = relabelInstance(doc, id, label);
    this.commitDoc(slot, doc);
  }

  copySelectedToNext(): void {
    const slot = this.slot;
    const target = this.slots[this.frameIndex + 1];
    if (!slot || !this.selectedIds.length) {
      this.say("info", "Select the mask(s) to copy first.");
      return;
    }
    if (!target) {
      this.say("info", "This is the last frame.");
      return;
    }
    if (!this.canEditSlot(target)) {
      this.say("error", `${this.frameName(target)} cannot be edited.`);
      return;
    }
    try {
      const { doc, created } = copyInstances(this.docOf(slot), this.selectedIds, this.docOf(target));
      this.forgetBulk();
      target.history.record(this.docOf(target));
      target.doc = doc;
      this.saver.markChanged(target.frame.id);
      this.say("info", `Copied ${created.length} mask${created.length === 1 ? "" : "s"} to ${this.frameName(target, false)}.`);
    } catch (e) {
      this.say("error", messageOf(e));
    }
  }

  // --- tools --------------------------------------------------------------------------------------

  setTool(tool: ToolName): void {
    this.tool = tool;
    this.changed();
  }

  setBrushSize(size: number): void {
    this.brushSize = Math.min(400, Math.max(1, Math.round(size)));
    this.changed();
  }

  /** One step along BRUSH_SIZES ([ and ] keys). */
  stepBrushSize(direction: 1 | -1): void {
    const sizes = BRUSH_SIZES;
    const current = this.brushSize;
    const next = direction > 0 ? (sizes.find((s) => s > current) ?? current) : ([...sizes].reverse().find((s) => s < current) ?? current);
    this.setBrushSize(next);
  }

  toggleSamNegative(value = !this.samNegative): void {
    this.samNegative = value;
    this.changed();
  }

  toggleHelp(open = !this.helpOpen): void {
    this.helpOpen = open;
    this.changed();
  }

  /** The SAM tool's prompt changed: ask the server, put the mask on the target (or a new) instance. */
  async samPrompt(prompt: SamPrompt): Promise<void> {
    const slot = this.slot;
    if (!slot || !this.canEditSlot(slot)) return;
    const seq = ++this.samSeq;
    this.samBusy = true;
    this.changed();
    try {
      const result = await this.deps.samPredict(slot.frame.id, {
        points: prompt.points.map((p) => ({ x: p.x, y: p.y, positive: p.positive })),
        box: prompt.box,
      });
      if (seq !== this.samSeq || this.slot !== slot) return; // a newer prompt or another frame
      const mask = decodeRle(result.mask);
      const doc = this.docOf(slot);
      const target = prompt.instanceId && findInstance(doc, prompt.instanceId) ? prompt.instanceId : null;
      const { doc: next, created } = applyChanges(doc, [{ instanceId: target, mask }], this.newLabel());
      this.commitDoc(slot, next);
      if (created.length) this.select(created[0]);
      else if (target === null) this.say("info", "SAM found nothing there; try another point or a box.");
    } catch (e) {
      if (seq !== this.samSeq) return;
      const status = e instanceof AnnotatorApiError ? e.status : 0;
      this.say("error", status === 503 ? `SAM is not available: ${messageOf(e)}` : `SAM failed: ${messageOf(e)}`);
    } finally {
      if (seq === this.samSeq) {
        this.samBusy = false;
        this.changed();
      }
    }
  }

  // --- proposals ------------------------------------------------------------------------------------

  setProposal(id: number | null): void {
    this.proposalId = id;
    if (id !== null) this.propagationId = null;
    this.changed();
  }

  /** Show a propagation in the overlay (in place of a proposal). */
  setPropagation(id: number | null): void {
    this.propagationId = id;
    if (id !== null) this.proposalId = null;
    this.changed();
  }

  setOverlay(overlay: { visible?: boolean; opacity?: number }): void {
    if (overlay.visible !== undefined) this.overlayVisible = overlay.visible;
    if (overlay.opacity !== undefined) this.overlayOpacity = Math.min(1, Math.max(0, overlay.opacity));
    this.changed();
  }

  /** The overlay's instances on the current frame: the selected proposal's, or the selected propagation's. */
  proposalInstances(): readonly ProposalInstance[] {
    const index = this.slot?.frame.index;
    if (this.propagationId !== null) return this.selectedPropagation()?.frames.find((f) => f.frame_index === index)?.instances ?? NONE;
    const proposal = this.proposals.find((p) => p.id === this.proposalId);
    return proposal?.frames.find((f) => f.frame_index === index)?.instances ?? NONE;
  }

  /** Copy one proposal instance into this frame's document (a local edit, saved like the others). */
  addProposalInstance(index: number): void {
    const slot = this.slot;
    const instance = this.proposalInstances()[index];
    if (!slot || !instance || !this.canEditSlot(slot)) return;
    try {
      const mask = decodeRle(instance.mask);
      const { doc, created } = applyChanges(this.docOf(slot), [{ instanceId: null, mask }], instance.label);
      if (this.proposalId !== null) slot.sourceProposal = this.proposalId;
      this.commitDoc(slot, doc);
      if (created.length) this.select(created[0]);
    } catch (e) {
      this.say("error", messageOf(e));
    }
  }

  /** Accept the selected proposal on this frame (server-side; our unsaved edits are saved first). */
  async acceptProposalFrame(): Promise<void> {
    const slot = this.slot;
    const proposal = this.proposalId;
    if (!slot || proposal === null || !this.canEditSlot(slot)) return;
    await this.run("Accepting the proposal…", async () => {
      await this.saver.saveNow(slot.frame.id);
      if (this.saver.conflict()?.frameId === slot.frame.id) return;
      try {
        const annotation = await this.deps.acceptProposalOnFrame(slot.frame.id, {
          proposal,
          version: this.saver.version(slot.frame.id),
        });
        this.takeServerCopy(slot, annotation);
        this.saver.rebase(slot.frame.id, annotation);
        this.say("info", `Accepted the proposal on ${this.frameName(slot, false)}.`);
      } catch (e) {
        const outcome = outcomeOf(e);
        if (outcome.kind === "conflict") this.saver.enterConflict(slot.frame.id, outcome);
        else throw e;
      }
    });
  }

  /** Accept the selected proposal on every frame of the clip without an annotation. */
  async acceptProposalClip(): Promise<void> {
    const clip = this.clip;
    const proposal = this.proposalId;
    if (!clip || proposal === null || !EDIT_ROLES.has(this.role() ?? "")) return;
    await this.run("Accepting the proposal on the clip…", async () => {
      await this.saver.flushAll();
      const result = await this.deps.acceptProposalOnClip(clip.id, proposal);
      await this.refreshAnnotations();
      this.say(
        "info",
        `Created ${result.created} draft${result.created === 1 ? "" : "s"} from the proposal; ` +
          `${result.skipped} frame${result.skipped === 1 ? "" : "s"} already had an annotation.`,
      );
    });
  }

  /** Reload the clip's annotations; frames with unsaved local edits keep them. */
  async refreshAnnotations(): Promise<void> {
    if (!this.clip) return;
    const annotations = await this.deps.fetchAnnotations(this.clip.id);
    const byFrame = new Map(annotations.map((a) => [a.frame, a]));
    for (const slot of this.slots) {
      const fresh = byFrame.get(slot.frame.id) ?? null;
      if (!fresh || this.saver.isDirty(slot.frame.id) || this.saver.conflict()?.frameId === slot.frame.id) continue;
      if (slot.annotation && slot.annotation.version === fresh.version) {
        slot.annotation = fresh; // status or review may have changed
        continue;
      }
      this.takeServerCopy(slot, fresh);
      this.saver.track(slot.frame.id, fresh.version ?? null);
    }
    this.changed();
  }

  /** Show the server's annotation on `slot`, keeping the document we had as an undo step. */
  private takeServerCopy(slot: FrameSlot, annotation: Annotation | null): void {
    const before = slot.doc;
    slot.annotation = annotation;
    slot.doc = null;
    const after = this.docOf(slot);
    if (before) slot.history.record(before);
    slot.doc = after;
    if (slot === this.slot) this.pruneSelection();
  }

  // --- propagation -------------------------------------------------------------------------------

  private selectedPropagation(): Propagation | null {
    return this.propagations.find((p) => p.id === this.propagationId) ?? null;
  }

  private frameIndexes(): number[] {
    return this.slots.map((s) => s.frame.index);
  }

  /** The frame a new propagation runs to: the one picked, else the clip's end (forward) or start (backward). */
  private propagateEndIndex(): number {
    return this.propagateEnd ?? defaultEndIndex(this.propagateDirection, this.frameIndexes());
  }

  setPropagateDirection(direction: PropagationDirection): void {
    if (direction === this.propagateDirection) return;
    this.propagateDirection = direction;
    this.propagateEnd = null; // back to the clip's end or start
    this.propagationError = null;
    this.changed();
  }

  /** The frame index to propagate to (null: the clip's end or start). */
  setPropagateEnd(frameIndex: number | null): void {
    this.propagateEnd = frameIndex;
    this.propagationError = null;
    this.changed();
  }

  setIncludeSilent(value: boolean): void {
    this.includeSilent = value;
    this.changed();
  }

  /**
   * Propagate the selected instances of this frame (their masks as they are now, saved or not) in the
   * chosen direction to the end frame. The job's progress is followed until it finishes; its result
   * then shows in the overlay like a proposal.
   */
  async startPropagation(): Promise<void> {
    const slot = this.slot;
    const clip = this.clip;
    if (!slot || !clip || !EDIT_ROLES.has(this.role() ?? "")) return;
    if (this.propagationRun && !isFinished(this.propagationRun.status)) {
      this.propagationError = "A propagation is already running; wait for it to finish.";
      return this.changed();
    }
    const doc = this.docOf(slot);
    const chosen = doc.instances.filter((i) => this.selectedIds.includes(i.id) && !isEmpty(i.mask));
    const end = this.propagateEndIndex();
    const problem = !chosen.length
      ? "Select the instance(s) to propagate in the instance list first (Shift-click adds more)."
      : chosen.length > MAX_PROPAGATED_INSTANCES
        ? `At most ${MAX_PROPAGATED_INSTANCES} instances can be propagated at once; ${chosen.length} are selected.`
        : rangeProblem(this.propagateDirection, slot.frame.index, end, this.frameIndexes());
    if (problem) {
      this.propagationError = problem;
      return this.changed();
    }
    this.propagationError = null;
    this.propagationRun = { id: null, status: "starting", progress: 0, message: "Starting…", error: "" };
    this.changed();
    try {
      const propagation = await this.deps.startPropagation(clip.id, {
        frame_index: slot.frame.index,
        instances: chosen.map((i) => ({ mask: encodeRle(i.mask), label: i.label })),
        direction: this.propagateDirection,
        end_frame_index: end,
      });
      if (this.disposed) return;
      this.followPropagation(propagation);
    } catch (e) {
      this.propagationRun = null;
      const status = e instanceof AnnotatorApiError ? e.status : 0;
      // 503: no tracker configured; the server's message says which setting to fix.
      this.propagationError = status === 503 ? messageOf(e) : `The propagation could not start: ${messageOf(e)}`;
      this.changed();
    }
  }

  /** Take the server's copy of a propagation; poll it until it has finished. */
  private followPropagation(propagation: Propagation): void {
    const k = this.propagations.findIndex((p) => p.id === propagation.id);
    if (k >= 0) this.propagations = this.propagations.map((p, i) => (i === k ? propagation : p));
    else this.propagations = [propagation, ...this.propagations];
    const waiting = propagation.status === "queued" ? (propagation.job?.waiting_reason ?? "") : "";
    this.propagationRun = {
      id: propagation.id,
      status: propagation.status,
      progress: propagation.status === "succeeded" ? 1 : progressFraction(propagation.progress ?? propagation.job?.progress),
      message: waiting || propagation.message || propagation.job?.message || "",
      error: propagation.error ?? "",
    };
    if (this.pollTimer !== null) this.scheduler.clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (!isFinished(propagation.status)) {
      this.pollTimer = this.scheduler.setTimeout(() => {
        this.pollTimer = null;
        void this.pollPropagation(propagation.id);
      }, PROPAGATION_POLL_MS);
    } else if (propagation.status === "succeeded") {
      this.propagationId = propagation.id;
      this.proposalId = null;
      this.overlayVisible = true;
      const marks = frameMarks(this.frameIndexes(), propagation);
      const silent = marks.filter((m) => m.silentLabels.length).length;
      const check = marks.filter((m) => m.check).length;
      const frames = marks.filter((m) => m.propagated).length;
      this.say(
        "info",
        `Propagated to ${frames} frame${frames === 1 ? "" : "s"}` +
          (silent ? `; ${silent} with silent instances` : "") +
          (check ? `; ${check} to check` : "") +
          ". Review them in the filmstrip, then accept.",
      );
    }
    this.changed();
  }

  private async pollPropagation(id: number): Promise<void> {
    if (this.disposed || this.propagationRun?.id !== id) return;
    try {
      const propagation = await this.deps.fetchPropagation(id);
      if (this.disposed || this.propagationRun?.id !== id) return;
      this.followPropagation(propagation);
    } catch (e) {
      if (this.disposed || this.propagationRun?.id !== id) return;
      this.propagationRun = { ...this.propagationRun, message: `Progress could not be read (${messageOf(e)}); trying again…` };
      this.pollTimer = this.scheduler.setTimeout(() => {
        this.pollTimer = null;
        void this.pollPropagation(id);
      }, PROPAGATION_POLL_MS * 3);
      this.changed();
    }
  }

  /**
   * Accept the selected propagation on this frame: its instances (sounding ones, unless silent ones
   * are included) replace those this frame already took from the same track, or are added. A local
   * edit: saved and undone like any other.
   */
  acceptPropagationFrame(): void {
    const slot = this.slot;
    const propagation = this.selectedPropagation();
    if (!slot || !propagation || !this.canEditSlot(slot)) return;
    if (slot.frame.index === propagation.source_frame_index) {
      this.say("info", "This is the propagation's source frame: its masks are the ones propagated.");
      return;
    }
    const frame = propagation.frames.find((f) => f.frame_index === slot.frame.index);
    const chosen = acceptedInstances(frame, this.includeSilent);
    if (!chosen.length) {
      this.say(
        "info",
        frame?.instances.length
          ? "Only silent instances here (visible, not sounding: background in AVS). Tick “include silent frames” to accept them anyway."
          : "Nothing was propagated to this frame.",
      );
      return;
    }
    try {
      const items = chosen.map((i) => ({ trackOf: `${propagation.id}:${i.track}`, label: i.label, mask: decodeRle(i.mask) }));
      const { doc, created, replaced } = mergeTracked(this.docOf(slot), items);
      this.commitDoc(slot, doc);
      this.selectedIds = [...replaced, ...created];
      this.say("info", `Accepted ${items.length} propagated mask${items.length === 1 ? "" : "s"} on ${this.frameName(slot, false)}.`);
    } catch (e) {
      this.say("error", messageOf(e));
    }
  }

  /**
   * Accept the selected propagation on every frame of its range but the source (server-side, all or
   * nothing, against the versions this page knows). A stale frame (409) is reloaded and named; on
   * success the frames show the stored annotations and one undo step restores what they had before.
   */
  async acceptPropagationRange(): Promise<void> {
    const clip = this.clip;
    const propagation = this.selectedPropagation();
    if (!clip || !propagation || !EDIT_ROLES.has(this.role() ?? "")) return;
    await this.run("Accepting the propagation…", async () => {
      await this.saver.flushAll();
      const slots = rangeFrameIndexes(propagation)
        .map((k) => this.slotByIndex(k))
        .filter((s): s is FrameSlot => !!s);
      const inConflict = slots.find((s) => this.saver.conflict()?.frameId === s.frame.id);
      if (inConflict) {
        this.say("error", `Resolve the conflict on ${this.frameName(inConflict, false)} first.`);
        return;
      }
      const base: Record<string, number | null> = {};
      for (const s of slots) base[String(s.frame.index)] = this.saver.version(s.frame.id);
      let result;
      try {
        result = await this.deps.acceptPropagation(propagation.id, {
          frame_indexes: null,
          include_silent: this.includeSilent,
          base_versions: base,
        });
      } catch (e) {
        if (!(e instanceof AnnotatorApiError) || e.status !== 409) throw e;
        const stale = framesOf(e.extra.stale_frames);
        if (!stale.length) throw e; // locked frames, or a propagation not finished: the server's message says which
        this.staleFrames = stale;
        await this.reloadFrames(stale);
        this.say(
          "error",
          `Nothing was accepted: ${stale.length ? framesText(stale) : "some frames"} changed on the server since this page loaded them. ` +
            "They are reloaded now (your version is one undo step away): check them, then accept again.",
        );
        return;
      }
      this.staleFrames = [];
      const step: BulkStep = { label: "the range accept", frames: [] };
      for (const { frame_index, annotation } of result.accepted) {
        const slot = this.slotByIndex(frame_index);
        if (!slot) continue;
        const before = this.docOf(slot);
        slot.annotation = annotation;
        slot.doc = null;
        const after = this.docOf(slot);
        slot.history.record(before);
        this.saver.rebase(slot.frame.id, annotation);
        step.frames.push({ slot, doc: after });
      }
      if (this.slot) this.pruneSelection();
      this.bulkRedo = null;
      this.bulkUndo = step.frames.length ? step : null;
      const silent = result.skipped.filter((s) => s.reason === "silent").length;
      const lost = result.skipped.length - silent;
      const n = step.frames.length;
      const left = [
        silent ? `${silent} silent frame${silent === 1 ? "" : "s"} left out` : "",
        lost ? `${lost} frame${lost === 1 ? "" : "s"} where the tracker lost every object` : "",
      ].filter(Boolean);
      this.say(
        "info",
        (n ? `Accepted the propagation on ${n} frame${n === 1 ? "" : "s"}` : "Nothing accepted") +
          (left.length ? `; ${left.join(", ")}` : "") +
          (n ? ". Undo (Ctrl+Z) restores what they had." : silent ? " (tick “include silent frames” to accept them)." : "."),
      );
    });
  }

  /** Reload frames from the server (after a stale accept); their current document stays one undo step away. */
  private async reloadFrames(frameIndexes: readonly number[]): Promise<void> {
    for (const index of frameIndexes) {
      const slot = this.slotByIndex(index);
      if (!slot) continue;
      const annotation = await this.deps.fetchAnnotation(slot.frame.id);
      this.takeServerCopy(slot, annotation);
      if (annotation) this.saver.rebase(slot.frame.id, annotation);
      else this.saver.track(slot.frame.id, null);
    }
  }

  /** Undo or redo a step over several frames: frames changed since keep their changes. */
  private applyBulk(direction: "undo" | "redo"): void {
    const step = direction === "undo" ? this.bulkUndo : this.bulkRedo;
    if (!step) return;
    const back: BulkStep = { label: step.label, frames: [] };
    let skipped = 0;
    for (const { slot, doc } of step.frames) {
      if (slot.doc !== doc || !this.canEditSlot(slot)) {
        skipped++;
        continue;
      }
      const other = direction === "undo" ? slot.history.undo(doc) : slot.history.redo(doc);
      if (!other) continue;
      slot.doc = other;
      this.saver.markChanged(slot.frame.id);
      back.frames.push({ slot, doc: other });
    }
    if (direction === "undo") {
      this.bulkUndo = null;
      this.bulkRedo = back.frames.length ? back : null;
    } else {
      this.bulkRedo = null;
      this.bulkUndo = back.frames.length ? back : null;
    }
    this.pruneSelection();
    const n = back.frames.length;
    this.say(
      "info",
      `${direction === "undo" ? "Undid" : "Redid"} ${step.label} on ${n} frame${n === 1 ? "" : "s"}` +
        (skipped ? ` (${skipped} changed since, left as they are)` : "") +
        ".",
    );
  }

  private marksCache: { propagation: Propagation | null; frames: number; marks: FrameMark[] } | null = null;

  /** The filmstrip marks of `propagation` (recomputed only when it or the frames change). */
  private marksOf(propagation: Propagation | null): FrameMark[] {
    const cache = this.marksCache;
    if (cache && cache.propagation === propagation && cache.frames === this.slots.length) return cache.marks;
    const marks = frameMarks(this.frameIndexes(), propagation);
    this.marksCache = { propagation, frames: this.slots.length, marks };
    return marks;
  }

  /** A new edit: the multi-frame undo/redo step is no longer the latest. */
  private forgetBulk(): void {
    this.bulkUndo = null;
    this.bulkRedo = null;
  }

  // --- saving -------------------------------------------------------------------------------------

  private onSaved(frameId: number, annotation: Annotation): void {
    const slot = this.slotById(frameId);
    if (!slot) return;
    slot.annotation = annotation;
    const known = new Set((this.project?.labels ?? []).map((l) => l.name.toLowerCase()));
    if (annotation.instances.some((i) => !known.has(i.label.toLowerCase()))) void this.refreshVocabulary();
    this.changed();
  }

  private async refreshVocabulary(): Promise<void> {
    if (!this.project) return;
    try {
      this.project = await this.deps.fetchProject(this.project.id);
      this.changed();
    } catch {
      /* colours of new labels stay provisional */
    }
  }

  saveNow(): Promise<void> {
    const slot = this.slot;
    if (!slot) return Promise.resolve();
    return this.saver.saveNow(slot.frame.id);
  }

  async submit(): Promise<void> {
    const slot = this.slot;
    if (!slot || !this.canEditSlot(slot)) return;
    await this.saver.submit(slot.frame.id);
    const status = this.saver.status(slot.frame.id);
    if (status.kind === "saved") this.say("info", `${this.frameName(slot)} submitted for review.`);
  }

  /** Save every dirty frame (frame change, leaving the page). */
  flushAll(): Promise<void> {
    return this.saver.flushAll();
  }

  hasUnsaved(): boolean {
    return this.saver.hasUnsaved();
  }

  /** Requests for a keepalive send when the page unloads. */
  unloadRequests() {
    return this.saver.unloadRequests();
  }

  retryNow(): void {
    this.saver.retryNow();
  }

  /** The two sides of the current conflict, decoded (for the dialog's comparison). */
  conflictDocs(): { theirs: FrameDoc; yours: FrameDoc; frameIndex: number; frameName: string } | null {
    const conflict = this.saver.conflict();
    const slot = conflict ? this.slotById(conflict.frameId) : undefined;
    if (!conflict || !slot) return null;
    const { width, height } = slot.frame;
    let theirs: FrameDoc;
    try {
      theirs = conflict.current ? docFromApi(conflict.current.instances, width, height) : emptyDoc(width, height);
    } catch {
      theirs = emptyDoc(width, height);
    }
    return { theirs, yours: this.docOf(slot), frameIndex: slot.frame.index, frameName: this.frameName(slot, false) };
  }

  /** Take their version; ours goes to the stash and stays one undo step away. */
  resolveConflictReload(): void {
    const conflict = this.saver.conflict();
    const slot = conflict ? this.slotById(conflict.frameId) : undefined;
    if (!conflict || !slot) return;
    const ours = this.docOf(slot);
    slot.stash.push(ours);
    this.takeServerCopy(slot, conflict.current);
    this.saver.resolveReload(slot.frame.id);
    this.say("info", "Loaded their version. Yours is kept: Undo (Ctrl+Z) or “Restore my edits” brings it back.");
  }

  /** Save ours on top of their version. */
  async resolveConflictOverwrite(): Promise<void> {
    const conflict = this.saver.conflict();
    const slot = conflict ? this.slotById(conflict.frameId) : undefined;
    if (!conflict || !slot) return;
    if (conflict.current) slot.annotation = conflict.current;
    await this.saver.resolveOverwrite(slot.frame.id);
  }

  /** Bring back the newest stashed version of the current frame (as an undoable edit). */
  restoreStash(): void {
    const slot = this.slot;
    const stashed = slot?.stash.pop();
    if (!slot || !stashed) return;
    this.commitDoc(slot, stashed);
  }

  // --- review -------------------------------------------------------------------------------------

  async review(verdict: Verdict, comment: string): Promise<boolean> {
    const slot = this.slot;
    const annotation = slot?.annotation;
    if (!slot || !annotation) return false;
    if (verdict === "reject" && !comment.trim()) {
      this.say("error", "A rejection needs a comment telling the annotator what to fix.");
      return false;
    }
    let ok = false;
    await this.run(verdict === "accept" ? "Accepting…" : "Rejecting…", async () => {
      await this.deps.postReview(annotation.id, { verdict, comment: comment.trim(), annotation_version: annotation.version ?? 1 });
      slot.annotation = (await this.deps.fetchAnnotation(slot.frame.id)) ?? annotation;
      ok = true;
      this.say("info", `${this.frameName(slot)} ${verdict === "accept" ? "accepted" : "rejected"}.`);
    });
    return ok;
  }

  /** The position of the next submitted frame after the current one (wrapping), or -1. */
  nextSubmitted(): number {
    const n = this.slots.length;
    for (let step = 1; step < n; step++) {
      const k = (this.frameIndex + step) % n;
      if (this.slots[k].annotation?.status === "submitted") return k;
    }
    return -1;
  }

  private async run(label: string, work: () => Promise<void>): Promise<void> {
    this.busy = label;
    this.changed();
    try {
      await work();
    } catch (e) {
      this.say("error", messageOf(e));
    } finally {
      this.busy = null;
      this.changed();
    }
  }

  // --- snapshot -----------------------------------------------------------------------------------

  private buildSnapshot(): SessionSnapshot {
    const slot = this.slot;
    const doc = slot ? this.docOf(slot) : null;
    const role = this.role();
    const vocabulary = (this.project?.labels ?? []).map((l) => ({ name: l.name, color: l.color }));
    const overlayInstances = this.proposalInstances();
    const names = [
      ...(doc?.instances.map((i) => i.label) ?? []),
      ...overlayInstances.map((i) => i.label),
      this.labelDraft,
    ].filter(Boolean);
    const propagation = this.selectedPropagation();
    const canEdit = this.canEditSlot(slot);
    return {
      phase: this.phase,
      loadError: this.loadError,
      clip: this.clip,
      project: this.project,
      role,
      frames: this.slots.map((s) => s.frame),
      frameIndex: this.frameIndex,
      frame: slot?.frame ?? null,
      doc,
      annotation: slot?.annotation ?? null,
      statuses: this.slots.map((s) => frameStatus(s.annotation)),
      dirty: this.slots.map((s) => this.saver.isDirty(s.frame.id)),
      canEdit,
      locked: !!slot && !canEdit && role === "annotator" && slot.annotation?.status === "accepted",
      canReview: !!role && REVIEW_ROLES.has(role),
      reviewMode: !!this.options.reviewMode,
      selectedIds: this.selectedIds,
      hiddenIds: this.hiddenIds,
      tool: this.tool,
      brushSize: this.brushSize,
      samNegative: this.samNegative,
      samBusy: this.samBusy,
      labelDraft: this.labelDraft,
      colours: labelColours(vocabulary, names),
      vocabulary,
      proposals: this.proposals,
      proposalId: this.proposalId,
      overlayInstances,
      propagations: this.propagations,
      canPropagate: !!role && EDIT_ROLES.has(role),
      propagationId: this.propagationId,
      propagation,
      propagateDirection: this.propagateDirection,
      propagateEnd: this.propagateEndIndex(),
      propagationRun: this.propagationRun,
      propagationError: this.propagationError,
      includeSilent: this.includeSilent,
      staleFrames: this.staleFrames,
      frameMarks: this.marksOf(propagation),
      overlayVisible: this.overlayVisible,
      overlayOpacity: this.overlayOpacity,
      save: this.saver.overall(),
      conflict: this.saver.conflict(),
      canUndo: (!!slot?.history.canUndo && canEdit) || !!this.bulkUndo,
      canRedo: (!!slot?.history.canRedo && canEdit) || !!this.bulkRedo,
      stashCount: slot?.stash.length ?? 0,
      busy: this.busy,
      notice: this.notice,
      helpOpen: this.helpOpen,
    };
  }
}

/** Frame indexes listed in an error's `extra` (e.g. `stale_frames` of a 409). */
function framesOf(raw: unknown): number[] {
  return Array.isArray(raw) ? raw.filter((x): x is number => Number.isInteger(x)) : [];
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
