import { describe, expect, it } from "vitest";
import { matchShortcut, SHORTCUTS } from "./keymap";

const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; shiftKey: boolean; altKey: boolean }> = {}) => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  altKey: false,
  ...mods,
});

describe("keyboard shortcuts", () => {
  it("maps tools, frames, undo/redo and help", () => {
    expect(matchShortcut(key("b"))).toBe("tool.brush");
    expect(matchShortcut(key("E", { shiftKey: true }))).toBe("tool.eraser");
    expect(matchShortcut(key("p"))).toBe("tool.polygon");
    expect(matchShortcut(key("s"))).toBe("tool.sam");
    expect(matchShortcut(key("d"))).toBe("frame.next");
    expect(matchShortcut(key("ArrowRight"))).toBe("frame.next");
    expect(matchShortcut(key("a"))).toBe("frame.previous");
    expect(matchShortcut(key("ArrowLeft"))).toBe("frame.previous");
    expect(matchShortcut(key("[", {}))).toBe("brush.smaller");
    expect(matchShortcut(key("]"))).toBe("brush.larger");
    expect(matchShortcut(key("z", { ctrlKey: true }))).toBe("undo");
    expect(matchShortcut(key("Z", { ctrlKey: true, shiftKey: true }))).toBe("redo");
    expect(matchShortcut(key("z", { metaKey: true, shiftKey: true }))).toBe("redo");
    expect(matchShortcut(key("y", { ctrlKey: true }))).toBe("redo");
    expect(matchShortcut(key("?", { shiftKey: true }))).toBe("help");
    expect(matchShortcut(key("t"))).toBe("propagate");
  });

  it("leaves browser shortcuts alone (letters with Ctrl/Meta/Alt) and documents every action once", () => {
    expect(matchShortcut(key("s", { ctrlKey: true }))).toBe("save");
    expect(matchShortcut(key("d", { ctrlKey: true }))).toBeNull();
    expect(matchShortcut(key("b", { altKey: true }))).toBeNull();
    expect(matchShortcut(key("x"))).toBeNull();
    const actions = SHORTCUTS.map((s) => s.action);
    expect(new Set(actions).size).toBe(actions.length);
    for (const s of SHORTCUTS) expect(s.description.length).toBeGreaterThan(3);
  });
});
