/**
 * A frame's annotation as the annotator edits it: instances with a label and a mask at the frame's
 * resolution. Immutable: every edit returns a new document and keeps unchanged instances (and their
 * masks) by reference, which makes per-frame undo cheap (`model/history.ts`).
 *
 * Converts to and from the API's `[{mask: COCO RLE, label}]`.
 */
import type { components } from "../api/schema";
import { cloneMask, createMask, isEmpty, type Mask } from "./mask";
import { decodeRle, encodeRle } from "./rle";

export type ApiInstance = components["schemas"]["AnnotationInstance"];

export interface Instance {
  /** Local id (not stored by the server), stable while the page is open. */
  readonly id: string;
  readonly label: string;
  readonly mask: Mask;
  /** The propagation track the instance came from ("<propagation id>:<track>"), kept so a later accept replaces it. */
  readonly trackOf?: string;
}

export interface FrameDoc {
  readonly width: number;
  readonly height: number;
  readonly instances: readonly Instance[];
}

/** A mask edit: the new mask of `instanceId`, or of a new instance when `instanceId` is null. */
export interface MaskChange {
  instanceId: string | null;
  mask: Mask;
}

let nextId = 1;

/** A fresh local instance id. */
export function newInstanceId(): string {
  return `i${nextId++}`;
}

export function emptyDoc(width: number, height: number): FrameDoc {
  return { width, height, instances: [] };
}

/** Decode API instances of a frame of `width`×`height`. Throws if a mask is of another size. */
export function docFromApi(instances: readonly ApiInstance[], width: number, height: number): FrameDoc {
  return {
    width,
    height,
    instances: instances.map((instance, i) => {
      const mask = decodeRle(instance.mask);
      if (mask.width !== width || mask.height !== height) {
        throw new RangeError(
          `instance ${i} is ${mask.height}x${mask.width} (HxW) but the frame is ${height}x${width}`,
        );
      }
      const trackOf = (instance as { track_of?: unknown }).track_of;
      return typeof trackOf === "string" && trackOf
        ? { id: newInstanceId(), label: instance.label, mask, trackOf }
        : { id: newInstanceId(), label: instance.label, mask };
    }),
  };
}

/** Encode for PUT /api/frames/{id}/annotation/. Empty masks are kept (the user may fill them later). */
export function docToApi(doc: FrameDoc): ApiInstance[] {
  return doc.instances.map((instance) =>
    instance.trackOf
      ? { mask: encodeRle(instance.mask), label: instance.label, track_of: instance.trackOf }
      : { mask: encodeRle(instance.mask), label: instance.label },
  );
}

export function findInstance(doc: FrameDoc, id: string | null): Instance | null {
  return id === null ? null : (doc.instances.find((i) => i.id === id) ?? null);
}

/**
 * Apply mask changes. A change with `instanceId: null` appends an instance labelled `newLabel`
 * unless its mask is empty. Returns the new document and the ids of the created instances.
 */
export function applyChanges(
  doc: FrameDoc,
  changes: readonly MaskChange[],
  newLabel: string,
): { doc: FrameDoc; created: string[] } {
  const byId = new Map<string, Mask>();
  const added: Instance[] = [];
  for (const change of changes) {
    if (change.mask.width !== doc.width || change.mask.height !== doc.height) {
      throw new RangeError(`a ${change.mask.width}x${change.mask.height} mask on a ${doc.width}x${doc.height} frame (WxH)`);
    }
    if (change.instanceId === null) {
      if (!isEmpty(change.mask)) added.push({ id: newInstanceId(), label: newLabel, mask: change.mask });
    } else {
      byId.set(change.instanceId, change.mask);
    }
  }
  const instances = doc.instances.map((i) => (byId.has(i.id) ? { ...i, mask: byId.get(i.id)! } : i));
  return { doc: { ...doc, instances: [...instances, ...added] }, created: added.map((i) => i.id) };
}

export function addInstance(doc: FrameDoc, label: string, mask?: Mask): { doc: FrameDoc; id: string } {
  const id = newInstanceId();
  const instance: Instance = { id, label, mask: mask ?? createMask(doc.width, doc.height) };
  return { doc: { ...doc, instances: [...doc.instances, instance] }, id };
}

export function removeInstance(doc: FrameDoc, id: string): FrameDoc {
  return { ...doc, instances: doc.instances.filter((i) => i.id !== id) };
}

export function relabelInstance(doc: FrameDoc, id: string, label: string): FrameDoc {
  return { ...doc, instances: doc.instances.map((i) => (i.id === id ? { ...i, label } : i)) };
}

/**
 * Copy `ids` of `source` onto `target` (the next frame): each becomes a new instance of `target`
 * with the same label and a copy of the mask. Frames of another size cannot receive them.
 */
export function copyInstances(source: FrameDoc, ids: readonly string[], target: FrameDoc): { doc: FrameDoc; created: string[] } {
  if (source.width !== target.width || source.height !== target.height) {
    throw new RangeError(
      `cannot copy masks between frames of different sizes (${source.width}x${source.height} → ${target.width}x${target.height})`,
    );
  }
  const wanted = new Set(ids);
  const copies = source.instances
    .filter((i) => wanted.has(i.id))
    .map((i) => ({ id: newInstanceId(), label: i.label, mask: cloneMask(i.mask) }));
  return { doc: { ...target, instances: [...target.instances, ...copies] }, created: copies.map((i) => i.id) };
}

/**
 * Put tracked instances (a propagation's, on this frame) into `doc`: each replaces the instance that
 * came from the same track, keeping its id, or is appended. Masks must be of the frame's size.
 */
export function mergeTracked(
  doc: FrameDoc,
  items: readonly { trackOf: string; label: string; mask: Mask }[],
): { doc: FrameDoc; created: string[]; replaced: string[] } {
  const instances = [...doc.instances];
  const created: string[] = [];
  const replaced: string[] = [];
  for (const item of items) {
    if (item.mask.width !== doc.width || item.mask.height !== doc.height) {
      throw new RangeError(`a ${item.mask.width}x${item.mask.height} mask on a ${doc.width}x${doc.height} frame (WxH)`);
    }
    const k = instances.findIndex((i) => i.trackOf === item.trackOf);
    if (k >= 0) {
      instances[k] = { ...instances[k], label: item.label, mask: item.mask };
      replaced.push(instances[k].id);
    } else {
      const id = newInstanceId();
      instances.push({ id, label: item.label, mask: item.mask, trackOf: item.trackOf });
      created.push(id);
    }
  }
  return { doc: { ...doc, instances }, created, replaced };
}
