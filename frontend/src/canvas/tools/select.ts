/** `select`: a click selects the topmost visible instance under the pointer (or clears the selection). */
import { maskAt } from "../../model/mask";
import type { ToolContext, ToolHandler, ToolPointer } from "./types";

export class SelectTool implements ToolHandler {
  readonly name = "select" as const;
  readonly cursor = "default";
  private down: ToolPointer | null = null;

  pointerDown(p: ToolPointer): void {
    if (p.button === 0) this.down = p;
  }

  pointerMove(): void {}

  pointerUp(p: ToolPointer, ctx: ToolContext): void {
    const down = this.down;
    this.down = null;
    if (!down || Math.hypot(p.sx - down.sx, p.sy - down.sy) > 4) return;
    const hit = [...ctx.instances()].reverse().find((i) => maskAt(i.mask, p.x, p.y));
    ctx.select(hit?.id ?? null);
  }

  cancel(): void {
    this.down = null;
  }

  drawOverlay(): void {}
}

export function createSelectTool(): SelectTool {
  return new SelectTool();
}
