/**
 * What differs between the server's copy of a frame and ours, per label, for the conflict dialog.
 */
import type { FrameDoc } from "./frameDoc";
import { createMask, intersectionArea, maskArea, union, type Mask } from "./mask";

export interface LabelDiff {
  label: string;
  theirsInstances: number;
  yoursInstances: number;
  theirsArea: number;
  yoursArea: number;
  /** Intersection over union of the two label masks; 1 when both are empty. */
  iou: number;
}

function labelMasks(doc: FrameDoc): Map<string, { mask: Mask; count: number }> {
  const out = new Map<string, { mask: Mask; count: number }>();
  for (const i of doc.instances) {
    const key = i.label.toLowerCase();
    const entry = out.get(key);
    if (entry) out.set(key, { mask: union(entry.mask, i.mask), count: entry.count + 1 });
    else out.set(key, { mask: i.mask, count: 1 });
  }
  return out;
}

export function docDiff(theirs: FrameDoc, yours: FrameDoc): LabelDiff[] {
  const a = labelMasks(theirs);
  const b = labelMasks(yours);
  const names = new Map<string, string>();
  for (const i of [...theirs.instances, ...yours.instances]) if (!names.has(i.label.toLowerCase())) names.set(i.label.toLowerCase(), i.label);
  const blank = createMask(yours.width, yours.height);
  return [...names].map(([key, label]) => {
    const t = a.get(key);
    const y = b.get(key);
    const tm = t?.mask ?? blank;
    const ym = y?.mask ?? blank;
    const ta = t ? maskArea(tm) : 0;
    const ya = y ? maskArea(ym) : 0;
    const inter = t && y && tm.width === ym.width && tm.height === ym.height ? intersectionArea(tm, ym) : 0;
    const uni = ta + ya - inter;
    return {
      label,
      theirsInstances: t?.count ?? 0,
      yoursInstances: y?.count ?? 0,
      theirsArea: ta,
      yoursArea: ya,
      iou: uni === 0 ? 1 : inter / uni,
    };
  });
}

/** Foreground (all labels together) of both sides: areas and IoU, e.g. when only a label changed. */
export function docOverlap(theirs: FrameDoc, yours: FrameDoc): { theirsArea: number; yoursArea: number; iou: number } {
  const all = (doc: FrameDoc) => doc.instances.reduce((m, i) => union(m, i.mask), createMask(doc.width, doc.height));
  const t = all(theirs);
  const y = all(yours);
  const ta = maskArea(t);
  const ya = maskArea(y);
  const inter = t.width === y.width && t.height === y.height ? intersectionArea(t, y) : 0;
  const uni = ta + ya - inter;
  return { theirsArea: ta, yoursArea: ya, iou: uni === 0 ? 1 : inter / uni };
}
