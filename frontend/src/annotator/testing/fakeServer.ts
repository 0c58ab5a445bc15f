/**
 * An in-memory stand-in for the annotator's server calls (`AnnotatorDeps`), with the API's versioning
 * rules, for tests of the session: a 3-frame 16×12 clip at 1 fps, one proposal, and mask propagation
 * whose result a test sets (`propagationResult`).
 */
import { createMask, paintDisc, type Mask } from "../../model/mask";
import { encodeRle } from "../../model/rle";
import type { SaveOutcome, SaveRequest } from "../../model/save";
import { FakeScheduler, settle } from "../../model/testing/fakeScheduler";
import {
  AnnotatorApiError,
  type Annotation,
  type ClipDetail,
  type ProjectDetail,
  type Propagation,
  type PropagationAcceptBody,
  type PropagationStart,
  type Proposal,
} from "../api";
import { AnnotatorSession, type AnnotatorDeps } from "../session";

export const W = 16;
export const H = 12;

export function disc(x: number, y: number, r: number): Mask {
  const m = createMask(W, H);
  paintDisc(m, { x, y }, r, 1);
  return m;
}

/** An in-memory server with the API's versioning rules. */
export class FakeServer {
  annotations = new Map<number, Annotation>();
  puts: SaveRequest[] = [];
  reviews: unknown[] = [];
  role = "annotator";
  private nextId = 1;

  /** Without a tracker, starting a propagation answers 503 like the server does. */
  tracker = true;
  propagationStarts: PropagationStart[] = [];
  propagationAccepts: PropagationAcceptBody[] = [];
  propagations = new Map<number, Propagation>();
  /** How many polls a started propagation stays running before it finishes. */
  runningPolls = 1;
  /** Frames where the tracked object is not sounding, or where tracking confidence dropped. */
  silentFrames = new Set<number>();
  lowConfidenceFrames = new Set<number>();
  /** Make the job fail with this error. */
  failWith: string | null = null;
  private polls = new Map<number, number>();

  clip: ClipDetail = {
    id: 5,
    project_id: 2,
    name: "dog.mp4",
    num_frames: 3,
    fps: 1,
    frames: [0, 1, 2].map((k) => ({ id: 100 + k, index: k, timestamp: k, width: W, height: H, image_url: `/f/${k}.jpg` })),
    audio: null,
    source_url: null,
    split: "train",
    created_at: "",
    updated_at: "",
  };

  project(): ProjectDetail {
    return {
      id: 2,
      name: "p",
      role: this.role,
      member_count: 1,
      clip_counts: { total: 1, uploaded: 0, processing: 0, ready: 1, failed: 0 },
      members: [],
      labels: [{ id: 1, name: "dog", color: "#e6194b" }],
      proposer: { kind: "baseline", name: "synchrony-baseline", reason: null },
      created_at: "",
      updated_at: "",
    };
  }

  store(frameId: number, instances: Annotation["instances"], extra: Partial<Annotation> = {}): Annotation {
    const previous = this.annotations.get(frameId);
    const a: Annotation = {
      id: previous?.id ?? this.nextId++,
      clip: 5,
      frame: frameId,
      frame_index: frameId - 100,
      instances,
      version: (previous?.version ?? 0) + 1,
      status: previous?.status ?? "draft",
      author: { id: 9, username: "someone" },
      latest_review: null,
      created_at: "",
      updated_at: "",
      ...extra,
    };
    this.annotations.set(frameId, a);
    return a;
  }

  proposal: Proposal = {
    id: 77,
    clip: 5,
    model_version: { id: 1, kind: "openavs", name: "openavs", config_hash: "x" },
    frames: [{ frame_index: 0, instances: [{ label: "dog", score: 0.9, mask: encodeRle(disc(4, 4, 2)), provenance: { noun: "dog" } }], probability_map: null, provenance: {} }],
    evidence: null,
    created_at: "",
  };

  deps(): AnnotatorDeps {
    return {
      fetchClip: async () => this.clip,
      fetchProject: async () => this.project(),
      fetchAnnotations: async () => [...this.annotations.values()],
      fetchProposals: async () => [this.proposal],
      fetchAnnotation: async (frameId) => this.annotations.get(frameId) ?? null,
      saveTransport: {
        save: async (r): Promise<SaveOutcome> => {
          this.puts.push(r);
          const current = this.annotations.get(r.frameId) ?? null;
          if ((current?.version ?? 0) !== (r.version ?? 0)) {
            return { kind: "conflict", message: "Someone else saved first.", currentVersion: current?.version ?? null, current };
          }
          return { kind: "ok", annotation: this.store(r.frameId, r.instances, r.status ? { status: r.status } : {}) };
        },
      },
      postReview: async (id, body) => {
        this.reviews.push({ id, ...body });
        for (const [frame, a] of this.annotations) {
          if (a.id === id) this.annotations.set(frame, { ...a, status: body.verdict === "accept" ? "accepted" : "rejected" });
        }
        return { id: 1, annotation: id, annotation_version: body.annotation_version, verdict: body.verdict, comment: body.comment, reviewer: null, created_at: "" };
      },
      samPredict: async () => ({ mask: encodeRle(disc(10, 6, 3)), score: 0.95, cached: false }),
      acceptProposalOnFrame: async (frameId, body) => {
        const current = this.annotations.get(frameId);
        if ((current?.version ?? 0) !== (body.version ?? 0)) throw new AnnotatorApiError("stale", 409, { current_version: current?.version, current });
        const added = this.proposal.frames[0].instances.map((i) => ({ label: i.label, mask: i.mask }));
        return this.store(frameId, [...(current?.instances ?? []), ...added]);
      },
      acceptProposalOnClip: async () => ({ created: 0, skipped: 0, skipped_frames: [] }),
      startPropagation: async (clipId, body) => this.startPropagation(clipId, body),
      fetchPropagation: async (id) => this.pollPropagation(id),
      fetchPropagations: async () => [...this.propagations.values()].reverse(),
      acceptPropagation: async (id, body) => this.acceptPropagation(id, body),
    };
  }

