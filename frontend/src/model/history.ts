/**
 * Undo/redo of immutable states (one `History` per frame). States are shared by reference, never
 * copied: a frame document whose unchanged masks are the same objects costs almost nothing to keep.
 */
export class History<T> {
  private past: T[] = [];
  private future: T[] = [];

  /** limit: how many undo steps are kept (the oldest are dropped first). */
  constructor(private readonly limit = 100) {}

  /** Record that the state is about to change from `before`; clears the redo stack. */
  record(before: T): void {
    this.past.push(before);
    if (this.past.length > this.limit) this.past.splice(0, this.past.length - this.limit);
    this.future = [];
  }

  /** The state to go back to from `current`, or null when there is nothing to undo. */
  undo(current: T): T | null {
    const previous = this.past.pop();
    if (previous === undefined) return null;
    this.future.push(current);
    return previous;
  }

  /** The state to go forward to from `current`, or null when there is nothing to redo. */
  redo(current: T): T | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push(current);
    return next;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  clear(): void {
    this.past = [];
    this.future = [];
  }
}
