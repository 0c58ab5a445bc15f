import { describe, expect, it } from "vitest";
import { addInstance, applyChanges, copyInstances, docFromApi, docToApi, emptyDoc, mergeTracked, relabelInstance, removeInstance } from "./frameDoc";
import { createMask, maskArea, paintDisc } from "./mask";

function disc(w: number, h: number, x: number, y: number, r: number) {
  const m = createMask(w, h);
  paintDisc(m, { x, y }, r, 1);
  return m;
}

describe("frame documents", () => {
  it("applies a new-instance change with the current label and skips empty ones", () => {
    const doc = emptyDoc(40, 30);
    const { doc: next, created } = applyChanges(
      doc,
      [
        { instanceId: null, mask: disc(40, 30, 10, 10, 4) },
        { instanceId: null, mask: createMask(40, 30) },
      ],
      "dog",
    );
    expect(created).toHaveLength(1);
    expect(next.instances.map((i) => i.label)).toEqual(["dog"]);
    expect(doc.instances).toHaveLength(0); // immutable
  });

  it("replaces only the changed instance's mask and keeps the others by reference", () => {
    let doc = emptyDoc(20, 20);
    const a = addInstance(doc, "a", disc(20, 20, 5, 5, 2));
    doc = a.doc;
    const b = addInstance(doc, "b", disc(20, 20, 15, 15, 2));
    doc = b.doc;
    const bigger = disc(20, 20, 5, 5, 4);
    const { doc: next } = applyChanges(doc, [{ instanceId: a.id, mask: bigger }], "x");
    expect(next.instances[0].mask).toBe(bigger);
    expect(next.instances[1]).toBe(doc.instances[1]);
    expect(relabelInstance(next, b.id, "cat").instances[1].label).toBe("cat");
    expect(removeInstance(next, a.id).instances.map((i) => i.label)).toEqual(["b"]);
    expect(() => applyChanges(doc, [{ instanceId: a.id, mask: createMask(10, 10) }], "x")).toThrow();
  });

  it("round-trips through the API's COCO RLE instances", () => {
    const doc = addInstance(emptyDoc(33, 17), "guitar", disc(33, 17, 12, 8, 5)).doc;
    const api = docToApi(doc);
    expect(api[0].mask.size).toEqual([17, 33]);
    const back = docFromApi(api, 33, 17);
    expect(back.instances[0].label).toBe("guitar");
    expect(back.instances[0].mask.data).toEqual(doc.instances[0].mask.data);
    expect(() => docFromApi(api, 17, 33)).toThrow(/frame is 33x17/);
  });
});

describe("copy to the next frame", () => {
  it("copies the selected masks as new instances with their labels, leaving the source alone", () => {
    let source = emptyDoc(30, 20);
    const a = addInstance(source, "dog", disc(30, 20, 8, 8, 3));
    source = a.doc;
    const b = addInstance(source, "car", disc(30, 20, 20, 10, 3));
    source = b.doc;
    const target = addInstance(emptyDoc(30, 20), "person", disc(30, 20, 3, 3, 2)).doc;

    const { doc, created } = copyInstances(source, [b.id], target);
    expect(doc.instances.map((i) => i.label)).toEqual(["person", "car"]);
    expect(created).toHaveLength(1);
    expect(created[0]).not.toBe(b.id);
    const copy = doc.instances[1];
    expect(copy.mask).not.toBe(source.instances[1].mask); // a copy, edited independently
    expect(copy.mask.data).toEqual(source.instances[1].mask.data);
    copy.mask.data.fill(0);
    expect(maskArea(source.instances[1].mask)).toBeGreaterThan(0);
  });

  it("refuses frames of another size", () => {
    const source = addInstance(emptyDoc(10, 10), "x", disc(10, 10, 5, 5, 2));
    expect(() => copyInstances(source.doc, [source.id], emptyDoc(12, 10))).toThrow(/different sizes/);
  });
});

describe("tracked instances (mask propagation)", () => {
  it("replaces the instance of the same track and appends new tracks", () => {
    const base = addInstance(emptyDoc(10, 8), "cat", disc(10, 8, 2, 2, 1)).doc;
    const first = mergeTracked(base, [{ trackOf: "7:0", label: "dog", mask: disc(10, 8, 5, 4, 2) }]);
    expect(first.doc.instances.map((i) => [i.label, i.trackOf])).toEqual([
      ["cat", undefined],
      ["dog", "7:0"],
    ]);
    expect(first.created).toHaveLength(1);
    const again = mergeTracked(first.doc, [
      { trackOf: "7:0", label: "dog", mask: disc(10, 8, 6, 4, 1) },
      { trackOf: "7:1", label: "bird", mask: disc(10, 8, 1, 6, 1) },
    ]);
    expect(again.doc.instances.map((i) => i.label)).toEqual(["cat", "dog", "bird"]);
    expect(again.replaced).toEqual(first.created); // the same instance, a new mask
    expect(maskArea(again.doc.instances[1].mask)).toBe(maskArea(disc(10, 8, 6, 4, 1)));
    expect(() => mergeTracked(base, [{ trackOf: "7:0", label: "dog", mask: createMask(4, 4) }])).toThrow(RangeError);
  });
});
