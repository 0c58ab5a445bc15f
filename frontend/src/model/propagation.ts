/**
 * Mask propagation as the annotator reviews it: which frames a propagation covers, which of them need
 * a look (an object tracked but not sounding: "silent here", background in AVS ground truth; tracking
 * confidence dropped: "check"), which instances an accept takes, and how a job's progress reads.
 *
 * Pure functions over the API's propagation representation (structural types: only the fields used).
 * Frame *indexes* are the clip's 0-based frame numbers (`frame_index`), *positions* are places in the
 * annotator's ordered frame list; people are shown index + 1.
 */

export type PropagationDirection = "forward" | "backward";
export type PropagationStatus = "queued" | "running" | "succeeded" | "failed";

export interface TrackedInstance {
  track: number;
  label: string;
  /** The frame's audio window supports the instance's label (false: visible but silent). */
  sounding: boolean;
  low_confidence: boolean;
  /** Pixels of the mask (0: the tracker lost the object there). */
  area?: number;
}

export interface TrackedFrame<I extends TrackedInstance = TrackedInstance> {
  frame_index: number;
  /** No instance sounds in this frame's window. */
  silent: boolean;
  low_confidence: boolean;
  instances: I[];
}

export interface TrackedRange<I extends TrackedInstance = TrackedInstance> {
  id: number;
  source_frame_index: number;
  start_frame_index: number;
  end_frame_index: number;
  frames: TrackedFrame<I>[];
}

/** What the filmstrip shows on one frame for the selected propagation. */
export interface FrameMark {
  /** The tracker ran over this frame. */
  propagated: boolean;
  /** The frame the prompts came from. */
  source: boolean;
  /** Labels tracked here whose sound is absent from the frame's window. */
  silentLabels: string[];
  /** Every tracked instance is silent here. */
  allSilent: boolean;
  /** Tracking confidence dropped on this frame. */
  check: boolean;
}

const NO_MARK: FrameMark = { propagated: false, source: false, silentLabels: [], allSilent: false, check: false };

/** One mark per frame of `frameIndexes` (the annotator's frames, in order). */
export function frameMarks(frameIndexes: readonly number[], propagation: TrackedRange | null): FrameMark[] {
  if (!propagation) return frameIndexes.map(() => NO_MARK);
  const byIndex = new Map(propagation.frames.map((f) => [f.frame_index, f]));
  const lo = Math.min(propagation.start_frame_index, propagation.end_frame_index);
  const hi = Math.max(propagation.start_frame_index, propagation.end_frame_index);
  return frameIndexes.map((index) => {
    const frame = byIndex.get(index);
    if (!frame && (index < lo || index > hi)) return NO_MARK;
    const source = index === propagation.source_frame_index;
    const tracked = trackedInstances(frame);
    const silent = source ? [] : tracked.filter((i) => !i.sounding);
    return {
      propagated: !!frame && !source,
      source,
      silentLabels: [...new Set(silent.map((i) => i.label))],
      allSilent: !source && silent.length > 0 && silent.length === tracked.length,
      check: !source && !!frame && (frame.low_confidence || frame.instances.some((i) => i.low_confidence)),
    };
  });
}

/** The mark in words (a thumbnail's title; empty when there is nothing to say). */
export function markText(mark: FrameMark): string {
  const parts: string[] = [];
  if (mark.source) parts.push("propagation source");
  else if (mark.propagated) parts.push("propagated");
  if (mark.silentLabels.length) {
    parts.push(
      `silent here: ${mark.silentLabels.join(", ")} visible but not sounding (background in AVS; not accepted unless “include silent frames” is ticked)`,
    );
  }
  if (mark.check) parts.push("check: tracking confidence dropped");
  return parts.join("; ");
}

/** Instances of `frame` the tracker still found (a lost object has an empty mask). */
export function trackedInstances<I extends TrackedInstance>(frame: TrackedFrame<I> | undefined): I[] {
  return (frame?.instances ?? []).filter((i) => i.area !== 0);
}

/** The instances of `frame` an accept takes: found and sounding ones, silent ones too when `includeSilent`. */
export function acceptedInstances<I extends TrackedInstance>(frame: TrackedFrame<I> | undefined, includeSilent: boolean): I[] {
  return trackedInstances(frame).filter((i) => includeSilent || i.sounding);
}

/** The frame indexes an "accept range" covers: the tracked frames other than the source. */
export function rangeFrameIndexes(propagation: TrackedRange): number[] {
  return propagation.frames.map((f) => f.frame_index).filter((k) => k !== propagation.source_frame_index);
}

/**
 * The end frame a propagation runs to by default: the clip's last frame going forward, its first
 * going backward (`frameIndexes`: the clip's frame indexes, ascending).
 */
export function defaultEndIndex(direction: PropagationDirection, frameIndexes: readonly number[]): number {
  if (!frameIndexes.length) return 0;
  return direction === "forward" ? frameIndexes[frameIndexes.length - 1] : frameIndexes[0];
}

/** Why a propagation cannot start from `source` to `end` in `direction`, or null when it can. */
export function rangeProblem(
  direction: PropagationDirection,
  source: number,
  end: number,
  frameIndexes: readonly number[],
): string | null {
  if (!frameIndexes.includes(end)) {
    return `The end frame must be a frame of the clip (1 to ${frameIndexes.length}).`;
  }
  if (direction === "forward" && end <= source) {
    return source === frameIndexes[frameIndexes.length - 1]
      ? "This is the last frame: nothing follows to propagate to."
      : `Going forward, the end frame must come after frame ${source + 1}.`;
  }
  if (direction === "backward" && end >= source) {
    return source === frameIndexes[0]
      ? "This is the first frame: nothing precedes it to propagate to."
      : `Going backward, the end frame must come before frame ${source + 1}.`;
  }
  return null;
}

/** A job's progress as a fraction 0..1 (accepts 0..1 or a percentage). */
export function progressFraction(progress: number | null | undefined): number {
  if (typeof progress !== "number" || !Number.isFinite(progress) || progress <= 0) return 0;
  return progress > 1 ? Math.min(1, progress / 100) : progress;
}

export function isFinished(status: string): boolean {
  return status === "succeeded" || status === "failed";
}

/** "frames 3, 4 and 7" (indexes shown 1-based). */
export function framesText(indexes: readonly number[]): string {
  const shown = [...indexes].sort((a, b) => a - b).map((k) => String(k + 1));
  if (shown.length <= 1) return `frame ${shown[0] ?? "?"}`;
  return `frames ${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}`;
}
