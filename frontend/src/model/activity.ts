/**
 * Time worked, for `time_spent_delta`: the time between two user interactions counts, but a gap
 * longer than `idleCapMs` (the person walked away) counts as `idleCapMs` only.
 */
export class ActivityClock {
  private last: number | null = null;

  constructor(
    private readonly idleCapMs = 30_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** An interaction happened: the seconds to credit since the previous one (0 for the first). */
  touch(): number {
    const t = this.now();
    const previous = this.last;
    this.last = t;
    if (previous === null) return 0;
    return Math.min(Math.max(0, t - previous), this.idleCapMs) / 1000;
  }
}