  private startPropagation(clipId: number, body: PropagationStart): Propagation {
    if (!this.tracker) {
      throw new AnnotatorApiError(
        "Propagation is not available: the model configuration names no tracker (models.tracker). Set AVS_MODEL_CONFIG to a configuration with one.",
        503,
      );
    }
    this.propagationStarts.push(body);
    const last = this.clip.frames.length - 1;
    const end = body.end_frame_index ?? (body.direction === "forward" ? last : 0);
    const id = 300 + this.propagations.size;
    const p: Propagation = {
      id,
      kind: "propagation",
      clip: clipId,
      source_frame_index: body.frame_index,
      direction: body.direction,
      start_frame_index: Math.min(body.frame_index, end),
      end_frame_index: Math.max(body.frame_index, end),
      tracker: "tiny-sam2",
      status: "queued",
      progress: 0,
      message: "",
      error: "",
      job: {
        id: 900 + id,
        project: 2,
        kind: "propagate",
        status: "queued",
        progress: 0,
        message: "",
        error: "",
        target: null,
        waiting_reason: null,
        created_by: null,
        created_at: "",
        updated_at: "",
      },
      instances: body.instances.map((instance, track) => ({ track, label: instance.label, mask: instance.mask })),
      created_by: null,
      created_at: "",
      frames: [],
    };
    this.propagations.set(id, p);
    this.polls.set(id, 0);
    return p;
  }

  private pollPropagation(id: number): Propagation {
    const p = this.propagations.get(id);
    if (!p) throw new AnnotatorApiError("Not found.", 404);
    const n = (this.polls.get(id) ?? 0) + 1;
    this.polls.set(id, n);
    if (n <= this.runningPolls) {
      const running = { ...p, status: "running" as const, progress: n / (this.runningPolls + 1), message: `frame ${n}` };
      this.propagations.set(id, running);
      return running;
    }
    if (this.failWith) {
      const failed = { ...p, status: "failed" as const, error: this.failWith };
      this.propagations.set(id, failed);
      return failed;
    }
    const start = this.propagationStarts[id - 300];
    const step = p.direction === "forward" ? 1 : -1;
    const last = p.direction === "forward" ? p.end_frame_index : p.start_frame_index;
    const frames: Propagation["frames"] = []; // in tracking order, the source first
    for (let k = p.source_frame_index; step > 0 ? k <= last : k >= last; k += step) {
      const silent = this.silentFrames.has(k);
      const low = this.lowConfidenceFrames.has(k);
      frames.push({
        frame_index: k,
        silent,
        low_confidence: low,
        timestamp: k,
        provenance: { rms: 0.1 },
        instances: start.instances.map((instance, track) => ({
          track,
          mask: instance.mask,
          label: instance.label,
          area: 12,
          confidence: low ? 0.2 : 0.9,
          score: low ? 0.2 : 0.9,
          sounding: !silent,
          low_confidence: low,
          provenance: { rms: 0.1, audio_tags: [["Bark", 0.8]], supported_by: silent ? [] : ["Bark"], reason: silent ? "no dog sound" : "" },
        })),
      });
    }
    const done = { ...p, status: "succeeded" as const, progress: 1, frames };
    this.propagations.set(id, done);
    return done;
  }

  private acceptPropagation(id: number, body: PropagationAcceptBody) {
    this.propagationAccepts.push(body);
    const p = this.propagations.get(id)!;
    const frames = p.frames.filter((f) => f.frame_index !== p.source_frame_index);
    const stale = frames
      .map((f) => f.frame_index)
      .filter((k) => (this.annotations.get(100 + k)?.version ?? null) !== (body.base_versions?.[String(k)] ?? null));
    if (stale.length) throw new AnnotatorApiError("Some frames changed since.", 409, { stale_frames: stale });
    const locked = frames.map((f) => f.frame_index).filter((k) => this.annotations.get(100 + k)?.status === "accepted");
    if (locked.length && this.role === "annotator") {
      throw new AnnotatorApiError(`Nothing was accepted: frames ${locked.join(", ")} were accepted by a reviewer.`, 409, { locked_frames: locked });
    }
    const accepted = [];
    const skipped: { frame_index: number; reason: "silent" | "no instances" }[] = [];
    for (const f of frames) {
      const taken = f.instances.filter((i) => body.include_silent || i.sounding);
      if (!taken.length) {
        skipped.push({ frame_index: f.frame_index, reason: f.instances.length ? "silent" : "no instances" });
        continue;
      }
      const current = this.annotations.get(100 + f.frame_index);
      const a = this.store(100 + f.frame_index, [...(current?.instances ?? []), ...taken.map((i) => ({ mask: i.mask, label: i.label }))]);
      accepted.push({ frame_index: f.frame_index, annotation: a });
    }
    return { accepted, skipped };
  }
}


export async function open(server = new FakeServer(), initialFrame = 0) {
  const scheduler = new FakeScheduler();
  const session = new AnnotatorSession({ clipId: 5, initialFrame, deps: server.deps(), scheduler, now: () => scheduler.now() });
  await session.load();
  await settle();
  return { session, server, scheduler, snap: () => session.getSnapshot() };
}
