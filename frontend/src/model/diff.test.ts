import { describe, expect, it } from "vitest";
import { docDiff, docOverlap } from "./diff";
import { addInstance, emptyDoc } from "./frameDoc";
import { createMask, paintDisc } from "./mask";

describe("conflict diff", () => {
  it("compares their and our masks per label", () => {
    const a = createMask(10, 10);
    paintDisc(a, { x: 5, y: 5 }, 3, 1);
    const b = createMask(10, 10);
    paintDisc(b, { x: 6, y: 5 }, 3, 1);
    const theirs = addInstance(emptyDoc(10, 10), "dog", a).doc;
    const yours = addInstance(addInstance(emptyDoc(10, 10), "dog", b).doc, "cat", b).doc;
    const rows = docDiff(theirs, yours);
    expect(rows.map((r) => r.label)).toEqual(["dog", "cat"]);
    expect(rows[0].iou).toBeGreaterThan(0.5);
    expect(rows[0].iou).toBeLessThan(1);
    expect(rows[1]).toMatchObject({ theirsInstances: 0, yoursInstances: 1, theirsArea: 0, iou: 0 });
    const relabelled = addInstance(emptyDoc(10, 10), "their label", a).doc;
    expect(docOverlap(relabelled, theirs).iou).toBe(1); // same pixels, another label
    expect(docOverlap(emptyDoc(10, 10), emptyDoc(10, 10)).iou).toBe(1);
  });
});
