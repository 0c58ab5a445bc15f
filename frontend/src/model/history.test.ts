import { describe, expect, it } from "vitest";
import { History } from "./history";

describe("undo/redo stack", () => {
  it("undoes and redoes in order, and a new edit clears the redo stack", () => {
    const h = new History<string>();
    let state = "a";
    const edit = (next: string) => {
      h.record(state);
      state = next;
    };
    edit("b");
    edit("c");
    expect(h.canUndo).toBe(true);
    state = h.undo(state)!;
    expect(state).toBe("b");
    state = h.undo(state)!;
    expect(state).toBe("a");
    expect(h.undo(state)).toBeNull();
    state = h.redo(state)!;
    expect(state).toBe("b");
    edit("d");
    expect(h.canRedo).toBe(false);
    expect(h.redo(state)).toBeNull();
    state = h.undo(state)!;
    expect(state).toBe("b");
  });

  it("keeps at most `limit` steps, dropping the oldest", () => {
    const h = new History<number>(3);
    for (let i = 0; i < 5; i++) h.record(i);
    expect(h.undo(5)).toBe(4);
    expect(h.undo(4)).toBe(3);
    expect(h.undo(3)).toBe(2);
    expect(h.undo(2)).toBeNull();
  });
});
