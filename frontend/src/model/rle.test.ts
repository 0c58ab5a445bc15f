import { describe, expect, it } from "vitest";
import { maskFromArray, type Mask } from "./mask";
import { countsToString, decodeRle, encodeRle, maskToCounts, rleArea, stringToCounts } from "./rle";

describe("COCO RLE codec", () => {
  it("runs over pixels column-major, starting with a 0-run", () => {
    // 2×3 (H×W), row-major:
    // 1 0 1
    // 1 1 0
    const mask = maskFromArray(3, 2, [1, 0, 1, 1, 1, 0]);
    // column-major order: (0,0)=1 (1,0)=1 | (0,1)=0 (1,1)=1 | (0,2)=1 (1,2)=0
    expect(maskToCounts(mask)).toEqual([0, 2, 1, 2, 1]);
  });

  it("encodes the known pycocotools string for a small mask", () => {
    // pycocotools: encode(np.asfortranarray([[0,1],[1,1]], dtype=np.uint8)) -> counts b'13'
    expect(encodeRle(maskFromArray(2, 2, [0, 1, 1, 1]))).toEqual({ size: [2, 2], counts: "13" });
  });

  it("round-trips large counts and negative deltas", () => {
    const counts = [0, 5, 100000, 3, 7, 2_000_000, 1, 0, 31, 32, 33, 16, 15];
    expect(stringToCounts(countsToString(counts))).toEqual(counts);
  });

  it("round-trips a mask through encode and decode", () => {
    const values = Array.from({ length: 37 * 23 }, (_, i) => ((i * 7919) % 13 < 5 ? 1 : 0));
    const mask = maskFromArray(23, 37, values);
    const back = decodeRle(encodeRle(mask));
    expect(back.width).toBe(23);
    expect(back.height).toBe(37);
    expect(Array.from(back.data)).toEqual(values);
    expect(rleArea(encodeRle(mask))).toBe(values.filter(Boolean).length);
  });

  it("accepts uncompressed integer-list counts", () => {
    expect(Array.from(decodeRle({ size: [2, 2], counts: [1, 3] }).data)).toEqual([0, 1, 1, 1]);
  });

  it("rejects counts that overrun the mask and malformed strings", () => {
    expect(() => decodeRle({ size: [2, 2], counts: [1, 4] })).toThrow(/overrun/);
    expect(() => stringToCounts("1~")).toThrow(/invalid RLE character/);
    expect(() => stringToCounts("1P")).toThrow(/ends inside a count/);
  });
});

// --- parity with the server (pycocotools) -------------------------------------------------------

interface ParityCase {
  name: string;
  height: number;
  width: number;
  /** Row-major 0/1, as a list or base64 of uint8 bytes. */
  mask: number[] | string;
  rle: { size: number[]; counts: string };
}

const PARITY_COMMAND = ".venv/bin/python frontend/scripts/rle_parity.py var/rle-parity.json";
// Written by the Makefile (the command above, from the repository root) before vitest runs.
// (Not `new URL(literal, import.meta.url)`: Vite would rewrite that into an asset URL.)
const HERE = import.meta.url;
const PARITY_FILE = new URL(["..", "..", "..", "var", "rle-parity.json"].join("/"), HERE);

interface NodeFs {
  existsSync(path: URL): boolean;
  readFileSync(path: URL, encoding: "utf8"): string;
}

/** Node's fs, loaded at run time (the app's type setup has no Node types; vitest runs in Node). */
async function nodeFs(): Promise<NodeFs> {
  const name = "node:fs";
  return (await import(/* @vite-ignore */ name)) as NodeFs;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function caseMask(c: ParityCase): Mask {
  const values = typeof c.mask === "string" ? decodeBase64(c.mask) : c.mask;
  return maskFromArray(c.width, c.height, values);
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at row-major index ${i}`;
  return "lengths differ";
}

describe("COCO RLE parity with pycocotools (../var/rle-parity.json)", () => {
  it("has the parity file", async () => {
    if (!(await nodeFs()).existsSync(PARITY_FILE)) {
      throw new Error(
        `var/rle-parity.json is missing: generate it from the repository root with\n    ${PARITY_COMMAND}\n` +
          "(the Makefile does this before `npm test`).",
      );
    }
  });

  it("decodes every server RLE to the same mask and encodes every mask to the same counts", async () => {
    const fs = await nodeFs();
    if (!fs.existsSync(PARITY_FILE)) return; // reported by the test above
    const cases = JSON.parse(fs.readFileSync(PARITY_FILE, "utf8")) as ParityCase[];
    expect(cases.length).toBeGreaterThan(20);
    for (const c of cases) {
      const mask = caseMask(c);
      expect(c.rle.size, c.name).toEqual([c.height, c.width]);

      const decoded = decodeRle(c.rle);
      expect([decoded.height, decoded.width], c.name).toEqual([c.height, c.width]);
      const same = decoded.data.every((v, i) => v === mask.data[i]);
      expect(same, `${c.name}: decode(server RLE) != mask, ${firstDifference(decoded.data, mask.data)}`).toBe(true);

      expect(encodeRle(mask), c.name).toEqual({ size: [c.height, c.width], counts: c.rle.counts });
    }
  });
});
